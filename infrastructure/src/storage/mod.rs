//! Avatar storage: images normalised with the `image` crate, kept in a local directory.

use anyhow::Context;
use application::PortError;
use application::ports::{AvatarError, AvatarStorage};
use async_trait::async_trait;
use domain::UserId;
use image::imageops::FilterType;
use image::{ImageFormat, ImageReader, Limits};
use shaku::Component;
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// Stored avatars are square PNGs of this side.
pub const SIDE: u32 = 256;
/// Images larger than this in either dimension are refused before decoding.
const MAX_DIMENSION: u32 = 8192;
/// Decoding may not allocate more than this.
const MAX_DECODE_BYTES: u64 = 128 * 1024 * 1024;

/// Avatars under `MEDIA_DIR`, named `<user>-<uuid>.png`; a new upload gets a
/// new name, so a URL's content never changes and may be cached for ever.
#[derive(Component)]
#[shaku(interface = crate::di::AvatarStoragePort)]
pub struct LocalAvatarStorage {
    dir: PathBuf,
}

impl LocalAvatarStorage {
    /// # Errors
    /// When the directory cannot be created.
    pub fn new(dir: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating MEDIA_DIR {}", dir.display()))?;
        Ok(Self { dir })
    }

    /// Where a key's file lives, if the key is one this storage could have made.
    #[must_use]
    pub fn path_of(dir: &Path, key: &str) -> Option<PathBuf> {
        let valid = key.len() <= 100
            && key.ends_with(".png")
            && key.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-' || b == b'.' || b.is_ascii_lowercase());
        (valid && !key.contains("..")).then(|| dir.join(key))
    }
}

/// Sniffs, decodes within limits, crops to a square and re-encodes as PNG.
fn normalise(bytes: &[u8]) -> Result<Vec<u8>, AvatarError> {
    let format =
        image::guess_format(bytes).map_err(|_| AvatarError::Unsupported("not a PNG, JPEG, WebP or GIF image"))?;
    if !matches!(format, ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Gif) {
        return Err(AvatarError::Unsupported("not a PNG, JPEG, WebP or GIF image"));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    let image = reader.decode().map_err(|_| AvatarError::Unsupported("the image cannot be decoded"))?;
    let square = image.resize_to_fill(SIDE, SIDE, FilterType::Lanczos3);
    let mut png = Vec::new();
    square.write_to(&mut Cursor::new(&mut png), ImageFormat::Png).context("encoding the avatar")?;
    Ok(png)
}

#[async_trait]
impl AvatarStorage for LocalAvatarStorage {
    async fn store(&self, owner: UserId, bytes: Vec<u8>) -> Result<String, AvatarError> {
        let key = format!("{owner}-{}.png", uuid::Uuid::now_v7());
        let path = self.dir.join(&key);
        tokio::task::spawn_blocking(move || -> Result<(), AvatarError> {
            let png = normalise(&bytes)?;
            // Write then rename: a reader never sees half a file.
            let partial = path.with_extension("partial");
            std::fs::write(&partial, png).context("writing the avatar")?;
            std::fs::rename(&partial, &path).context("publishing the avatar")?;
            Ok(())
        })
        .await
        .context("avatar task")??;
        Ok(key)
    }

    async fn delete(&self, key: &str) -> Result<(), PortError> {
        let Some(path) = Self::path_of(&self.dir, key) else { return Ok(()) };
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(PortError::Unknown(anyhow::Error::new(e).context("removing an avatar"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(width, height, image::Rgb([200, 10, 10]));
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png).unwrap();
        bytes
    }

    #[test]
    fn an_image_becomes_a_256_pixel_square_png() {
        let out = normalise(&png(640, 480)).unwrap();
        let decoded = image::load_from_memory(&out).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (SIDE, SIDE));
        assert_eq!(image::guess_format(&out).unwrap(), ImageFormat::Png);
    }

    #[test]
    fn text_and_truncated_images_are_unsupported() {
        assert!(matches!(normalise(b"hello, I am a .png"), Err(AvatarError::Unsupported(_))));
        let mut broken = png(10, 10);
        broken.truncate(30);
        assert!(matches!(normalise(&broken), Err(AvatarError::Unsupported(_))));
    }

    #[test]
    fn only_keys_this_storage_makes_map_to_paths() {
        let dir = Path::new("/media");
        assert!(LocalAvatarStorage::path_of(dir, "0193-abc.png").is_some());
        assert!(LocalAvatarStorage::path_of(dir, "../etc/passwd").is_none());
        assert!(LocalAvatarStorage::path_of(dir, "a/b.png").is_none());
        assert!(LocalAvatarStorage::path_of(dir, "x.jpg").is_none());
    }
}

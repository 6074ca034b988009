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
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Stored avatars are square PNGs of this side.
pub const SIDE: u32 = 256;
/// Images larger than this in either dimension are refused before decoding.
const MAX_DIMENSION: u32 = 8192;
/// Decoding may not allocate more than this.
const MAX_DECODE_BYTES: u64 = 128 * 1024 * 1024;

/// How much decoding work one process accepts at a time.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Images whose header announces more pixels are refused unread
    /// (`AVATAR_MAX_PIXELS`): a few hundred KiB of PNG can announce gigabytes.
    pub max_pixels: u64,
    /// Uploads decoded at once (`AVATAR_DECODERS`); the next one is refused with `Busy`.
    pub decoders: usize,
}

/// Avatars under `MEDIA_DIR`, named `<user>-<uuid>.png`; a new upload gets a
/// new name, so a URL's content never changes and may be cached for ever.
#[derive(Component)]
#[shaku(interface = crate::di::AvatarStoragePort)]
pub struct LocalAvatarStorage {
    dir: PathBuf,
    max_pixels: u64,
    /// One permit per decoding slot; never waited on.
    slots: Arc<Semaphore>,
}

impl LocalAvatarStorage {
    /// # Errors
    /// When the directory cannot be created.
    pub fn new(dir: PathBuf, limits: DecodeLimits) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating MEDIA_DIR {}", dir.display()))?;
        Ok(Self { dir, max_pixels: limits.max_pixels, slots: Arc::new(Semaphore::new(limits.decoders)) })
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
fn normalise(bytes: &[u8], max_pixels: u64) -> Result<Vec<u8>, AvatarError> {
    let format =
        image::guess_format(bytes).map_err(|_| AvatarError::Unsupported("not a PNG, JPEG, WebP or GIF image"))?;
    if !matches!(format, ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Gif) {
        return Err(AvatarError::Unsupported("not a PNG, JPEG, WebP or GIF image"));
    }
    // The header alone tells the size: refuse a decompression bomb before
    // spending any memory or time on its pixels.
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|_| AvatarError::Unsupported("the image cannot be decoded"))?;
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(AvatarError::TooManyPixels(format!(
            "{width}x{height} is more than {max_pixels} pixels; upload a smaller image"
        )));
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
        let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
            metrics::counter!("avatar_decodes_refused_total", "reason" => "busy").increment(1);
            return Err(AvatarError::Busy);
        };
        let key = format!("{owner}-{}.png", uuid::Uuid::now_v7());
        let path = self.dir.join(&key);
        let max_pixels = self.max_pixels;
        metrics::gauge!("avatar_decodes_in_flight").increment(1.0);
        let stored = tokio::task::spawn_blocking(move || -> Result<(), AvatarError> {
            let _slot = slot; // held until the work is done, even if the request is gone
            let png = normalise(&bytes, max_pixels).inspect_err(|e| {
                if matches!(e, AvatarError::TooManyPixels(_)) {
                    metrics::counter!("avatar_decodes_refused_total", "reason" => "pixels").increment(1);
                }
            })?;
            // Write then rename: a reader never sees half a file.
            let partial = path.with_extension("partial");
            std::fs::write(&partial, png).context("writing the avatar")?;
            std::fs::rename(&partial, &path).context("publishing the avatar")?;
            Ok(())
        })
        .await;
        metrics::gauge!("avatar_decodes_in_flight").decrement(1.0);
        stored.context("avatar task")??;
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

    const LIMITS: DecodeLimits = DecodeLimits { max_pixels: 25_000_000, decoders: 2 };

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(width, height, image::Rgb([200, 10, 10]));
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png).unwrap();
        bytes
    }

    #[test]
    fn an_image_becomes_a_256_pixel_square_png() {
        let out = normalise(&png(640, 480), LIMITS.max_pixels).unwrap();
        let decoded = image::load_from_memory(&out).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (SIDE, SIDE));
        assert_eq!(image::guess_format(&out).unwrap(), ImageFormat::Png);
    }

    #[test]
    fn text_and_truncated_images_are_unsupported() {
        assert!(matches!(normalise(b"hello, I am a .png", LIMITS.max_pixels), Err(AvatarError::Unsupported(_))));
        let mut broken = png(10, 10);
        broken.truncate(30);
        assert!(matches!(normalise(&broken, LIMITS.max_pixels), Err(AvatarError::Unsupported(_))));
    }

    #[test]
    fn an_image_over_the_pixel_limit_is_refused_from_its_header() {
        assert!(matches!(normalise(&png(101, 100), 10_000), Err(AvatarError::TooManyPixels(_))));
        assert!(normalise(&png(100, 100), 10_000).is_ok());
    }

    #[tokio::test]
    async fn an_upload_while_every_decoder_is_busy_is_refused_at_once() {
        let dir = std::env::temp_dir().join(format!("avatars-{}", uuid::Uuid::now_v7().simple()));
        let storage = LocalAvatarStorage::new(dir.clone(), DecodeLimits { decoders: 1, ..LIMITS }).unwrap();
        let held = Arc::clone(&storage.slots).try_acquire_owned().unwrap();
        let owner = UserId::generate();
        assert!(matches!(storage.store(owner, png(10, 10)).await, Err(AvatarError::Busy)));
        drop(held);
        assert!(storage.store(owner, png(10, 10)).await.is_ok());
        std::fs::remove_dir_all(dir).unwrap();
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

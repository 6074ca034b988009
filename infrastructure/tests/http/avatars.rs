//! `PUT /api/v1/users/me/avatar` and `GET /media/...`.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use std::io::Cursor;

use crate::helpers::*;

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([20, 120, 220]));
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

async fn upload(app: &TestApp, who: &Session, name: &str, bytes: Vec<u8>) -> reqwest::Response {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()));
    app.client.put(app.url("/api/v1/users/me/avatar")).bearer_auth(&who.access).multipart(form).send().await.unwrap()
}

fn stored_files(app: &TestApp) -> Vec<String> {
    std::fs::read_dir(media_dir(&app.database))
        .map(|dir| dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_uploaded_avatar_is_served_back_as_a_256_pixel_png_with_caching() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = upload(&app, &alice, "me.jpg", png(800, 600)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let user: Value = response.json().await.unwrap();
    let url = user["avatar_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("/media/") && url.ends_with(".png"), "{url}");

    let image = app.get(&url).send().await.unwrap();
    assert_eq!(image.status(), StatusCode::OK);
    assert_eq!(image.headers().get("content-type").unwrap(), "image/png");
    assert!(image.headers().get("cache-control").unwrap().to_str().unwrap().contains("max-age="));
    let decoded = image::load_from_memory(&image.bytes().await.unwrap()).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (256, 256));

    let profile = app.get_json(&alice, &format!("/api/v1/users/{}", alice.id)).await;
    assert_eq!(profile["avatar_url"], url.as_str());
    let post = app.publish(&alice, "with a face").await;
    assert_eq!(post["author"]["avatar_url"], url.as_str());
}

#[tokio::test]
async fn replacing_and_deleting_remove_the_old_file() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    upload(&app, &alice, "a.png", png(40, 40)).await;
    let first = stored_files(&app);
    assert_eq!(first.len(), 1);
    let second: Value = upload(&app, &alice, "b.png", png(50, 30)).await.json().await.unwrap();
    let files = stored_files(&app);
    assert_eq!(files.len(), 1);
    assert_ne!(files, first);
    assert_eq!(app.get(&format!("/media/{}", first[0])).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get(second["avatar_url"].as_str().unwrap()).send().await.unwrap().status(), StatusCode::OK);

    app.delete("/api/v1/users/me").bearer_auth(&alice.access).send().await.unwrap();
    assert!(stored_files(&app).is_empty());
}

#[tokio::test]
async fn a_text_file_named_png_is_415_and_nothing_is_stored() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = upload(&app, &alice, "cat.png", b"definitely not a picture".to_vec()).await;
    assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    assert!(stored_files(&app).is_empty());
    assert_eq!(app.get_json(&alice, "/api/v1/users/me").await["avatar_url"], Value::Null);
}

#[tokio::test]
async fn an_upload_over_the_limit_is_413_and_nothing_is_stored() {
    let app = spawn_with(&[("AVATAR_MAX_BYTES", "2000")]).await;
    let alice = app.signed_in("alice").await;
    let mut big = png(64, 64);
    big.resize(6000, 0);
    assert_problem(upload(&app, &alice, "big.png", big).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        .await;
    assert!(stored_files(&app).is_empty());
}

#[tokio::test]
async fn an_upload_without_a_file_part_or_token_is_refused() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let form = Form::new().text("other", "value");
    let response = app
        .client
        .put(app.url("/api/v1/users/me/avatar"))
        .bearer_auth(&alice.access)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let form = Form::new().part("file", Part::bytes(png(8, 8)));
    let anonymous = app.client.put(app.url("/api/v1/users/me/avatar")).multipart(form).send().await.unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
    let escape = app.get("/media/..%2F..%2Fetc%2Fpasswd").send().await.unwrap();
    assert_eq!(escape.status(), StatusCode::NOT_FOUND);
}

/// CRC-32 (IEEE) of a PNG chunk's type and data.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    let mut out = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out
}

/// A PNG whose header announces `side` x `side` RGB pixels, followed by pixel
/// data that does not decode: only a server that judges the header before
/// decoding can tell it is too big rather than broken.
fn announced_png(side: u32) -> Vec<u8> {
    let mut header = side.to_be_bytes().to_vec();
    header.extend_from_slice(&side.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &header));
    png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0xff, 0xff, 0xff, 0xff]));
    png.extend(chunk(b"IEND", &[]));
    png
}

#[tokio::test]
async fn an_image_announcing_more_pixels_than_the_limit_is_refused_with_422_before_decoding() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = upload(&app, &alice, "bomb.png", announced_png(5700)).await;
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["errors"]["file"][0].as_str().unwrap().contains("5700x5700"), "{body}");
    assert!(stored_files(&app).is_empty());
}

#[tokio::test]
async fn uploads_beyond_the_decoding_slots_answer_503_busy_at_once() {
    let app = spawn_with(&[("AVATAR_DECODERS", "1")]).await;
    let alice = app.signed_in("alice").await;
    let image = png(1500, 1500);
    let uploads = (0..6).map(|_| upload(&app, &alice, "big.png", image.clone()));
    let responses = futures::future::join_all(uploads).await;
    let mut busy = 0;
    let mut stored = 0;
    for response in responses {
        match response.status() {
            StatusCode::OK => stored += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(response.headers().contains_key("retry-after"));
                assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "busy").await;
                busy += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(stored >= 1 && busy >= 1, "stored {stored}, busy {busy}");
}

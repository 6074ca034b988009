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

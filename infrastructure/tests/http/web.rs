//! The web client served by the api at `/`.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy_and_its_assets_load() {
    let app = spawn_with(&[("WEBSOCKET_PORT", "4321")]).await;
    let page = app.get("/").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let header = |name: &str| page.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(header("content-type").starts_with("text/html"));
    assert_eq!(header("cache-control"), "no-cache");
    assert_eq!(header("x-content-type-options"), "nosniff");
    let policy = header("content-security-policy");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(policy.contains("connect-src 'self' ws://127.0.0.1:4321 wss://127.0.0.1:4321;"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<meta name="social-websocket" content=":4321/ws" />"#), "{html}");
    assert!(!html.contains("https://") && !html.contains("http://"), "no asset from another host");
    let script = html.split(r#"src="/assets/"#).nth(1).and_then(|rest| rest.split('"').next()).expect("a script asset");
    let asset = app.get(&format!("/assets/{script}")).send().await.unwrap();
    assert_eq!(asset.status(), StatusCode::OK);
    assert!(asset.headers()["content-type"].to_str().unwrap().contains("javascript"));
    assert!(asset.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert_eq!(asset.headers()["x-content-type-options"], "nosniff");
    assert!(!asset.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_configured_websocket_url_reaches_the_page_and_unknown_paths_stay_problems() {
    let app = spawn_with(&[("PUBLIC_WEBSOCKET_URL", "/ws")]).await;
    let page = app.get("/").send().await.unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("connect-src 'self' ws://127.0.0.1:"), "{policy}");
    assert!(page.text().await.unwrap().contains(r#"<meta name="social-websocket" content="/ws" />"#));
    for path in ["/assets/missing.js", "/index.html", "/u/someone"] {
        let missing = app.get(path).send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(missing.headers()["content-type"], "application/problem+json", "{path}");
    }
}

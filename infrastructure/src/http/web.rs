//! The web client: `web/dist` (built from `web/` and committed, see README)
//! compiled into the binary, so the api serves it with nothing on disk and
//! `cargo build` needs no Node.
//!
//! The page is `GET /`; its routes are hash routes (`/#/u/name`), so no other
//! path needs the page and unknown paths keep their problem+json 404.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use super::problem::ApiError;

/// `include_bytes!` per file (also in debug builds, `debug-embed`): cargo
/// rebuilds when a built file changes, and the binary never reads `web/` at
/// run time.
#[derive(rust_embed::Embed)]
#[folder = "../web/dist"]
struct Dist;

/// The element of `index.html` that tells the page where the notifier is.
const WEBSOCKET_META: &str = r#"<meta name="social-websocket" content="" />"#;

/// Where the page's browser opens its WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
enum WebSocketAt {
    /// The page's own host on this port (the notifier's, path `/ws`).
    Port(u16),
    /// `PUBLIC_WEBSOCKET_URL`: a path on the page's origin, or an absolute URL.
    Url(String),
}

/// The page, filled in once at start-up, and what its policy allows.
#[derive(Clone)]
pub struct WebClient {
    index: web::Bytes,
    websocket: WebSocketAt,
    /// The origin of `avatar_url`s when `PUBLIC_BASE_URL` puts them elsewhere.
    media_origin: Option<String>,
}

impl WebClient {
    /// `public_websocket_url` and `public_base_url` as `Config` checked them.
    #[must_use]
    pub fn new(public_websocket_url: Option<&str>, websocket_port: u16, public_base_url: Option<&str>) -> Self {
        let websocket =
            public_websocket_url.map_or(WebSocketAt::Port(websocket_port), |url| WebSocketAt::Url(url.to_owned()));
        let meta_value = match &websocket {
            WebSocketAt::Port(port) => format!(":{port}/ws"),
            WebSocketAt::Url(url) => url.replace('&', "&amp;"),
        };
        let page =
            Dist::get("index.html").map(|file| String::from_utf8_lossy(&file.data).into_owned()).unwrap_or_default();
        let page =
            page.replacen(WEBSOCKET_META, &format!(r#"<meta name="social-websocket" content="{meta_value}" />"#), 1);
        let media_origin = public_base_url.and_then(origin_of).map(|(scheme, host)| format!("{scheme}://{host}"));
        Self { index: web::Bytes::from(page), websocket, media_origin }
    }

    /// `self` plus what the page must reach elsewhere: the notifier, and the
    /// media host when avatars live on another origin.
    fn content_security_policy(&self, request: &HttpRequest) -> String {
        let websocket = match &self.websocket {
            WebSocketAt::Port(port) => {
                host_of(request).map(|host| format!(" ws://{host}:{port} wss://{host}:{port}")).unwrap_or_default()
            }
            // 'self' should cover ws(s) on the page's own origin, but not every browser agrees yet.
            WebSocketAt::Url(url) if url.starts_with('/') => request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| is_host(h))
                .map(|host| format!(" ws://{host} wss://{host}"))
                .unwrap_or_default(),
            WebSocketAt::Url(url) => origin_of(url)
                .map(|(scheme, host)| {
                    // The page turns an http(s) URL into ws(s), as the browser must.
                    let scheme = match scheme {
                        "http" => "ws",
                        "https" => "wss",
                        other => other,
                    };
                    format!(" {scheme}://{host}")
                })
                .unwrap_or_default(),
        };
        let images = self.media_origin.as_deref().map(|o| format!(" {o}")).unwrap_or_default();
        format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{images}; \
             connect-src 'self'{websocket}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
    }
}

/// The scheme and `host[:port]` of an absolute URL.
fn origin_of(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().filter(|h| is_host(h))?;
    Some((scheme, host))
}

/// The host name (without port) the browser asked for, if it is a plain one:
/// it goes into a header, and the page's notifier is on that host.
fn host_of(request: &HttpRequest) -> Option<&str> {
    let host = request.headers().get(header::HOST)?.to_str().ok().filter(|h| is_host(h))?;
    Some(if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    })
}

fn is_host(host: &str) -> bool {
    !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
}

/// `GET /`: the page, revalidated on every load so a new build is picked up at once.
pub async fn index(request: HttpRequest, client: web::Data<WebClient>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header((header::CONTENT_SECURITY_POLICY, client.content_security_policy(&request)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .insert_header((header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .body(client.index.clone())
}

/// `GET /assets/{file}`: the scripts and styles, named by their content's
/// hash, so a browser may keep them for good.
///
/// # Errors
/// 404 for a file the build did not make.
pub async fn asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let embedded = Dist::get(&format!("assets/{file}")).ok_or_else(|| ApiError::from_status(StatusCode::NOT_FOUND))?;
    Ok(HttpResponse::Ok()
        .content_type(embedded.metadata.mimetype())
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .body(embedded.data.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_built_page_has_the_websocket_element_the_api_fills_in() {
        let page = Dist::get("index.html").expect("web/dist/index.html is embedded");
        assert!(String::from_utf8_lossy(&page.data).contains(WEBSOCKET_META));
        let client = WebClient::new(Some("wss://example.org/ws?a=1&b=2"), 4000, None);
        let filled = String::from_utf8_lossy(&client.index).into_owned();
        assert!(filled.contains(r#"content="wss://example.org/ws?a=1&amp;b=2""#), "{filled}");
        let default = WebClient::new(None, 4123, None);
        assert!(String::from_utf8_lossy(&default.index).contains(r#"content=":4123/ws""#));
    }

    #[test]
    fn the_policy_allows_the_notifier_where_the_page_will_look_for_it() {
        let request = TestRequest::default().insert_header((header::HOST, "social.example:3000")).to_http_request();
        let port = WebClient::new(None, 4000, None).content_security_policy(&request);
        assert!(port.contains("connect-src 'self' ws://social.example:4000 wss://social.example:4000;"), "{port}");
        let same_origin = WebClient::new(Some("/ws"), 4000, None).content_security_policy(&request);
        assert!(same_origin.contains("connect-src 'self' ws://social.example:3000 wss://social.example:3000;"));
        let elsewhere = WebClient::new(Some("wss://live.example/ws"), 4000, Some("https://cdn.example/x"));
        let policy = elsewhere.content_security_policy(&request);
        assert!(policy.contains("connect-src 'self' wss://live.example;"), "{policy}");
        assert!(policy.contains("img-src 'self' data: blob: https://cdn.example;"), "{policy}");
        let ipv6 = TestRequest::default().insert_header((header::HOST, "[::1]:3000")).to_http_request();
        assert!(WebClient::new(None, 4000, None).content_security_policy(&ipv6).contains("ws://[::1]:4000 "));
        let forged = TestRequest::default().insert_header((header::HOST, "x; script-src *")).to_http_request();
        assert!(!WebClient::new(None, 4000, None).content_security_policy(&forged).contains("script-src *"));
    }
}

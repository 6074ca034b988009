//! Webhooks: registration, signed delivery to a local receiver, retries, dead
//! letters and their replay.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::*;

#[derive(Clone, Debug)]
pub struct Received {
    pub signature: String,
    pub event_id: String,
    pub body: Vec<u8>,
}

/// A local HTTP receiver answering `status` and keeping what it got.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    #[allow(dead_code, reason = "set by the served suite's dead-letter tests")]
    pub status: Arc<AtomicU16>,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let status = Arc::new(AtomicU16::new(200));
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let (answer, log) = (Arc::clone(&status), Arc::clone(&received));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
        let server = HttpServer::new(move || {
            let (answer, log) = (Arc::clone(&answer), Arc::clone(&log));
            App::new().route(
                "/hook",
                web::post().to(move |request: HttpRequest, body: web::Bytes| {
                    let (answer, log) = (Arc::clone(&answer), Arc::clone(&log));
                    async move {
                        let header = |name: &str| {
                            request.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
                        };
                        log.lock().unwrap().push(Received {
                            signature: header("x-signature-256"),
                            event_id: header("x-event-id"),
                            body: body.to_vec(),
                        });
                        HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(answer.load(Ordering::SeqCst)).unwrap(),
                        )
                        .finish()
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { url, status, received }
    }

    /// Waits until `n` requests arrived (15 s at most).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..150 {
            let received = self.received.lock().unwrap().clone();
            if received.len() >= n {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected {n} deliveries, got {:?}", self.received.lock().unwrap().len());
    }
}

pub async fn register(app: &TestApp, who: &Session, url: &str) -> reqwest::Response {
    app.post("/api/v1/webhooks").bearer_auth(&who.access).json(&json!({"url": url})).send().await.unwrap()
}

pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn a_webhook_receives_its_owners_events_signed_with_its_secret() {
    let app = spawn_app().await;
    wait_ready(&app.address).await;
    let receiver = Receiver::start().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let response = register(&app, &alice, &receiver.url).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let webhook: Value = response.json().await.unwrap();
    let secret = webhook["secret"].as_str().unwrap().to_owned();
    assert_eq!(webhook["url"], receiver.url.as_str());

    app.follow(&alice, &bob).await;
    let post = app.publish(&bob, "hello @alice").await;
    let received = receiver.wait_for(2).await;
    for delivery in &received {
        assert_eq!(delivery.signature, sign(&secret, &delivery.body), "a valid signature");
    }
    let events: Vec<Value> = received.iter().map(|d| serde_json::from_slice(&d.body).unwrap()).collect();
    let created = events.iter().find(|e| e["type"] == "post.created").expect("the followee's post");
    assert_eq!(created["data"]["post"], post);
    let notification = events.iter().find(|e| e["type"] == "notification").expect("the mention");
    assert_eq!(notification["data"]["notification"]["type"], "mention");
    for (delivery, event) in received.iter().zip(&events) {
        assert_eq!(delivery.event_id, event["id"].as_str().unwrap());
    }
}

#[tokio::test]
async fn webhook_urls_must_be_public_http_unless_private_targets_are_allowed() {
    let app = spawn_with(&[("WEBHOOK_ALLOW_PRIVATE", "false")]).await;
    let alice = app.signed_in("alice").await;
    for url in ["http://127.0.0.1:9/hook", "http://10.0.0.8/", "http://localhost/x", "ftp://example.com/", "not a url"]
    {
        let problem =
            assert_problem(register(&app, &alice, url).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
                .await;
        assert!(problem["errors"]["url"].is_array(), "{url}");
    }
}

#[tokio::test]
async fn webhooks_are_listed_without_secrets_and_deleted_by_their_owner_only() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let created: Value = register(&app, &alice, "http://127.0.0.1:9/a").await.json().await.unwrap();
    let list = app.get_json(&alice, "/api/v1/webhooks").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], created["id"]);
    assert!(list[0].get("secret").is_none());
    assert_eq!(app.get_json(&bob, "/api/v1/webhooks").await, json!([]));

    let path = format!("/api/v1/webhooks/{}", created["id"].as_str().unwrap());
    assert_problem(
        app.delete(&path).bearer_auth(&bob.access).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "webhook_not_found",
    )
    .await;
    assert_eq!(app.delete(&path).bearer_auth(&alice.access).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_json(&alice, "/api/v1/webhooks").await, json!([]));
}

#[tokio::test]
async fn concurrent_registrations_stop_at_ten_webhooks_per_user() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let urls: Vec<String> = (0..20).map(|n| format!("http://127.0.0.1:9/{n}")).collect();
    let attempts = urls.iter().map(|url| register(&app, &alice, url));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts).await.iter().map(|r| r.status()).collect();

    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY).count();
    assert_eq!((created, refused), (10, 10), "{statuses:?}");
    assert_eq!(app.get_json(&alice, "/api/v1/webhooks").await.as_array().unwrap().len(), 10);
}

/// The parts of a refusal a caller could compare.
fn refusal(problem: &Value) -> Value {
    json!([problem["status"], problem["code"], problem["title"], problem["detail"], problem["errors"]])
}

#[tokio::test]
async fn translation_reserved_and_multicast_ranges_are_refused_like_an_unresolvable_host() {
    let app = spawn_with(&[("WEBHOOK_ALLOW_PRIVATE", "false")]).await;
    let alice = app.signed_in("alice").await;
    let unresolvable = assert_problem(
        register(&app, &alice, "http://no-such-host.invalid/hook").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(unresolvable["errors"]["url"].is_array(), "{unresolvable}");

    for url in [
        "http://[64:ff9b::a00:1]/hook",   // NAT64 of 10.0.0.1
        "http://[64:ff9b::808:808]/hook", // NAT64 of a public address: the translator may be internal
        "http://[2002:a00:1::1]/hook",    // 6to4
        "http://[fec0::1]/hook",          // site local
        "http://198.18.0.1/hook",         // benchmarking
        "http://198.19.255.254:8080/",
        "http://240.0.0.1/hook", // reserved
        "http://224.0.0.251/hook",
        "http://[ff02::1]/hook",
        "http://0x7f.1:5432/", // 127.0.0.1 as the HTTP client reads it
        "http://localhost:5672/",
        "http://127.0.0.1:5432/",
    ] {
        let problem =
            assert_problem(register(&app, &alice, url).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
                .await;
        assert_eq!(refusal(&problem), refusal(&unresolvable), "{url}");
    }
    assert_eq!(app.get_json(&alice, "/api/v1/webhooks").await, json!([]));
}

/// A receiver that accepts connections and never answers; it counts how
/// many are open at once.
struct Tarpit {
    url: String,
    open: Arc<AtomicUsize>,
    most_open: Arc<AtomicUsize>,
}

impl Tarpit {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
        let (open, most_open) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (count, most) = (Arc::clone(&open), Arc::clone(&most_open));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let now = count.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let count = Arc::clone(&count);
                tokio::spawn(async move {
                    // Read the request and never answer, until the client gives up.
                    let mut sink = [0u8; 4096];
                    while matches!(tokio::io::AsyncReadExt::read(&mut socket, &mut sink).await, Ok(n) if n > 0) {}
                    count.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { url, open, most_open }
    }
}

#[tokio::test]
async fn a_receiver_that_never_answers_does_not_hold_up_another_users_deliveries() {
    let app = spawn_app().await;
    wait_ready(&app.address).await;
    let tarpit = Tarpit::start().await;
    let receiver = Receiver::start().await;
    let (mallory, carol, alice) =
        (app.signed_in("mallory").await, app.signed_in("carol").await, app.signed_in("alice").await);
    for n in 0..10 {
        assert_eq!(register(&app, &mallory, &format!("{}/{n}", tarpit.url)).await.status(), StatusCode::CREATED);
    }
    app.follow(&mallory, &carol).await;
    // 80 deliveries, more than an instance runs at once, to receivers that
    // hold each request for the whole timeout.
    for n in 0..8 {
        app.publish(&carol, &format!("post {n}")).await;
    }
    assert_eq!(register(&app, &alice, &receiver.url).await.status(), StatusCode::CREATED);
    for _ in 0..50 {
        if tarpit.open.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(tarpit.open.load(Ordering::SeqCst) > 0, "the tarpit is being called");

    let started = std::time::Instant::now();
    app.publish(&carol, "hello @alice").await;
    let received = receiver.wait_for(1).await;
    let waited = started.elapsed();

    let event: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(event["data"]["notification"]["type"], "mention");
    assert!(waited < Duration::from_secs(5), "delivered after {waited:?}, behind the tarpit's requests");
    let most_open = tarpit.most_open.load(Ordering::SeqCst);
    assert!(most_open <= 4, "one user's webhooks held {most_open} deliveries at once");
}

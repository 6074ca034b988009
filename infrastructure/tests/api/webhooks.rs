//! Webhooks: registration, signed delivery to a local receiver, retries, dead
//! letters and their replay.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::*;

#[derive(Clone, Debug)]
struct Received {
    signature: String,
    event_id: String,
    body: Vec<u8>,
}

/// A local HTTP receiver answering `status` and keeping what it got.
#[derive(Clone)]
struct Receiver {
    url: String,
    status: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Self {
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
    async fn wait_for(&self, n: usize) -> Vec<Received> {
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

async fn register(app: &TestApp, who: &Session, url: &str) -> reqwest::Response {
    app.post("/api/v1/webhooks").bearer_auth(&who.access).json(&json!({"url": url})).send().await.unwrap()
}

fn sign(secret: &str, body: &[u8]) -> String {
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
async fn a_failing_receiver_is_retried_then_dead_lettered_and_replay_delivers_it() {
    let app = spawn_with(&[("WEBHOOK_MAX_RETRY", "2")]).await;
    wait_ready(&app.address).await;
    let receiver = Receiver::start().await;
    receiver.status.store(500, Ordering::SeqCst);
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    register(&app, &alice, &receiver.url).await;
    app.publish(&bob, "ping @alice").await;

    let attempts = receiver.wait_for(2).await;
    assert_eq!(attempts[0].event_id, attempts[1].event_id, "the same delivery, retried");
    let connection = lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let dead = format!("{}.webhooks.dead", exchange_of(&app.database));
    let passive = lapin::options::QueueDeclareOptions { passive: true, durable: true, ..Default::default() };
    let mut buried = 0;
    for _ in 0..100 {
        buried = channel
            .queue_declare(dead.as_str().into(), passive, lapin::types::FieldTable::default())
            .await
            .unwrap()
            .message_count();
        if buried == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(buried, 1, "dead-lettered after WEBHOOK_MAX_RETRY attempts");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received.lock().unwrap().len(), 2, "no third attempt on its own");

    receiver.status.store(200, Ordering::SeqCst);
    let broker = infrastructure::messaging::Broker::new(amqp_url().into(), &exchange_of(&app.database));
    assert_eq!(infrastructure::webhooks::replay_dead_letters(&broker).await.unwrap(), 1);
    let after = receiver.wait_for(3).await;
    assert_eq!(after[2].event_id, attempts[0].event_id);
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

//! `docs/asyncapi.json`, the AsyncAPI 3.0 document of the events, is generated
//! here from the typed events (`utoipa::ToSchema` on `events.rs` and `wire.rs`)
//! and must equal the committed file: a renamed field that is not re-documented
//! fails this test. `UPDATE_DOCS=1 cargo test -p infrastructure --test asyncapi`
//! rewrites the file.
//!
//! Real serialized events of every type are checked against their schemas, in
//! both directions (no property the schema lacks, no schema property never
//! seen), so the document cannot describe JSON the code does not produce.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly where it breaks")]

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use infrastructure::events::{ClientEvent, Envelope, EventData, FollowData};
use infrastructure::wire::{AuthorView, MentionView, NotificationType, NotificationView, PostView};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

const BINDING_VERSION_WS: &str = "0.1.0";
const BINDING_VERSION: &str = "0.3.0";
/// The default `AMQP_EXCHANGE`.
const EXCHANGE: &str = "social.events";

fn document_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/asyncapi.json")
}

// ---------------------------------------------------------------------------
// Real events, one (or more) of every type.
// ---------------------------------------------------------------------------

fn id(n: u128) -> Uuid {
    // Fixed UUIDv7-shaped ids, so the examples in the document are stable.
    Uuid::from_u128(0x0193_a0a0_7b1c_7000_8000_0000_0000_0000 | n)
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn alice() -> AuthorView {
    AuthorView {
        id: id(1),
        username: "alice".into(),
        display_name: Some("Alice".into()),
        avatar_url: Some(format!("/media/{}.png", id(9).simple())),
    }
}

fn bob() -> AuthorView {
    AuthorView { id: id(2), username: "bob".into(), display_name: None, avatar_url: None }
}

fn post() -> PostView {
    PostView {
        id: id(10),
        author: alice(),
        content: "hello @bob".into(),
        mentions: vec![MentionView { id: bob().id, username: bob().username }],
        created_at: at("2026-11-22T10:00:00.123Z"),
    }
}

fn mention() -> NotificationView {
    NotificationView {
        id: id(11),
        kind: NotificationType::Mention,
        actor: alice(),
        post: Some(post()),
        created_at: at("2026-11-22T10:00:00.123Z"),
        read: false,
    }
}

fn follow_notification() -> NotificationView {
    NotificationView {
        id: id(12),
        kind: NotificationType::Follow,
        actor: bob(),
        post: None,
        created_at: at("2026-11-22T10:05:00.000Z"),
        read: false,
    }
}

/// Where each internal event type stands among the variants. A new variant
/// does not compile here until it has a sample below.
const fn event_index(event: &EventData) -> usize {
    match event {
        EventData::PostCreated { .. } => 0,
        EventData::PostDeleted { .. } => 1,
        EventData::FollowCreated(_) => 2,
        EventData::FollowDeleted(_) => 3,
        EventData::NotificationCreated { .. } => 4,
        EventData::AuthRevoked { .. } => 5,
        EventData::UserDeleted { .. } => 6,
    }
}
const EVENT_VARIANTS: usize = 7;

const fn client_index(event: &ClientEvent) -> usize {
    match event {
        ClientEvent::PostCreated { .. } => 0,
        ClientEvent::PostDeleted { .. } => 1,
        ClientEvent::Notification { .. } => 2,
    }
}
const CLIENT_VARIANTS: usize = 3;

/// Internal events as the outbox writes them: the ids and times the code gives them.
fn event_samples() -> Vec<Envelope<EventData>> {
    let follow = FollowData { follower_id: bob().id, followee_id: alice().id };
    let expires_at = at("2026-11-22T11:00:00.123Z");
    let envelope = |id, event, created_at| Envelope { id, event, created_at };
    vec![
        // A post.created event has its post's id, a notification.created its notification's.
        envelope(post().id, EventData::PostCreated { post: post() }, post().created_at),
        envelope(
            id(20),
            EventData::PostDeleted { post_id: post().id, author_id: alice().id },
            at("2026-11-22T10:10:00.000Z"),
        ),
        envelope(id(21), EventData::FollowCreated(follow), at("2026-11-22T10:05:00.000Z")),
        envelope(id(22), EventData::FollowDeleted(follow), at("2026-11-22T10:20:00.000Z")),
        envelope(
            mention().id,
            EventData::NotificationCreated { recipient_id: bob().id, notification: mention() },
            mention().created_at,
        ),
        envelope(
            follow_notification().id,
            EventData::NotificationCreated { recipient_id: alice().id, notification: follow_notification() },
            follow_notification().created_at,
        ),
        envelope(id(23), EventData::AuthRevoked { token_id: id(30), expires_at }, at("2026-11-22T10:30:00.000Z")),
        envelope(id(24), EventData::UserDeleted { user_id: bob().id, expires_at }, at("2026-11-22T10:40:00.000Z")),
    ]
}

/// Client events: WebSocket frames and webhook bodies.
fn client_samples() -> Vec<Envelope<ClientEvent>> {
    let envelope = |id, event, created_at| Envelope { id, event, created_at };
    vec![
        envelope(post().id, ClientEvent::PostCreated { post: post() }, post().created_at),
        envelope(
            id(20),
            ClientEvent::PostDeleted { post_id: post().id, author_id: alice().id },
            at("2026-11-22T10:10:00.000Z"),
        ),
        envelope(mention().id, ClientEvent::Notification { notification: mention() }, mention().created_at),
        envelope(
            follow_notification().id,
            ClientEvent::Notification { notification: follow_notification() },
            follow_notification().created_at,
        ),
    ]
}

fn json_of(value: &impl Serialize) -> Value {
    // Through bytes, as every reader gets it.
    serde_json::from_slice(&serde_json::to_vec(value).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------
// The generator.
// ---------------------------------------------------------------------------

/// Prose the types cannot carry: who sends each message and who receives it.
/// A type without an entry here fails the generator: document it.
fn summary(kind: &str, client: bool) -> &'static str {
    match (kind, client) {
        ("post.created", true) => "A new post by a user the receiver follows.",
        ("post.deleted", true) => "A post by a user the receiver follows was deleted (by its author or an admin).",
        ("notification", true) => {
            "A new notification of the receiver (`follow` or `mention`); the id is the notification's id."
        }
        ("post.created", false) => {
            "A post was created; the id is the post's id. Read by the notifier and the webhook pipeline, forwarded to clients unchanged."
        }
        ("post.deleted", false) => {
            "A post was deleted. Read by the notifier and the webhook pipeline, forwarded to clients unchanged."
        }
        ("follow.created", false) => "A follow started. Read by the notifier to keep its follower index.",
        ("follow.deleted", false) => "A follow ended. Read by the notifier to keep its follower index.",
        ("notification.created", false) => {
            "A notification was created; the id is the notification's id. The notifier and the webhook pipeline send it to the recipient as a `notification` client event (same id and created_at, without recipient_id)."
        }
        ("auth.revoked", false) => {
            "An access token (its `jti`) was revoked by a logout. Every api and notifier adds it to its revocation set; notifiers close its sockets with 4001."
        }
        ("user.deleted", false) => {
            "An account was deleted. Every api and notifier revokes all its tokens; notifiers close its sockets with 4001."
        }
        _ => panic!(
            "no summary for the {} event type {kind:?}: describe it in tests/asyncapi.rs",
            if client { "client" } else { "internal" }
        ),
    }
}

/// One payload schema per variant of `D`: the envelope's own members (`id`,
/// `created_at`) merged with the variant's (`type`, `data`), exactly as
/// `#[serde(flatten)]` puts them on the wire.
fn payloads<D: ToSchema>() -> Vec<(String, Value)> {
    let envelope = serde_json::to_value(Envelope::<D>::schema()).unwrap();
    let reference = json!({"$ref": format!("#/components/schemas/{}", D::name())});
    let parts = envelope["allOf"].as_array().expect("the envelope flattens its event: allOf");
    assert_eq!(parts.len(), 2, "{envelope}");
    assert!(parts.contains(&reference), "the envelope's allOf names {reference}: {envelope}");
    let own = parts.iter().find(|part| **part != reference).unwrap();
    let variants = serde_json::to_value(D::schema()).unwrap();
    let variants = variants["oneOf"].as_array().expect("an adjacently tagged enum is a oneOf").clone();
    variants
        .into_iter()
        .map(|variant| {
            let kind = variant["properties"]["type"]["enum"][0].as_str().expect("a tag").to_owned();
            let mut properties = Map::new();
            let mut required = Vec::new();
            for part in [own, &variant] {
                for (name, schema) in part["properties"].as_object().unwrap() {
                    assert!(properties.insert(name.clone(), schema.clone()).is_none(), "{name} twice");
                }
                required.extend(part["required"].as_array().unwrap().iter().cloned());
            }
            let rank = |name: &Value| ["id", "type", "data", "created_at"].iter().position(|n| name == n);
            required.sort_by_key(rank);
            (kind, json!({"type": "object", "required": required, "properties": properties}))
        })
        .collect()
}

/// The schemas the payloads refer to, by name.
fn referenced_schemas() -> BTreeMap<String, Value> {
    let mut found = Vec::new();
    <Envelope<EventData> as ToSchema>::schemas(&mut found);
    <Envelope<ClientEvent> as ToSchema>::schemas(&mut found);
    found.into_iter().map(|(name, schema)| (name, serde_json::to_value(schema).unwrap())).collect()
}

fn reference(to: &str) -> Value {
    json!({"$ref": to})
}

fn examples_of<D: Serialize>(samples: &[Envelope<D>], kind: &str) -> Vec<Value> {
    samples
        .iter()
        .map(json_of)
        .filter(|event| event["type"] == kind)
        .enumerate()
        .map(|(n, payload)| json!({"name": format!("{}-{}", kind.replace('.', "-"), n + 1), "payload": payload}))
        .collect()
}

/// The whole AsyncAPI document.
fn generate() -> Value {
    let mut schemas: Map<String, Value> = referenced_schemas().into_iter().collect();
    let mut messages = Map::new();
    let mut channels = Map::new();
    let mut operations = Map::new();

    schemas.insert(
        "WebhookHeaders".into(),
        json!({
            "type": "object",
            "required": ["Content-Type", "X-Event-Id", "X-Signature-256"],
            "properties": {
                "Content-Type": {"type": "string", "enum": ["application/json"]},
                "User-Agent": {"type": "string", "example": "social-webhooks/1"},
                "X-Event-Id": {"type": "string", "format": "uuid", "description": "The envelope's `id`: deliveries are at least once, de-duplicate by it."},
                "X-Signature-256": {
                    "type": "string",
                    "pattern": "^sha256=[0-9a-f]{64}$",
                    "description": "`sha256=` and the lowercase hex HMAC-SHA256 of the raw body, keyed with the webhook's secret (shown once, at creation). Verify before parsing, in constant time."
                }
            }
        }),
    );
    schemas.insert(
        "BrokerHeaders".into(),
        json!({
            "type": "object",
            "properties": {
                "x-request-id": {"type": "string", "description": "The id of the HTTP request that caused the event (its `X-Request-Id`), when there was one."}
            }
        }),
    );

    // Client events: WebSocket frames and webhook bodies.
    let clients = client_samples();
    let mut live = Map::new();
    let mut hooks = Map::new();
    for (kind, payload) in payloads::<ClientEvent>() {
        let schema = format!("client.{kind}");
        schemas.insert(schema.clone(), payload);
        let examples = examples_of(&clients, &kind);
        messages.insert(
            format!("frame.{kind}"),
            json!({
                "name": kind,
                "title": format!("{kind} (WebSocket frame)"),
                "summary": summary(&kind, true),
                "contentType": "application/json",
                "payload": reference(&format!("#/components/schemas/{schema}")),
                "examples": examples,
            }),
        );
        messages.insert(
            format!("webhook.{kind}"),
            json!({
                "name": kind,
                "title": format!("{kind} (webhook delivery)"),
                "summary": summary(&kind, true),
                "contentType": "application/json",
                "headers": reference("#/components/schemas/WebhookHeaders"),
                "payload": reference(&format!("#/components/schemas/{schema}")),
                "examples": examples,
            }),
        );
        live.insert(kind.clone(), reference(&format!("#/components/messages/frame.{kind}")));
        hooks.insert(kind.clone(), reference(&format!("#/components/messages/webhook.{kind}")));
    }
    let live_refs: Vec<Value> =
        live.keys().map(|kind| reference(&format!("#/channels/live/messages/{kind}"))).collect();
    let hook_refs: Vec<Value> =
        hooks.keys().map(|kind| reference(&format!("#/channels/webhook/messages/{kind}"))).collect();
    channels.insert(
        "live".into(),
        json!({
            "address": "/ws",
            "title": "Live events",
            "description": "One JSON text frame per event. Authenticate with `Authorization: Bearer <access token>` or `?ticket=` (from `POST /api/v1/auth/ws-ticket`, single-use, 30 s); otherwise 401 before the upgrade. `?since=<id>` first replays, oldest first, the `post.created` of followees' posts and the `notification`s with ids above it (at most 500 of each), then goes live with no gap and no duplicate. `post.created`/`post.deleted` go to every socket of every follower of the author, `notification` to every socket of the notified user. The server pings every 20 s. Close codes: 1001 server shutting down, 1002 malformed or oversized (> 4 KiB) client frame, 1008 silent for 60 s, 1011 catch-up failed, 1013 too slow (32 frames queued), 4001 token revoked or user deleted.",
            "servers": [reference("#/servers/notifier")],
            "messages": live,
            "bindings": {"ws": {
                "method": "GET",
                "query": {"type": "object", "properties": {
                    "ticket": {"type": "string", "description": "A WebSocket ticket, for clients that cannot set headers."},
                    "since": {"type": "string", "format": "uuid", "description": "The last event (or post, or notification) id the client saw."}
                }},
                "headers": {"type": "object", "properties": {
                    "Authorization": {"type": "string", "description": "`Bearer <access token>`; wins over `ticket`."}
                }},
                "bindingVersion": BINDING_VERSION_WS
            }}
        }),
    );
    channels.insert(
        "webhook".into(),
        json!({
            "address": null,
            "title": "Webhook deliveries",
            "description": "POSTs to the URL registered with `POST /api/v1/webhooks`: what its owner would receive on the WebSocket. Any 2xx within 10 s is a success (redirects are not followed); otherwise retried after 1, 2, 4, ... s, `WEBHOOK_MAX_RETRY` attempts in all, then dead-lettered.",
            "servers": [reference("#/servers/receiver")],
            "messages": hooks,
        }),
    );
    operations.insert(
        "sendLiveEvents".into(),
        json!({
            "action": "send",
            "title": "The notifier sends events to connected clients",
            "channel": reference("#/channels/live"),
            "messages": live_refs,
        }),
    );
    operations.insert(
        "deliverWebhooks".into(),
        json!({
            "action": "send",
            "title": "The api's webhook pipeline POSTs signed events",
            "channel": reference("#/channels/webhook"),
            "messages": hook_refs,
            "bindings": {"http": {"method": "POST", "bindingVersion": BINDING_VERSION}},
        }),
    );

    // Internal events on the bus, one channel per routing key.
    let events = event_samples();
    for (kind, payload) in payloads::<EventData>() {
        let schema = format!("event.{kind}");
        schemas.insert(schema.clone(), payload);
        let message = format!("event.{kind}");
        messages.insert(
            message.clone(),
            json!({
                "name": kind,
                "title": kind,
                "summary": summary(&kind, false),
                "contentType": "application/json",
                "headers": reference("#/components/schemas/BrokerHeaders"),
                "payload": reference(&format!("#/components/schemas/{schema}")),
                "examples": examples_of(&events, &kind),
                "bindings": {"amqp": {"messageType": kind, "bindingVersion": BINDING_VERSION}},
            }),
        );
        let channel = format!("bus.{kind}");
        channels.insert(
            channel.clone(),
            json!({
                "address": kind,
                "title": format!("Routing key {kind}"),
                "description": format!("Events of type `{kind}` on the topic exchange `AMQP_EXCHANGE` (default `{EXCHANGE}`); the routing key is the type. The message id (`message_id`) is the event id; messages are persistent, with a `timestamp`. In the embedded mode the in-process bus carries the same bodies under the same key."),
                "servers": [reference("#/servers/rabbitmq")],
                "messages": {kind.clone(): reference(&format!("#/components/messages/{message}"))},
                "bindings": {"amqp": {
                    "is": "routingKey",
                    "exchange": {"name": EXCHANGE, "type": "topic", "durable": true, "autoDelete": false, "vhost": "/"},
                    "bindingVersion": BINDING_VERSION
                }}
            }),
        );
        let message_ref = reference(&format!("#/channels/{channel}/messages/{kind}"));
        operations.insert(
            format!("publish.{kind}"),
            json!({
                "action": "send",
                "title": format!("The outbox relay publishes {kind}"),
                "description": "In outbox (id) order, with publisher confirms; rows are marked published only after every confirm, so delivery is at least once.",
                "channel": reference(&format!("#/channels/{channel}")),
                "messages": [message_ref],
                "bindings": {"amqp": {"deliveryMode": 2, "timestamp": true, "bindingVersion": BINDING_VERSION}},
            }),
        );
        operations.insert(
            format!("consume.{kind}"),
            json!({
                "action": "receive",
                "title": format!("Consumers of {kind}"),
                "description": "Notifiers and the api's revocation listeners read through a durable queue per process (`<exchange>.<purpose>.<uuid>`, expiring 5 minutes after its consumer left); a message they fail to handle is retried (header `x-attempts`, 3 attempts in all), then dead-lettered to the fanout exchange `<exchange>.dead` with `x-death-reason` and `x-original-routing-key` (embedded mode: the `dead_letters` table). The webhook pipeline shares the durable queue `<exchange>.webhooks.events`, requeues on storage or broker trouble and drops a malformed event.",
                "channel": reference(&format!("#/channels/{channel}")),
                "messages": [message_ref],
                "bindings": {"amqp": {"ack": true, "bindingVersion": BINDING_VERSION}},
            }),
        );
    }

    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "social events",
            "version": "1.0.0",
            "description": "The events of the social backend: WebSocket frames and webhook bodies for clients, and the internal events on the event bus. Every event is one JSON envelope `{id, type, data, created_at}`: `id` a UUIDv7, `type` the event type (on the bus also the routing key), `created_at` RFC 3339 UTC with milliseconds. Generated from the Rust types by infrastructure/tests/asyncapi.rs; see docs/events.md."
        },
        "defaultContentType": "application/json",
        "servers": {
            "notifier": {"host": "localhost:4000", "protocol": "ws", "description": "The notifier (`WEBSOCKET_PORT`)."},
            "rabbitmq": {"host": "localhost:5672", "protocol": "amqp", "description": "RabbitMQ (`AMQP_URL`), served mode only. The embedded mode carries the same messages on an in-process bus."},
            "receiver": {
                "host": "{host}",
                "protocol": "https",
                "description": "A webhook receiver: the host of a registered URL (public addresses only).",
                "variables": {"host": {"description": "host (and port) of the registered URL"}}
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages}
    })
}

fn rendered(document: &Value) -> String {
    let mut text = serde_json::to_string_pretty(document).unwrap();
    text.push('\n');
    text
}

// ---------------------------------------------------------------------------
// A strict validator for the JSON Schema subset the document uses. Unknown
// keywords fail: nothing in a schema is silently ignored.
// ---------------------------------------------------------------------------

struct Validator<'a> {
    schemas: &'a Map<String, Value>,
    /// `<schema>/<property path>` of every schema property some sample had.
    seen: BTreeSet<String>,
}

const ANNOTATIONS: [&str; 3] = ["description", "example", "title"];

impl Validator<'_> {
    fn check(&mut self, schema: &Value, value: &Value, label: &str, at: &str) -> Result<(), String> {
        let schema = schema.as_object().ok_or_else(|| format!("{at}: schema is not an object"))?;
        if let Some(target) = schema.get("$ref") {
            let name = target.as_str().and_then(|t| t.strip_prefix("#/components/schemas/")).ok_or("bad $ref")?;
            let resolved = self.schemas.get(name).ok_or_else(|| format!("{at}: unresolved {name}"))?;
            return self.check(resolved, value, name, at);
        }
        for keyword in schema.keys() {
            let known = ["type", "format", "enum", "properties", "required", "items", "oneOf", "minimum", "pattern"];
            if !known.contains(&keyword.as_str()) && !ANNOTATIONS.contains(&keyword.as_str()) {
                return Err(format!("{at}: the validator does not know the keyword {keyword:?}"));
            }
        }
        if let Some(choices) = schema.get("oneOf") {
            let matching = choices
                .as_array()
                .ok_or("oneOf")?
                .iter()
                .filter(|choice| {
                    let mut probe = Validator { schemas: self.schemas, seen: BTreeSet::new() };
                    probe.check(choice, value, label, at).is_ok()
                })
                .cloned()
                .collect::<Vec<_>>();
            if matching.len() != 1 {
                return Err(format!("{at}: {} oneOf choices match {value}", matching.len()));
            }
            self.check(&matching[0], value, label, at)?;
        }
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => return Err(format!("{at}: bad type")),
            };
            let actual = match value {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            if !(types.contains(&actual) || actual == "integer" && types.contains(&"number")) {
                return Err(format!("{at}: {value} is not {types:?}"));
            }
        }
        if let Some(allowed) = schema.get("enum")
            && !allowed.as_array().is_some_and(|a| a.contains(value))
        {
            return Err(format!("{at}: {value} is not one of {allowed}"));
        }
        if let (Some(format), Some(text)) = (schema.get("format").and_then(Value::as_str), value.as_str()) {
            let ok = match format {
                "uuid" => Uuid::parse_str(text).is_ok(),
                "date-time" => DateTime::parse_from_rfc3339(text).is_ok(),
                other => return Err(format!("{at}: the validator does not know the format {other}")),
            };
            if !ok {
                return Err(format!("{at}: {text:?} is not a {format}"));
            }
        }
        if let Some(minimum) = schema.get("minimum").and_then(Value::as_f64)
            && value.as_f64().is_some_and(|v| v < minimum)
        {
            return Err(format!("{at}: {value} < {minimum}"));
        }
        if schema.contains_key("pattern") {
            return Err(format!("{at}: patterns are not checked here"));
        }
        if let Some(items) = schema.get("items") {
            for (n, item) in value.as_array().into_iter().flatten().enumerate() {
                self.check(items, item, &format!("{label}[]"), &format!("{at}[{n}]"))?;
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            let object = value.as_object().ok_or_else(|| format!("{at}: {value} is not an object"))?;
            for name in object.keys() {
                if !properties.contains_key(name) {
                    return Err(format!("{at}: property {name:?} is not in the schema"));
                }
            }
            for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                let name = name.as_str().ok_or("required")?;
                if !object.contains_key(name) {
                    return Err(format!("{at}: required property {name:?} is missing"));
                }
            }
            for (name, property) in properties {
                if let Some(member) = object.get(name) {
                    self.seen.insert(format!("{label}/{name}"));
                    self.check(property, member, &format!("{label}/{name}"), &format!("{at}.{name}"))?;
                }
            }
        }
        Ok(())
    }
}

/// `<schema>/<property path>` of every property a schema declares, labelled as
/// [`Validator::check`] labels what it sees.
fn declared(schema: &Value, label: &str, out: &mut BTreeSet<String>) {
    if schema.get("$ref").is_some() {
        return; // declared under its own name
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let label = format!("{label}/{name}");
            out.insert(label.clone());
            declared(property, &label, out);
        }
    }
    if let Some(items) = schema.get("items") {
        declared(items, &format!("{label}[]"), out);
    }
    for choice in schema.get("oneOf").and_then(Value::as_array).into_iter().flatten() {
        declared(choice, label, out);
    }
}

fn all_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push(target.clone());
            }
            map.values().for_each(|v| all_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| all_refs(v, out)),
        _ => {}
    }
}

fn pointer(document: &Value, target: &str) -> Option<Value> {
    let path = target.strip_prefix('#')?;
    document.pointer(path).cloned()
}

// ---------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------

#[test]
fn the_committed_asyncapi_document_is_generated_from_the_event_types() {
    let generated = rendered(&generate());
    let path = document_path();
    if std::env::var_os("UPDATE_DOCS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/asyncapi.json is not what the event types produce. If the change is intended, run \
         `UPDATE_DOCS=1 cargo test -p infrastructure --test asyncapi`, then update docs/events.md to match."
    );
}

#[test]
fn every_reference_in_the_document_resolves() {
    let document = generate();
    let mut targets = Vec::new();
    all_refs(&document, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        assert!(pointer(&document, &target).is_some(), "{target} does not resolve");
    }
    assert_eq!(document["asyncapi"], "3.0.0");
}

#[test]
fn real_events_of_every_type_have_exactly_the_properties_of_their_schemas() {
    let document = generate();
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let mut validator = Validator { schemas, seen: BTreeSet::new() };
    let mut checked = 0;
    for (name, message) in document["components"]["messages"].as_object().unwrap() {
        let examples = message["examples"].as_array().unwrap();
        assert!(!examples.is_empty(), "{name} has no real example");
        for example in examples {
            validator.check(&message["payload"], &example["payload"], name, name).unwrap_or_else(|e| panic!("{e}"));
            checked += 1;
        }
    }
    assert!(checked >= EVENT_VARIANTS + 2 * CLIENT_VARIANTS);

    // And the other way round: every property a schema declares occurs in some real event.
    let mut expected = BTreeSet::new();
    for (name, schema) in schemas {
        if !name.ends_with("Headers") {
            declared(schema, name, &mut expected);
        }
    }
    let missing: Vec<_> = expected.difference(&validator.seen).collect();
    assert!(missing.is_empty(), "schema properties no sample has: {missing:?}");
}

#[test]
fn the_samples_cover_every_variant_and_are_what_the_wire_carries() {
    let events = event_samples();
    let covered: BTreeSet<usize> = events.iter().map(|e| event_index(&e.event)).collect();
    assert_eq!(covered, (0..EVENT_VARIANTS).collect());
    let clients = client_samples();
    let covered: BTreeSet<usize> = clients.iter().map(|e| client_index(&e.event)).collect();
    assert_eq!(covered, (0..CLIENT_VARIANTS).collect());

    for event in &events {
        let bytes = event.to_bytes().unwrap();
        // What the relay publishes reads back as the same event.
        assert_eq!(&Envelope::parse(&bytes).unwrap(), event);
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["type"], event.event.type_name());
        let keys: BTreeSet<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["id", "type", "data", "created_at"]));
        assert!(json["created_at"].as_str().unwrap().ends_with('Z'), "UTC: {json}");
    }
}

#[test]
fn published_post_events_validate_as_the_client_events_they_are_forwarded_as() {
    // The notifier and the webhooks forward post events' bytes unchanged.
    let document = generate();
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let mut validator = Validator { schemas, seen: BTreeSet::new() };
    for event in event_samples() {
        let kind = event.event.type_name();
        if kind.starts_with("post.") {
            let schema = reference(&format!("#/components/schemas/client.{kind}"));
            validator.check(&schema, &json_of(&event), kind, kind).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn the_documented_signature_is_the_hmac_sha256_of_the_body() {
    let body = clients_body();
    let signature = infrastructure::webhooks::signature("the webhook secret", &body);
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(b"the webhook secret").unwrap();
    mac.update(&body);
    assert_eq!(signature, format!("sha256={}", hex::encode(mac.finalize().into_bytes())));
    let hex_part = signature.strip_prefix("sha256=").unwrap();
    assert!(hex_part.len() == 64 && hex_part.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
}

fn clients_body() -> Vec<u8> {
    client_samples()[0].to_bytes().unwrap()
}

#[test]
fn the_prose_documentation_names_every_event_type() {
    let prose = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/events.md")).unwrap();
    let kinds = event_samples().iter().map(|e| e.event.type_name()).chain(["notification"]).collect::<BTreeSet<_>>();
    for kind in kinds {
        assert!(prose.contains(&format!("`{kind}`")), "docs/events.md does not describe `{kind}`");
    }
}

/// What is done to a real event, and how it is described.
type Tamper = (&'static str, fn(&mut Value));

#[test]
fn the_validator_rejects_json_that_strays_from_a_schema() {
    let document = generate();
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let schema = reference("#/components/schemas/client.post.created");
    let real = json_of(&client_samples()[0]);
    let mut validator = Validator { schemas, seen: BTreeSet::new() };
    assert!(validator.check(&schema, &real, "real", "real").is_ok());
    let tampered: [Tamper; 6] = [
        ("an unknown member", |e| e["data"]["post"]["likes"] = json!(3)),
        ("a missing member", |e| drop(e["data"]["post"].as_object_mut().unwrap().remove("content"))),
        ("a wrong type", |e| e["data"]["post"]["mentions"] = json!("bob")),
        ("another tag", |e| e["type"] = json!("post.liked")),
        ("a malformed id", |e| e["id"] = json!("not-a-uuid")),
        ("a malformed time", |e| e["created_at"] = json!("yesterday")),
    ];
    for (what, tamper) in tampered {
        let mut event = real.clone();
        tamper(&mut event);
        assert!(validator.check(&schema, &event, "tampered", "tampered").is_err(), "{what} passed");
    }
}

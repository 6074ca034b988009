//! Consumers: a queue of its own per process bound to the routing keys it
//! needs, manual acks, and bounded retries ending in the dead-letter queue.

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel};

use std::sync::Arc;

use super::{Broker, Handler, Message};

/// Attempts of one message, the first included, before it is dead-lettered.
pub const MAX_ATTEMPTS: i64 = 3;

const ATTEMPTS: &str = "x-attempts";
/// The routing key a message was published with, once it travels under another.
const ORIGINAL_KEY: &str = "x-original-routing-key";

/// What a handler made of a message.
pub type Handled = anyhow::Result<()>;

/// How long this process's queue outlives its last consumer. A process that
/// loses the broker connection finds its queue, and what was routed to it in
/// the meantime, when it reconnects within this time; a process that died
/// leaves nothing behind for longer.
pub const QUEUE_EXPIRES_MS: i64 = 5 * 60 * 1000;

/// Consumes `bindings` of the events exchange forever, reconnecting with
/// backoff. `prefetch` bounds the unacknowledged messages in flight.
///
/// The queue belongs to this process (its name carries a per-process id) but
/// is not exclusive: a dropped connection does not delete it, so events that
/// the relay publishes before this consumer is back wait there instead of being
/// routed nowhere. It is durable (so it survives a broker restart) and expires
/// [`QUEUE_EXPIRES_MS`] after its last consumer left. As a quorum queue (a
/// cluster, see [`super::QueueType`]) it also survives the death of the node
/// it was declared on: the consumer reconnects to another node and finds it,
/// with what was routed meanwhile. RabbitMQ 3.10 honours `x-expires` on quorum
/// queues; retries do not rely on `x-delivery-count` (a failed message is
/// published again with its own attempt count, the same on both kinds).
pub(super) async fn consume(broker: Broker, purpose: &'static str, bindings: &[&str], prefetch: u16, handle: Handler) {
    let queue = format!("{}.{}.{}", broker.exchange(), purpose.replace(' ', "-"), uuid::Uuid::now_v7().simple());
    broker.queues.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(queue.clone());
    loop {
        let (_connection, channel) = broker.connect(purpose).await;
        match run(&broker, &channel, &queue, bindings, prefetch, &handle).await {
            Ok(()) => tracing::warn!(purpose, "consumer stream ended; reconnecting"),
            Err(e) => tracing::warn!(purpose, error = %e, "consumer failed; reconnecting"),
        }
        broker.mark(false);
    }
}

async fn run(
    broker: &Broker,
    channel: &Channel,
    queue: &str,
    bindings: &[&str],
    prefetch: u16,
    handle: &Handler,
) -> lapin::Result<()> {
    channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let mut arguments = FieldTable::default();
    arguments.insert("x-expires".into(), AMQPValue::LongLongInt(QUEUE_EXPIRES_MS));
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    // The name is this process's own: no queue of another kind can hold it.
    let declared =
        channel.queue_declare(queue.into(), durable, broker.queue_type().declare_arguments(arguments)).await?;
    let name = declared.name().clone();
    for key in bindings {
        channel
            .queue_bind(
                name.clone(),
                broker.exchange().into(),
                (*key).into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    let mut deliveries =
        channel.basic_consume(name.clone(), "".into(), BasicConsumeOptions::default(), FieldTable::default()).await?;
    broker.mark(true);
    while let Some(delivery) = deliveries.next().await {
        let mut delivery = delivery?;
        // The body moves into the message: no copy per delivery.
        let message =
            Arc::new(Message { routing_key: routing_key(&delivery), body: std::mem::take(&mut delivery.data) });
        if let Err(error) = handle(Arc::clone(&message)).await {
            retry_or_bury(broker, channel, &name, &delivery, &message, &error).await?;
        }
        delivery.ack(BasicAckOptions::default()).await?;
    }
    Ok(())
}

/// The routing key the event was published with: a retry travels through
/// the default exchange under the queue's name, so it carries the original
/// in a header.
fn routing_key(delivery: &Delivery) -> String {
    match delivery.properties.headers().as_ref().and_then(|h| h.inner().get(ORIGINAL_KEY)) {
        Some(AMQPValue::LongString(key)) => key.to_string(),
        _ => delivery.routing_key.to_string(),
    }
}

fn attempts(delivery: &Delivery) -> i64 {
    let header = delivery.properties.headers().as_ref().and_then(|h| h.inner().get(ATTEMPTS).cloned());
    match header {
        Some(AMQPValue::LongLongInt(n)) => n,
        Some(AMQPValue::LongInt(n)) => i64::from(n),
        _ => 1,
    }
}

/// Puts a failed message back at the end of `queue` with its attempt counted,
/// or, after the last attempt, into the dead-letter exchange with the reason.
async fn retry_or_bury(
    broker: &Broker,
    channel: &Channel,
    queue: &ShortString,
    delivery: &Delivery,
    message: &Message,
    error: &anyhow::Error,
) -> lapin::Result<()> {
    let attempt = attempts(delivery);
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(ORIGINAL_KEY.into(), AMQPValue::LongString(message.routing_key.as_str().into()));
    let (exchange, routing_key) = if attempt < MAX_ATTEMPTS {
        tracing::warn!(attempt, error = format!("{error:#}"), "event handling failed; retrying");
        headers.insert(ATTEMPTS.into(), AMQPValue::LongLongInt(attempt + 1));
        (ShortString::from(""), queue.clone())
    } else {
        tracing::error!(attempt, error = format!("{error:#}"), "event handling failed; dead-lettering");
        metrics::counter!("events_dead_lettered_total", "type" => message.routing_key.clone()).increment(1);
        headers.insert("x-death-reason".into(), AMQPValue::LongString(format!("{error:#}").into()));
        (broker.dead_letters().into(), message.routing_key.as_str().into())
    };
    let properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_headers(headers);
    let properties = match delivery.properties.message_id() {
        Some(id) => properties.with_message_id(id.clone()),
        None => properties,
    };
    channel.basic_publish(exchange, routing_key, BasicPublishOptions::default(), &message.body, properties).await?;
    Ok(())
}

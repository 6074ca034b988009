//! Which kind of RabbitMQ queue this process declares (`AMQP_QUEUE_TYPE`), and
//! declaring a durable queue that may already exist with another kind.
//!
//! A classic queue lives on one node: when that node dies its messages are
//! out of reach until it comes back. A quorum queue is replicated (Raft) on the
//! cluster's nodes and keeps serving while a majority is up. One node gains
//! nothing from replication, and a single-node deployment keeps the classic
//! queues it always had (no migration), so the default follows the number of
//! nodes in `AMQP_URL`.

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ErrorKind};
use std::fmt;
use std::str::FromStr;

/// The kind of the durable queues this process declares: its consumers'
/// queues and the dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    Classic,
    Quorum,
}

impl QueueType {
    /// The default for an `AMQP_URL` of `nodes` nodes: quorum for a cluster, classic for one node.
    #[must_use]
    pub const fn for_nodes(nodes: usize) -> Self {
        if nodes > 1 { Self::Quorum } else { Self::Classic }
    }

    /// `arguments` with this kind's declare argument added. Classic adds none,
    /// so a classic queue is declared exactly as before quorum queues existed
    /// here (RabbitMQ 3.10 treats a missing `x-queue-type` as classic).
    #[must_use]
    pub fn declare_arguments(self, mut arguments: FieldTable) -> FieldTable {
        if self == Self::Quorum {
            arguments.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
        }
        arguments
    }
}

impl fmt::Display for QueueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Classic => "classic",
            Self::Quorum => "quorum",
        })
    }
}

impl FromStr for QueueType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "classic" => Ok(Self::Classic),
            "quorum" => Ok(Self::Quorum),
            _ => Err("expected classic or quorum".to_owned()),
        }
    }
}

/// Whether the broker refused a declare because the queue exists with other
/// arguments (AMQP 406 PRECONDITION_FAILED; it closes the channel).
fn precondition_failed(error: &lapin::Error) -> bool {
    matches!(error.kind(), ErrorKind::ProtocolError(refusal) if refusal.get_id() == 406)
}

/// Declares the durable queue `name` as `kind` with `arguments`, and returns
/// the channel to go on with.
///
/// A queue of that name may already exist as another kind: a deployment that
/// grew from one node to a cluster still has its classic dead-letter queue,
/// and RabbitMQ cannot change a queue's kind in place. It refuses the declare
/// (406) and closes the channel. That queue is then kept as it is, with a
/// warning, on a new channel: deleting it would drop the dead letters it
/// holds, and a second queue under another name would leave them unseen.
/// Moving to the wanted kind is the operator's step (docs/scaling.md).
pub(super) async fn declare_durable(
    connection: &Connection,
    channel: Channel,
    name: &str,
    kind: QueueType,
    arguments: FieldTable,
) -> lapin::Result<Channel> {
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    match channel.queue_declare(name.into(), durable, kind.declare_arguments(arguments)).await {
        Ok(_) => Ok(channel),
        Err(refusal) if precondition_failed(&refusal) => {
            tracing::warn!(
                queue = name,
                wanted = %kind,
                refusal = %refusal,
                "the queue exists with another type or arguments; using it as it is"
            );
            let channel = connection.create_channel().await?;
            let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
            channel.queue_declare(name.into(), passive, FieldTable::default()).await?;
            Ok(channel)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_defaults_to_quorum_and_one_node_to_classic() {
        assert_eq!(QueueType::for_nodes(1), QueueType::Classic);
        assert_eq!(QueueType::for_nodes(3), QueueType::Quorum);
    }

    #[test]
    fn the_setting_reads_both_kinds_and_refuses_others() {
        assert_eq!(" Quorum".parse(), Ok(QueueType::Quorum));
        assert_eq!("classic".parse(), Ok(QueueType::Classic));
        assert!("stream".parse::<QueueType>().is_err());
        for kind in [QueueType::Classic, QueueType::Quorum] {
            assert_eq!(kind.to_string().parse(), Ok(kind));
        }
    }

    #[test]
    fn only_quorum_adds_a_declare_argument() {
        assert_eq!(QueueType::Classic.declare_arguments(FieldTable::default()), FieldTable::default());
        let quorum = QueueType::Quorum.declare_arguments(FieldTable::default());
        assert_eq!(quorum.inner().get("x-queue-type"), Some(&AMQPValue::LongString("quorum".into())));
    }
}

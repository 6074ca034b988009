DROP TABLE outbox;
DROP TABLE idempotency_keys;
DROP TABLE notification_markers;
DROP TABLE notifications;
DROP TABLE follows;
DROP TABLE post_mentions;
DROP TABLE posts;

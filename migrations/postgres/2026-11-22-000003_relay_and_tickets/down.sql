DROP TABLE ws_tickets;
ALTER TABLE outbox DROP COLUMN request_id;

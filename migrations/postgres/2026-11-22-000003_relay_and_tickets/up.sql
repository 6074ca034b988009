-- The request that caused an event, carried into the broker message headers.
ALTER TABLE outbox ADD COLUMN request_id text;

-- Single-use WebSocket tickets for browsers that cannot send an Authorization
-- header on the upgrade. Stored hashed; redeeming deletes the row, so a ticket
-- works once. The access token it stands for is remembered so that revoking
-- that token also refuses the ticket.
CREATE TABLE ws_tickets (
    ticket_hash      bytea       PRIMARY KEY,
    user_id          uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role             text        NOT NULL,
    token_id         uuid        NOT NULL,
    token_expires_at timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL
);
CREATE INDEX ws_tickets_expiry_idx ON ws_tickets (expires_at);
CREATE INDEX ws_tickets_user_idx ON ws_tickets (user_id);

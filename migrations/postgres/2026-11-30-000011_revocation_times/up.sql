-- When each revocation was written, so that every instance can read the new
-- ones every second: the bound on how long a revoked token keeps working on
-- another instance while the broker (which normally carries the news within
-- milliseconds) is down.
ALTER TABLE revoked_tokens ADD COLUMN revoked_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE revoked_users ADD COLUMN revoked_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX revoked_tokens_revoked_at_idx ON revoked_tokens (revoked_at);
CREATE INDEX revoked_users_revoked_at_idx ON revoked_users (revoked_at);

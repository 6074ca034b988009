ALTER TABLE revoked_tokens DROP COLUMN revoked_at;
ALTER TABLE revoked_users DROP COLUMN revoked_at;

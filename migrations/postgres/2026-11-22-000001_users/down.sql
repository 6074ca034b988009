DROP TABLE revoked_users;
DROP TABLE revoked_tokens;
DROP TABLE refresh_tokens;
DROP TABLE users;
DROP FUNCTION set_updated_at();

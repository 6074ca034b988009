DROP TRIGGER outbox_written ON outbox;
DROP FUNCTION outbox_written();

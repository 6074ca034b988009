-- Wakes the relay of whichever instance holds the relay lock when any instance
-- commits outbox rows (the instance that wrote them wakes its own relay in
-- memory; the others would wait for the relay's next poll). A statement-level
-- trigger: one notification per inserting statement, sent at commit, and no
-- extra round trip for the writer.
CREATE FUNCTION outbox_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_written', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_written AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_written();

-- Retention ([retention] keep_days, docs/scaling.md "Years of history"): interactions that
-- happened before the cut-off are deleted in chunks by the daemon, so that no transaction
-- holds many rows locked and ingest goes on meanwhile.
--
-- They are found through interactions_occurred_brin (009_analytics.sql), which costs ingest
-- close to nothing. Records mostly arrive in time order, so its ranges are narrow; an import
-- of old records widens a few of them, which costs the deletion a little more reading, not
-- correctness.

-- Deletes at most p_limit interactions that occurred before p_before, and returns how many
-- it deleted (fewer than p_limit: nothing older is left). Their status history goes with them
-- (ON DELETE CASCADE); customers and identities stay: a profile outlives its old records,
-- and erasure (DELETE /v1/customers/{id}) is what removes a person.
CREATE FUNCTION touchline.retention_delete(p_before timestamptz, p_limit integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    WITH doomed AS (
        SELECT id FROM touchline.interactions
        WHERE occurred_at < p_before
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    )
    DELETE FROM touchline.interactions i USING doomed d WHERE i.id = d.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;

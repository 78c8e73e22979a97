-- Retention resumes where its previous chunk stopped (docs/scaling.md "Years of history").
--
-- 011's retention_delete looks for old rows from the start of the table at every chunk.
-- When old rows are spread over the whole table (records that did not arrive in time order,
-- where the BRIN index cannot narrow the search), chunk k reads k chunks' worth of table
-- before it finds rows to delete: one pass reads the table as many times over as it has
-- chunks. Passing the position of the last row a chunk looked at makes the next chunk start
-- after it, so that one pass reads the table at most once. Rows skipped because they were locked, or
-- behind a scan that PostgreSQL started in the middle of the table (synchronized sequential
-- scans), are found by the next pass.
--
-- 011's function stays for daemons of the previous version during a rolling upgrade.

-- Looks at the next p_limit interactions that occurred before p_before and lie after p_after
-- in the table, and deletes those of them it can lock at once. Returns how many it deleted,
-- how many it looked at (fewer than p_limit: none is left after p_after) and the position of
-- the last one it looked at, for the next chunk's p_after.
--
-- The positions are taken from the scan, before any lock: a row that a merge moved meanwhile
-- is locked in its new version, elsewhere in the table, and that position would make the next
-- chunk jump over everything in between. Such a row is not deleted here (its position no
-- longer matches) but by the chunk that reaches its new position, or by the next pass; so
-- are the rows another transaction holds locked (SKIP LOCKED: a merge must not wait for
-- retention, nor retention for a merge).
CREATE FUNCTION touchline.retention_delete(p_before timestamptz, p_limit integer, p_after tid,
                                           OUT deleted integer, OUT scanned integer,
                                           OUT last_row tid)
LANGUAGE plpgsql AS $$
DECLARE
    seen tid[];
BEGIN
    SELECT array_agg(s.pos) INTO seen
      FROM (SELECT i.ctid AS pos FROM touchline.interactions i
             WHERE i.occurred_at < p_before AND i.ctid > p_after
             LIMIT p_limit) s;
    scanned := coalesce(cardinality(seen), 0);
    SELECT max(pos) INTO last_row FROM unnest(seen) pos;
    WITH doomed AS (
        SELECT i.ctid AS pos FROM touchline.interactions i
         WHERE i.ctid = ANY (seen) AND i.occurred_at < p_before
           FOR UPDATE SKIP LOCKED
    )
    DELETE FROM touchline.interactions i
     WHERE i.ctid = ANY (ARRAY(SELECT pos FROM doomed));
    GET DIAGNOSTICS deleted = ROW_COUNT;
END;
$$;

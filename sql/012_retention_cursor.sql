-- Retention resumes where its previous chunk stopped (docs/scaling.md "Years of history").
--
-- 011's retention_delete looks for old rows from the start of the table at every chunk.
-- When old rows are spread over the whole table (records that did not arrive in time order,
-- where the BRIN index cannot narrow the search), chunk k reads k chunks' worth of table
-- before it finds rows to delete: one pass reads the table as many times over as it has
-- chunks. Passing the position of the last row a chunk looked at makes the next chunk start
-- after it, so that one pass reads the table at most once. Rows skipped because another
-- transaction held them locked are found by the next pass.
--
-- 011's function stays for daemons of the previous version during a rolling upgrade.

-- The next p_limit interactions that occurred before p_before and lie after p_after in the
-- table, in the table's order, so that the last of them is where the next chunk goes on.
-- Without index scans: an index on (customer_id, occurred_at) can answer the condition too,
-- in the order of customers, and its last row would make the next chunk jump over most of
-- the table (seen on the 20 M table of bench/soak: a pass that ended after 5 000 of 149 000
-- rows). A sequential scan, a TID range scan and a bitmap scan (the BRIN index on
-- occurred_at, where records arrived in time order) all read the table in its order; a
-- sequential scan must then start at its beginning, not where another one is, and run in
-- one process, not in parallel workers that take turns.
CREATE FUNCTION touchline.retention_candidates(p_before timestamptz, p_limit integer,
                                               p_after tid)
RETURNS tid[] LANGUAGE sql STABLE
SET enable_indexscan = off
SET enable_indexonlyscan = off
SET synchronize_seqscans = off
SET max_parallel_workers_per_gather = 0
AS $$
    SELECT coalesce(array_agg(s.pos), '{}')
      FROM (SELECT i.ctid AS pos FROM touchline.interactions i
             WHERE i.occurred_at < p_before AND i.ctid > p_after
             LIMIT p_limit) s
$$;

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
    seen tid[] := touchline.retention_candidates(p_before, p_limit, p_after);
BEGIN
    scanned := cardinality(seen);
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

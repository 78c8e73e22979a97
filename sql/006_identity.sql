-- Identity you can trust under load (docs/identity.md, "Concurrency"): no writer ever waits
-- for an identifier lock out of the global order.
--
-- Until now a merging batch locked the merged-away customers' other identifiers after its
-- ordered locks, waiting under a 200 ms lock_timeout; two merging batches could cancel each
-- other in turn until the daemon gave up. Now such a lock is only tried: when another writer
-- holds it, the batch stops with SQLSTATE TL001 and the keys it needs, and the daemon runs
-- it again taking those keys in the global order from its first statement.

-- The lock key of an identifier: the order every writer takes them in.
CREATE FUNCTION touchline.ident_key(p_kind text, p_value text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashtextextended(p_kind || ':' || p_value, 0)
$$;

-- As lock_identifiers, plus p_extra: keys a previous attempt of the batch found it needs
-- for its merges. All of them in one ascending order, waiting for each.
CREATE FUNCTION touchline.lock_identifiers(p_kinds text[], p_values text[], p_extra bigint[])
RETURNS void
LANGUAGE sql AS $$
    SELECT count(pg_advisory_xact_lock(h))::int
      FROM (SELECT touchline.ident_key(x.k, x.v) AS h
              FROM unnest(p_kinds, p_values) AS x(k, v)
             UNION
            SELECT unnest(coalesce(p_extra, '{}'))
             ORDER BY 1) s;
    SELECT NULL::void;
$$;

-- Takes the lock of every identifier of customers p_ids without waiting, until no identifier
-- of theirs is left unlocked (a writer may attach one between the read and the lock). When
-- another writer holds one, raises TL001 with every key wanted so far in DETAIL (an array
-- literal), so that the caller can start over taking them in order.
CREATE FUNCTION touchline.try_lock_customer_identifiers(p_ids uuid[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    locked bigint[] := '{}';
    wanted bigint[];
    busy   integer;
BEGIN
    LOOP
        SELECT coalesce(array_agg(DISTINCT touchline.ident_key(kind, value)), '{}')
          INTO wanted
          FROM touchline.identities WHERE customer_id = ANY (p_ids);
        EXIT WHEN wanted <@ locked;
        SELECT count(*) FILTER (WHERE NOT pg_try_advisory_xact_lock(k))
          INTO busy
          FROM (SELECT unnest(wanted) AS k EXCEPT SELECT unnest(locked) ORDER BY 1) s;
        IF busy > 0 THEN
            RAISE EXCEPTION 'a merge needs % identifier lock(s) another writer holds', busy
                  USING ERRCODE = 'TL001', DETAIL = wanted::text;
        END IF;
        locked := locked || wanted;
    END LOOP;
END;
$$;

-- Takes the locks of every identifier of customers p_ids, and of p_keys, in the global order,
-- until no identifier of theirs is left unlocked. Used where nothing is locked yet (the
-- administrative functions): when the set grew while it waited, the locks taken are released
-- (the savepoint of the block rolls back) and it starts over with the larger set in order,
-- so it never waits for a lock while holding a greater one. Returns every key held.
CREATE FUNCTION touchline.lock_customer_identifiers_ordered(p_ids uuid[], p_keys bigint[])
RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    keys   bigint[] := coalesce(p_keys, '{}');
    wanted bigint[];
BEGIN
    SELECT keys || coalesce(array_agg(DISTINCT touchline.ident_key(kind, value)), '{}')
      INTO keys
      FROM touchline.identities WHERE customer_id = ANY (p_ids);
    LOOP
        BEGIN
            PERFORM pg_advisory_xact_lock(k) FROM (SELECT DISTINCT unnest(keys) AS k ORDER BY 1) s;
            SELECT coalesce(array_agg(DISTINCT touchline.ident_key(kind, value)), '{}')
              INTO wanted
              FROM touchline.identities WHERE customer_id = ANY (p_ids);
            IF wanted <@ keys THEN
                RETURN keys;
            END IF;
            keys := keys || wanted;
            RAISE EXCEPTION 'identifier set grew' USING ERRCODE = 'TL002';
        EXCEPTION WHEN SQLSTATE 'TL002' THEN
            -- Locks of this attempt released; keys kept (a local variable survives).
            NULL;
        END;
    END LOOP;
END;
$$;

-- As in 003, with every identifier lock taken in order: the customers p_a and p_b stand for
-- (either may be NULL), locked, and their survivors once stable.
CREATE OR REPLACE FUNCTION touchline.lock_pair(p_a uuid, p_b uuid, OUT a uuid, OUT b uuid)
LANGUAGE plpgsql AS $$
DECLARE
    keys bigint[] := '{}';
    ids  uuid[];
BEGIN
    LOOP
        BEGIN
            a := touchline.survivor(p_a);
            b := touchline.survivor(p_b);
            SELECT array_agg(id ORDER BY id) INTO ids FROM touchline.customers
             WHERE id IN (a, b) AND merged_into IS NULL;
            keys := touchline.lock_customer_identifiers_ordered(ids, keys);
            -- Row locks in id order: two admin requests on the same pair cannot deadlock.
            PERFORM 1 FROM touchline.customers WHERE id = ANY (ids) ORDER BY id FOR UPDATE;
            IF a IS NOT DISTINCT FROM touchline.survivor(p_a)
               AND b IS NOT DISTINCT FROM touchline.survivor(p_b) THEN
                EXIT;
            END IF;
            RAISE EXCEPTION 'customers moved' USING ERRCODE = 'TL002';
        EXCEPTION WHEN SQLSTATE 'TL002' THEN
            NULL;
        END;
    END LOOP;
    IF a IS NOT NULL AND NOT EXISTS (SELECT 1 FROM touchline.customers WHERE id = a) THEN
        a := NULL;
    END IF;
    IF b IS NOT NULL AND NOT EXISTS (SELECT 1 FROM touchline.customers WHERE id = b) THEN
        b := NULL;
    END IF;
END;
$$;

-- As in 003, the losers' identifiers only tried (see try_lock_customer_identifiers).
CREATE OR REPLACE FUNCTION touchline.merge_batch(p_survivor uuid[], p_loser uuid[],
                                                 p_final uuid[], p_record uuid[],
                                                 p_source text[])
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM touchline.try_lock_customer_identifiers(p_loser);
    PERFORM touchline.merge_move(p_loser, p_final);
    INSERT INTO touchline.merges (survivor, merged, interaction_id, reason, actor)
    SELECT s, l, rec, 'ingest', src
      FROM unnest(p_survivor, p_loser, p_record, p_source) AS x(s, l, rec, src);
END;
$$;

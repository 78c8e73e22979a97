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

-- Provenance (docs/identity.md, "Provenance and unmerge"). Each identity remembers the record
-- that first brought it (created_at already says when) and the customer it was first
-- attached to; each merge, the identifiers that linked the two customers, and whether and by
-- whom it was undone. Rows from before this migration have no first record, and their own
-- customer as origin.
ALTER TABLE touchline.identities
    ADD COLUMN interaction_id uuid,
    ADD COLUMN origin uuid;
UPDATE touchline.identities SET origin = customer_id;

ALTER TABLE touchline.merges
    ADD COLUMN identifiers jsonb,
    ADD COLUMN undone_at timestamptz,
    ADD COLUMN undone_by text;

-- Pairs of customers kept apart after an unmerge: a record carrying identifiers of both no
-- longer merges them (the identifiers that joined them count as shared between these two).
-- Either id may have been merged into another customer since: the pair then holds for the
-- customers they stand for (touchline.survivor).
CREATE TABLE touchline.apart (
    id          bigserial PRIMARY KEY,
    a           uuid NOT NULL,
    b           uuid NOT NULL,
    merge_id    bigint,
    identifiers jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    actor       text
);
CREATE INDEX apart_a ON touchline.apart (a);
CREATE INDEX apart_b ON touchline.apart (b);

-- What a batch whose plan merges customers must know about them before it settles the plan
-- (asked only by such batches): the pairs among p_ids kept apart, by the ids given, and how
-- many identifiers of each kind each of them holds (for the per-kind limits). Rows:
-- (customer, other, kind, n): a pair has other set; a count has kind set.
CREATE FUNCTION touchline.merge_facts(p_ids uuid[])
RETURNS TABLE (customer uuid, other uuid, kind text, n integer)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM touchline.apart) THEN
        RETURN QUERY
        WITH s AS (SELECT x.id, touchline.survivor(x.id) AS sid FROM unnest(p_ids) AS x(id)),
             p AS (SELECT touchline.survivor(a.a) AS sa, touchline.survivor(a.b) AS sb
                     FROM touchline.apart a
                    WHERE a.a IN (SELECT c.id FROM touchline.customers c
                                   WHERE c.id IN (SELECT sid FROM s)
                                      OR c.merged_into IN (SELECT sid FROM s))
                       OR a.b IN (SELECT c.id FROM touchline.customers c
                                   WHERE c.id IN (SELECT sid FROM s)
                                      OR c.merged_into IN (SELECT sid FROM s)))
        SELECT s1.id, s2.id, NULL::text, NULL::integer
          FROM p JOIN s s1 ON s1.sid = p.sa JOIN s s2 ON s2.sid = p.sb
         WHERE s1.id <> s2.id;
    END IF;
    RETURN QUERY
    SELECT i.customer_id, NULL::uuid, i.kind::text, count(*)::integer
      FROM touchline.identities i
     WHERE i.customer_id = ANY (p_ids)
     GROUP BY 1, 3;
END;
$$;

-- As in 003, the losers' identifiers only tried (see try_lock_customer_identifiers), and each
-- merge's linking identifiers kept: those of the record (p_idents, its identifiers as JSON)
-- that the database already held, with the customer each belonged to.
CREATE FUNCTION touchline.merge_batch(p_survivor uuid[], p_loser uuid[], p_final uuid[],
                                      p_record uuid[], p_source text[], p_idents text[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    links jsonb[];
BEGIN
    PERFORM touchline.try_lock_customer_identifiers(p_loser);
    SELECT array_agg((SELECT coalesce(jsonb_agg(jsonb_build_object('kind', i.kind,
                                                                   'value', i.value,
                                                                   'customer', i.customer_id)
                                                ORDER BY i.kind, i.value), '[]')
                        FROM jsonb_array_elements(x.ids::jsonb) e
                        JOIN touchline.identities i
                          ON i.kind = e ->> 'k' AND i.value = e ->> 'v')
                     ORDER BY x.o)
      INTO links
      FROM unnest(p_idents) WITH ORDINALITY AS x(ids, o);
    PERFORM touchline.merge_move(p_loser, p_final);
    INSERT INTO touchline.merges (survivor, merged, interaction_id, reason, actor, identifiers)
    SELECT s, l, rec, 'ingest', src, lk
      FROM unnest(p_survivor, p_loser, p_record, p_source, links) AS x(s, l, rec, src, lk);
END;
$$;

-- An identity as the provenance answers show it.
CREATE FUNCTION touchline.identity_json(i touchline.identities) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT touchline.drop_null_keys(jsonb_build_object(
        'kind', i.kind, 'value', i.value,
        'first_seen', touchline.fmt_ts(i.created_at),
        'first_record', (SELECT touchline.drop_null_keys(jsonb_build_object(
                                    'id', r.id, 'source', r.source,
                                    'external_id', r.external_id,
                                    'occurred_at', touchline.fmt_ts(r.occurred_at)))
                           FROM touchline.interactions r WHERE r.id = i.interaction_id),
        'first_customer', i.origin))
$$;

CREATE FUNCTION touchline.merge_json(m touchline.merges) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT touchline.drop_null_keys(jsonb_build_object(
        'merge_id', m.id, 'survivor', m.survivor, 'merged', m.merged,
        'merged_at', touchline.fmt_ts(m.merged_at), 'reason', m.reason,
        'record', (SELECT touchline.drop_null_keys(jsonb_build_object(
                              'id', r.id, 'source', r.source, 'external_id', r.external_id,
                              'occurred_at', touchline.fmt_ts(r.occurred_at)))
                     FROM touchline.interactions r WHERE r.id = m.interaction_id),
        'source', CASE WHEN m.reason = 'ingest' THEN m.actor END,
        'principal', CASE WHEN m.reason <> 'ingest' THEN m.actor END,
        'identifiers', m.identifiers,
        'undone_at', touchline.fmt_ts(m.undone_at), 'undone_by', m.undone_by))
$$;

-- GET /v1/customers/{id}/identities: every identity of the customer p_id stands for, where
-- each came from, every merge that made the customer (undone ones included), and the pairs
-- kept apart. NULL when the customer is unknown.
CREATE FUNCTION touchline.identities_json(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s   uuid;
    ids uuid[];
BEGIN
    IF p_id IS NULL THEN
        RETURN NULL;
    END IF;
    s := touchline.survivor(p_id);
    IF NOT EXISTS (SELECT 1 FROM touchline.customers WHERE id = s) THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(id) INTO ids FROM touchline.customers WHERE id = s OR merged_into = s;
    RETURN jsonb_build_object(
        'customer_id', s,
        'identities', coalesce((SELECT jsonb_agg(touchline.identity_json(i)
                                                 ORDER BY i.kind, i.value)
                                  FROM touchline.identities i WHERE i.customer_id = s), '[]'),
        'merges', coalesce((SELECT jsonb_agg(touchline.merge_json(m) ORDER BY m.id)
                              FROM touchline.merges m
                             WHERE m.survivor = ANY (ids) OR m.merged = ANY (ids)), '[]'),
        'kept_apart', coalesce((SELECT jsonb_agg(touchline.drop_null_keys(jsonb_build_object(
                                    'apart_id', a.id,
                                    'other', CASE WHEN a.a = ANY (ids) THEN a.b ELSE a.a END,
                                    'merge_id', a.merge_id, 'identifiers', a.identifiers,
                                    'since', touchline.fmt_ts(a.created_at),
                                    'principal', a.actor)) ORDER BY a.id)
                                  FROM touchline.apart a
                                 WHERE a.a = ANY (ids) OR a.b = ANY (ids)), '[]'));
END;
$$;

-- The merges that took customer p_from, step by step, into what it is part of now: each
-- merged-away customer has at most one merge that is not undone.
CREATE FUNCTION touchline.merge_path(p_from uuid) RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur  uuid := p_from;
    path bigint[] := '{}';
    m    touchline.merges;
BEGIN
    FOR i IN 1..64 LOOP
        SELECT * INTO m FROM touchline.merges
         WHERE merged = cur AND undone_at IS NULL ORDER BY id DESC LIMIT 1;
        EXIT WHEN NOT FOUND;
        path := path || m.id;
        cur := m.survivor;
    END LOOP;
    RETURN path;
END;
$$;

-- touchline customer why: how two identifiers came to be one customer. NULL when either is
-- unknown; {"joined":false,…} when they are two customers; else both identities with the record
-- that first brought each, and the merges, in order, that joined the customers they first
-- belonged to.
CREATE FUNCTION touchline.why_json(p_kind1 text, p_value1 text, p_kind2 text, p_value2 text)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    i1 touchline.identities;
    i2 touchline.identities;
    p1 bigint[];
    p2 bigint[];
    keep bigint[];
BEGIN
    SELECT * INTO i1 FROM touchline.identities WHERE kind = p_kind1 AND value = p_value1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO i2 FROM touchline.identities WHERE kind = p_kind2 AND value = p_value2;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF i1.customer_id <> i2.customer_id THEN
        RETURN jsonb_build_object('joined', false,
                                  'a', touchline.identity_json(i1) || jsonb_build_object(
                                           'customer', i1.customer_id),
                                  'b', touchline.identity_json(i2) || jsonb_build_object(
                                           'customer', i2.customer_id));
    END IF;
    p1 := touchline.merge_path(coalesce(i1.origin, i1.customer_id));
    p2 := touchline.merge_path(coalesce(i2.origin, i2.customer_id));
    -- The merges on one path and not the other: from each first customer up to where the
    -- paths meet.
    SELECT coalesce(array_agg(x ORDER BY x), '{}') INTO keep
      FROM (SELECT unnest(p1) EXCEPT SELECT unnest(p2)
            UNION
            (SELECT unnest(p2) EXCEPT SELECT unnest(p1))) s(x);
    RETURN jsonb_build_object(
        'joined', true,
        'customer', i1.customer_id,
        'a', touchline.identity_json(i1),
        'b', touchline.identity_json(i2),
        'merges', coalesce((SELECT jsonb_agg(touchline.merge_json(m) ORDER BY m.id)
                              FROM touchline.merges m WHERE m.id = ANY (keep)), '[]'));
END;
$$;

-- POST /v1/customers/{id}/unmerge: undoes merge p_merge of the customer p_id stands for.
--
-- The rule (docs/identity.md): the merged-away customer L comes back with its id; with it come
-- the customers that had been merged into L before (its group at the time), every identity
-- whose first customer is in that group, and every record of the customer that now holds them
-- whose identifiers are only those identities (records that arrived after the merge with L's
-- identifiers alone come back too; a record carrying identifiers of both sides stays). Merges
-- made later on top (the survivor merged into another customer, other customers merged in)
-- stay: L is taken out of whatever customer it is part of now. The pair is then kept apart.
-- Returns what happened; NULL when the customer is unknown; P0002 for an unknown merge; 22023
-- for a merge of another customer or one already undone.
CREATE FUNCTION touchline.unmerge(p_id uuid, p_merge bigint, p_actor text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    m     touchline.merges;
    s     uuid;
    l     uuid;
    grp   uuid[];
    n_id  integer;
    n_in  integer;
    apart bigint;
BEGIN
    SELECT * INTO m FROM touchline.merges WHERE id = p_merge;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'merge_id: no merge %', p_merge USING ERRCODE = 'no_data_found';
    END IF;
    SELECT a, b INTO s, l FROM touchline.lock_pair(p_id, m.merged);
    IF s IS NULL THEN
        RETURN NULL;
    END IF;
    -- Re-read under the locks: a concurrent unmerge may have got there first.
    SELECT * INTO m FROM touchline.merges WHERE id = p_merge;
    IF m.undone_at IS NOT NULL THEN
        RAISE EXCEPTION 'merge_id: merge % was undone at %', p_merge, touchline.fmt_ts(m.undone_at)
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF l IS DISTINCT FROM s THEN
        RAISE EXCEPTION 'merge_id: merge % is not part of customer %', p_merge, s
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH RECURSIVE g(id) AS (
        SELECT m.merged
        UNION
        SELECT x.merged FROM touchline.merges x JOIN g ON x.survivor = g.id
         WHERE x.id < m.id AND x.undone_at IS NULL)
    SELECT array_agg(id) INTO grp FROM g;
    l := m.merged;

    CREATE TEMP TABLE IF NOT EXISTS unmerge_back (kind text COLLATE "C", value text COLLATE "C",
                                                  PRIMARY KEY (kind, value)) ON COMMIT DROP;
    TRUNCATE unmerge_back;
    INSERT INTO unmerge_back
    SELECT kind, value FROM touchline.identities WHERE customer_id = s AND origin = ANY (grp);
    UPDATE touchline.identities i SET customer_id = l
      FROM unmerge_back b WHERE i.kind = b.kind AND i.value = b.value AND i.customer_id = s;
    GET DIAGNOSTICS n_id = ROW_COUNT;
    UPDATE touchline.interactions r SET customer_id = l
     WHERE r.customer_id = s
       AND EXISTS (SELECT 1 FROM jsonb_array_elements(r.identifiers) e
                     JOIN unmerge_back b ON b.kind = e ->> 'k' AND b.value = e ->> 'v')
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(r.identifiers) e
                        JOIN touchline.identities i ON i.kind = e ->> 'k' AND i.value = e ->> 'v'
                       WHERE i.customer_id = s);
    GET DIAGNOSTICS n_in = ROW_COUNT;
    UPDATE touchline.customers SET merged_into = NULL, merged_at = NULL WHERE id = l;
    UPDATE touchline.customers SET merged_into = l WHERE id = ANY (grp) AND id <> l;
    UPDATE touchline.merges SET undone_at = now(), undone_by = p_actor WHERE id = m.id;
    INSERT INTO touchline.apart (a, b, merge_id, identifiers, actor)
    VALUES (m.survivor, l, m.id, m.identifiers, p_actor)
    RETURNING id INTO apart;
    RETURN jsonb_build_object('unmerged', true, 'merge_id', m.id, 'customer', s, 'restored', l,
                              'identities', n_id, 'interactions', n_in, 'apart_id', apart);
END;
$$;

-- Removes a pair kept apart (DELETE /v1/customers/{id}/apart/{apart_id}): records may merge
-- the two again. NULL when the customer or pair is unknown, or the pair is not the customer's.
CREATE FUNCTION touchline.remove_apart(p_id uuid, p_apart bigint, p_actor text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a touchline.apart;
    s uuid;
BEGIN
    s := touchline.survivor(p_id);
    SELECT * INTO a FROM touchline.apart WHERE id = p_apart;
    IF NOT FOUND OR s IS NULL
       OR s NOT IN (touchline.survivor(a.a), touchline.survivor(a.b)) THEN
        RETURN NULL;
    END IF;
    DELETE FROM touchline.apart WHERE id = p_apart;
    RETURN jsonb_build_object('removed', true, 'apart_id', p_apart, 'a', a.a, 'b', a.b,
                              'principal', p_actor);
END;
$$;

-- Merge protection (docs/identity.md, "Merge protection"): merges a per-kind identifier limit
-- refused, for review. A record whose identifiers reached customers `customer` (where it went)
-- and `other`, which merging would have given `would_have` identifiers of `kind`.
CREATE TABLE touchline.conflicts (
    id             bigserial PRIMARY KEY,
    created_at     timestamptz NOT NULL DEFAULT now(),
    interaction_id uuid,
    customer       uuid NOT NULL,
    other          uuid NOT NULL,
    kind           text NOT NULL,
    would_have     integer NOT NULL,
    identifiers    jsonb,
    status         text NOT NULL DEFAULT 'open',   -- open, merged, dismissed
    resolved_at    timestamptz,
    resolved_by    text
);
CREATE INDEX conflicts_open ON touchline.conflicts (id) WHERE status = 'open';
CREATE INDEX conflicts_created ON touchline.conflicts (created_at);

-- Written by ingest in the batch's transaction: $1 records, $2 customers, $3 others, $4 kinds,
-- $5 counts, $6 the records' identifiers (JSON texts).
CREATE FUNCTION touchline.add_conflicts(p_record uuid[], p_customer uuid[], p_other uuid[],
                                        p_kind text[], p_would integer[], p_idents text[])
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO touchline.conflicts (interaction_id, customer, other, kind, would_have,
                                     identifiers)
    SELECT r, c, o, k, w, i::jsonb
      FROM unnest(p_record, p_customer, p_other, p_kind, p_would, p_idents)
           AS x(r, c, o, k, w, i);
$$;

-- Identifiers that linked more than p_threshold customers in the last day, through merges or
-- refused merges: a test number or a shared address at work.
CREATE FUNCTION touchline.suspects_json(p_threshold integer) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('kind', kind, 'value', value,
                                                 'customers', n) ORDER BY n DESC, kind, value),
                    '[]')
      FROM (SELECT e ->> 'k' AS kind, e ->> 'v' AS value,
                   count(DISTINCT c) AS n
              FROM (SELECT identifiers AS ids, ARRAY[customer, other] AS cs
                      FROM touchline.conflicts
                     WHERE created_at > now() - interval '1 day'
                    UNION ALL
                    SELECT r.identifiers, ARRAY[m.survivor, m.merged]
                      FROM touchline.merges m
                      JOIN touchline.interactions r ON r.id = m.interaction_id
                     WHERE m.merged_at > now() - interval '1 day') x
             CROSS JOIN LATERAL jsonb_array_elements(x.ids) e
             CROSS JOIN LATERAL unnest(x.cs) c
             GROUP BY 1, 2
            HAVING count(DISTINCT c) > p_threshold) s
$$;

-- GET /v1/conflicts: the open ones (p_all: every one), newest first, at most p_limit, with
-- the suspect identifiers.
CREATE FUNCTION touchline.conflicts_json(p_all boolean, p_limit integer, p_threshold integer)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'conflicts', coalesce((
            SELECT jsonb_agg(touchline.drop_null_keys(jsonb_build_object(
                       'conflict_id', c.id, 'at', touchline.fmt_ts(c.created_at),
                       'customer', touchline.survivor(c.customer),
                       'other', touchline.survivor(c.other),
                       'kind', c.kind, 'would_have', c.would_have,
                       'identifiers', c.identifiers,
                       'record', (SELECT touchline.drop_null_keys(jsonb_build_object(
                                             'id', r.id, 'source', r.source,
                                             'external_id', r.external_id))
                                    FROM touchline.interactions r WHERE r.id = c.interaction_id),
                       'status', c.status, 'resolved_at', touchline.fmt_ts(c.resolved_at),
                       'resolved_by', c.resolved_by)) ORDER BY c.id DESC)
              FROM (SELECT * FROM touchline.conflicts
                     WHERE p_all OR status = 'open' ORDER BY id DESC LIMIT p_limit) c), '[]'),
        'suspects', touchline.suspects_json(p_threshold))
$$;

-- POST /v1/conflicts/{id}/resolve: "merge" merges the two customers by hand (limits do not
-- apply to a person's decision), "dismiss" leaves them apart; either closes the conflict.
-- NULL when the conflict is unknown; 22023 when it is closed already or the action unknown.
CREATE FUNCTION touchline.resolve_conflict(p_id bigint, p_action text, p_actor text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c touchline.conflicts;
    profile jsonb;
BEGIN
    SELECT * INTO c FROM touchline.conflicts WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF c.status <> 'open' THEN
        RAISE EXCEPTION 'conflict % is %', p_id, c.status USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_action = 'merge' THEN
        IF touchline.survivor(c.customer) <> touchline.survivor(c.other) THEN
            profile := touchline.merge_manual(c.customer, c.other, p_actor);
        END IF;
        UPDATE touchline.conflicts SET status = 'merged', resolved_at = now(), resolved_by = p_actor
         WHERE id = p_id;
    ELSIF p_action = 'dismiss' THEN
        UPDATE touchline.conflicts SET status = 'dismissed', resolved_at = now(),
                                       resolved_by = p_actor
         WHERE id = p_id;
    ELSE
        RAISE EXCEPTION 'action: "%" is not merge or dismiss', p_action
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN jsonb_build_object('conflict_id', p_id, 'status',
                              CASE WHEN p_action = 'merge' THEN 'merged' ELSE 'dismissed' END,
                              'customer', touchline.survivor(c.customer),
                              'other', touchline.survivor(c.other));
END;
$$;

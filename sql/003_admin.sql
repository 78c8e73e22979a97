-- Customer administration (merge by hand, erasure) and the agent's context, next to the data
-- so that one round trip answers one request. Merging by hand and merging at ingest share
-- their locking and their moves: merge_batch is redefined on top of the same two functions.

-- Erasures leave this and nothing else: no id, name, identifier or content of the person.
CREATE TABLE touchline.erasures (
    id           bigserial PRIMARY KEY,
    erased_at    timestamptz NOT NULL DEFAULT now(),
    actor        text,
    customers    integer NOT NULL,
    identities   integer NOT NULL,
    interactions integer NOT NULL,
    merges       integer NOT NULL
);

-- Takes the advisory locks of every identifier the given customers hold, in addition to
-- those already taken (p_locked), until no identifier of theirs is left unlocked: a writer
-- may attach one between the read and the lock. Returns every lock now held.
CREATE FUNCTION touchline.lock_customer_identifiers(p_ids uuid[], p_locked bigint[])
RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    locked bigint[] := coalesce(p_locked, '{}');
    wanted bigint[];
BEGIN
    LOOP
        SELECT coalesce(array_agg(DISTINCT hashtextextended(kind || ':' || value, 0)), '{}')
          INTO wanted
          FROM touchline.identities WHERE customer_id = ANY (p_ids);
        EXIT WHEN wanted <@ locked;
        PERFORM pg_advisory_xact_lock(k)
           FROM (SELECT unnest(wanted) AS k EXCEPT SELECT unnest(locked) ORDER BY 1) s;
        locked := locked || wanted;
    END LOOP;
    RETURN locked;
END;
$$;

-- Moves every customer p_loser[i] into p_final[i]: name (when the survivor has none),
-- traits (the survivor's win), identifiers, records and earlier redirects.
CREATE FUNCTION touchline.merge_move(p_loser uuid[], p_final uuid[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.name, c.traits, m.fin
               FROM unnest(p_loser, p_final) WITH ORDINALITY AS m(los, fin, o)
               JOIN touchline.customers c ON c.id = m.los
              WHERE c.id = ANY (p_loser)
              ORDER BY m.o LOOP
        UPDATE touchline.customers
           SET name = coalesce(name, r.name), traits = r.traits || traits
         WHERE id = r.fin;
    END LOOP;
    -- Each statement also says "= ANY (p_loser)" so that the planner reaches the rows
    -- through the index rather than joining the whole table to the list.
    UPDATE touchline.identities i SET customer_id = m.fin
      FROM unnest(p_loser, p_final) AS m(los, fin)
     WHERE i.customer_id = ANY (p_loser) AND i.customer_id = m.los;
    UPDATE touchline.interactions i SET customer_id = m.fin
      FROM unnest(p_loser, p_final) AS m(los, fin)
     WHERE i.customer_id = ANY (p_loser) AND i.customer_id = m.los;
    UPDATE touchline.customers c SET merged_into = m.fin
      FROM unnest(p_loser, p_final) AS m(los, fin)
     WHERE c.merged_into = ANY (p_loser) AND c.merged_into = m.los;
    UPDATE touchline.customers c SET merged_into = m.fin, merged_at = now()
      FROM unnest(p_loser, p_final) AS m(los, fin)
     WHERE c.id = ANY (p_loser) AND c.id = m.los;
END;
$$;

-- As in 001, now on the shared lock and move functions.
CREATE OR REPLACE FUNCTION touchline.merge_batch(p_survivor uuid[], p_loser uuid[],
                                                 p_final uuid[], p_record uuid[],
                                                 p_source text[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    saved text := current_setting('lock_timeout');
BEGIN
    -- The losers' other identifiers are locked out of the batch's global order, so two
    -- merging writers can wait on each other; PostgreSQL would break that cycle only after
    -- deadlock_timeout (1 s, superuser-only). A short lock_timeout breaks it sooner and the
    -- daemon retries the batch on lock_not_available.
    PERFORM set_config('lock_timeout', '200ms', true);
    PERFORM touchline.lock_customer_identifiers(p_loser, NULL);
    PERFORM set_config('lock_timeout', saved, true);
    PERFORM touchline.merge_move(p_loser, p_final);
    INSERT INTO touchline.merges (survivor, merged, interaction_id, reason, actor)
    SELECT s, l, rec, 'ingest', src
      FROM unnest(p_survivor, p_loser, p_record, p_source) AS x(s, l, rec, src);
END;
$$;

-- Locks the customers that p_a and p_b stand for (either may be NULL), with the identifier
-- locks that keep ingest off them, and returns their survivors once these are stable: a
-- concurrent merge may move either while we wait. A survivor that does not exist is NULL.
CREATE FUNCTION touchline.lock_pair(p_a uuid, p_b uuid, OUT a uuid, OUT b uuid)
LANGUAGE plpgsql AS $$
DECLARE
    locked bigint[] := '{}';
    ids    uuid[];
BEGIN
    LOOP
        a := touchline.survivor(p_a);
        b := touchline.survivor(p_b);
        SELECT array_agg(id ORDER BY id) INTO ids FROM touchline.customers
         WHERE id IN (a, b) AND merged_into IS NULL;
        locked := touchline.lock_customer_identifiers(ids, locked);
        -- Row locks in id order: two admin requests on the same pair cannot deadlock.
        PERFORM 1 FROM touchline.customers WHERE id = ANY (ids) ORDER BY id FOR UPDATE;
        EXIT WHEN a IS NOT DISTINCT FROM touchline.survivor(p_a)
              AND b IS NOT DISTINCT FROM touchline.survivor(p_b);
    END LOOP;
    IF a IS NOT NULL AND NOT EXISTS (SELECT 1 FROM touchline.customers WHERE id = a) THEN
        a := NULL;
    END IF;
    IF b IS NOT NULL AND NOT EXISTS (SELECT 1 FROM touchline.customers WHERE id = b) THEN
        b := NULL;
    END IF;
END;
$$;

-- Merges p_from (or its survivor) into p_into (or its survivor) by hand. Returns the
-- survivor's profile, or NULL when p_into is unknown; raises no_data_found (P0002) when
-- p_from is, and invalid_parameter_value (22023) when they are already one customer.
CREATE FUNCTION touchline.merge_manual(p_into uuid, p_from uuid, p_actor text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s uuid;
    f uuid;
BEGIN
    SELECT a, b INTO s, f FROM touchline.lock_pair(p_into, p_from);
    IF s IS NULL THEN
        RETURN NULL;
    END IF;
    IF f IS NULL THEN
        RAISE EXCEPTION 'from: no customer %', p_from USING ERRCODE = 'no_data_found';
    END IF;
    IF s = f THEN
        RAISE EXCEPTION 'from: % is already part of customer %', p_from, s
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM touchline.merge_move(ARRAY[f], ARRAY[s]);
    INSERT INTO touchline.merges (survivor, merged, reason, actor)
    VALUES (s, f, 'manual', p_actor);
    RETURN touchline.profile_json(s);
END;
$$;

-- Erases the customer p_id stands for, every customer merged into it, and all their rows.
-- Returns what was removed, or NULL when the customer is unknown.
CREATE FUNCTION touchline.erase_customer(p_id uuid, p_actor text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s     uuid;
    ids   uuid[];
    n_c   integer;
    n_id  integer;
    n_in  integer;
    n_m   integer;
    audit bigint;
BEGIN
    SELECT a INTO s FROM touchline.lock_pair(p_id, NULL);
    IF s IS NULL THEN
        RETURN NULL;
    END IF;
    -- Merges point every merged-away id straight at its survivor.
    SELECT array_agg(id) INTO ids FROM touchline.customers WHERE id = s OR merged_into = s;
    DELETE FROM touchline.identities WHERE customer_id = ANY (ids);
    GET DIAGNOSTICS n_id = ROW_COUNT;
    DELETE FROM touchline.interactions WHERE customer_id = ANY (ids);
    GET DIAGNOSTICS n_in = ROW_COUNT;
    DELETE FROM touchline.merges WHERE survivor = ANY (ids) OR merged = ANY (ids);
    GET DIAGNOSTICS n_m = ROW_COUNT;
    -- Redirects first: merged_into references the survivor.
    DELETE FROM touchline.customers WHERE id = ANY (ids) AND id <> s;
    DELETE FROM touchline.customers WHERE id = s;
    n_c := cardinality(ids);
    INSERT INTO touchline.erasures (actor, customers, identities, interactions, merges)
    VALUES (p_actor, n_c, n_id, n_in, n_m)
    RETURNING id INTO audit;
    RETURN jsonb_build_object('erased', true, 'erasure_id', audit, 'customers', n_c,
                              'identities', n_id, 'interactions', n_in);
END;
$$;

-- What an agent needs when the customer gets in touch (docs/api.md, "Context"). NULL when
-- the customer is unknown.
CREATE FUNCTION touchline.context_json(p_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s    uuid;
    c    touchline.customers;
    now_ timestamptz := clock_timestamp();
    last timestamptz;
BEGIN
    IF p_id IS NULL THEN
        RETURN NULL;
    END IF;
    s := touchline.survivor(p_id);
    SELECT * INTO c FROM touchline.customers WHERE id = s;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT max(occurred_at) INTO last FROM touchline.interactions WHERE customer_id = s;
    RETURN jsonb_build_object(
        'customer', jsonb_build_object(
            'id', c.id,
            'name', c.name,
            'identities', coalesce((SELECT jsonb_agg(jsonb_build_object('kind', kind,
                                                                        'value', value)
                                                     ORDER BY kind, value)
                                      FROM touchline.identities WHERE customer_id = s), '[]')),
        'now', touchline.fmt_ts(now_),
        'last_contact_at', touchline.fmt_ts(last),
        'seconds_since_last_contact', floor(extract(epoch FROM now_ - last))::bigint,
        'last_by_channel', coalesce((
            SELECT jsonb_agg(touchline.interaction_json(x) ORDER BY x.occurred_at DESC, x.id DESC)
              FROM (SELECT DISTINCT ON (channel) *
                      FROM touchline.interactions WHERE customer_id = s
                     ORDER BY channel, occurred_at DESC, id DESC) x), '[]'),
        'open_threads', coalesce((
            SELECT jsonb_agg(touchline.drop_null_keys(jsonb_build_object(
                       'thread', t.thread, 'channel', t.channel, 'records', t.records,
                       'first_at', touchline.fmt_ts(t.first_at),
                       'last_at', touchline.fmt_ts(t.last_at),
                       'last_direction', t.last_direction, 'subject', t.subject))
                       ORDER BY t.last_at DESC, t.thread)
              FROM (SELECT thread,
                           (array_agg(channel ORDER BY occurred_at DESC, id DESC))[1] AS channel,
                           count(*) AS records,
                           min(occurred_at) AS first_at, max(occurred_at) AS last_at,
                           (array_agg(direction ORDER BY occurred_at DESC, id DESC))[1]
                               AS last_direction,
                           (array_agg(subject ORDER BY occurred_at DESC, id DESC)
                               FILTER (WHERE subject IS NOT NULL AND subject <> ''))[1]
                               AS subject
                      FROM touchline.interactions
                     WHERE customer_id = s AND thread IS NOT NULL
                     GROUP BY thread
                    HAVING (array_agg(direction ORDER BY occurred_at DESC, id DESC))[1]
                               = 'inbound'
                        OR NOT bool_or(coalesce('resolved' = ANY (tags), false))
                     ORDER BY max(occurred_at) DESC, thread
                     LIMIT 20) t), '[]'),
        'stage', (SELECT jsonb_build_object('value', stage, 'at', touchline.fmt_ts(occurred_at))
                    FROM touchline.interactions WHERE customer_id = s AND stage IS NOT NULL
                   ORDER BY occurred_at DESC, id DESC LIMIT 1),
        'sentiment', (SELECT jsonb_build_object('value', sentiment,
                                                'at', touchline.fmt_ts(occurred_at))
                        FROM touchline.interactions
                       WHERE customer_id = s AND sentiment IS NOT NULL
                       ORDER BY occurred_at DESC, id DESC LIMIT 1),
        'score', (SELECT jsonb_build_object('value', score, 'at', touchline.fmt_ts(occurred_at))
                    FROM touchline.interactions WHERE customer_id = s AND score IS NOT NULL
                   ORDER BY occurred_at DESC, id DESC LIMIT 1),
        'last_7_days', (SELECT jsonb_build_object('contacts', count(*),
                                                  'channels', count(DISTINCT channel))
                          FROM touchline.interactions
                         WHERE customer_id = s AND occurred_at > now_ - interval '7 days'
                           AND occurred_at <= now_));
END;
$$;

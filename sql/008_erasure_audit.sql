-- Erasure that stays erased, and an audit log of every admin action (docs/security.md).
--
-- An erased person's records must not come back: an adapter's retry, a record still in the
-- spool or a batch in flight would otherwise store them again. Erasure leaves a tombstone per
-- erased record, a salted SHA-256 of its keys ((source, external_id), and its id), so that a
-- later copy is answered "erased" and not stored, and the tombstones themselves hold nothing
-- that names the person: without the salt, which never leaves the database, a guess of a
-- source and external id cannot even be checked against them.

CREATE TABLE touchline.secrets (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);
-- 244 random bits from PostgreSQL's strong generator (two version-4 UUIDs).
INSERT INTO touchline.secrets (name, value)
VALUES ('salt', decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''),
                       'hex'));

-- The salted hash of one key: kind 'x' for "source external_id" (a source holds no space),
-- 'i' for a record id, 'c' for a customer id in the audit log.
CREATE FUNCTION touchline.salted_key(p_kind text, p_text text)
RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT sha256((SELECT value FROM touchline.secrets WHERE name = 'salt')
                  || convert_to(p_kind || ':' || p_text, 'UTF8'))
$$;

CREATE TABLE touchline.tombstones (
    key       bytea PRIMARY KEY,
    erased_at timestamptz NOT NULL DEFAULT now()
);

-- Who did what to which customer (as a salted hash: the log outlives the person).
CREATE TABLE touchline.audit (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    principal     text NOT NULL,
    action        text NOT NULL CHECK (action IN ('merge', 'erase', 'export')),
    customer_hash text NOT NULL
);

CREATE FUNCTION touchline.audit_log(p_principal text, p_action text, p_customer uuid)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO touchline.audit (principal, action, customer_hash)
    VALUES (coalesce(p_principal, 'anonymous'), p_action,
            encode(touchline.salted_key('c', p_customer::text), 'hex'))
$$;

-- The audit log, newest first, p_limit entries before id p_before (NULL: the newest).
CREATE FUNCTION touchline.audit_json(p_limit integer, p_before bigint)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'items', coalesce(jsonb_agg(jsonb_build_object(
                     'id', id, 'at', touchline.fmt_ts(at), 'principal', principal,
                     'action', action, 'customer_hash', customer_hash) ORDER BY id DESC), '[]'),
        'next_before', CASE WHEN count(*) = p_limit THEN min(id) END)
      FROM (SELECT * FROM touchline.audit
             WHERE p_before IS NULL OR id < p_before
             ORDER BY id DESC LIMIT p_limit) a
$$;

-- As in 003, and leaving tombstones of every erased record and an audit entry.
CREATE OR REPLACE FUNCTION touchline.erase_customer(p_id uuid, p_actor text)
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
    INSERT INTO touchline.tombstones (key)
    SELECT touchline.salted_key('i', id::text) FROM touchline.interactions
     WHERE customer_id = ANY (ids)
    UNION
    SELECT touchline.salted_key('x', source || ' ' || external_id) FROM touchline.interactions
     WHERE customer_id = ANY (ids) AND external_id IS NOT NULL
    ON CONFLICT DO NOTHING;
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
    PERFORM touchline.audit_log(p_actor, 'erase', s);
    RETURN jsonb_build_object('erased', true, 'erasure_id', audit, 'customers', n_c,
                              'identities', n_id, 'interactions', n_in);
END;
$$;

-- A merge by hand is recorded in merges with its actor (003's merge_manual): audit it there,
-- rather than by another copy of that function.
CREATE FUNCTION touchline.audit_manual_merge() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM touchline.audit_log(NEW.actor, 'merge', NEW.survivor);
    RETURN NULL;
END;
$$;
CREATE TRIGGER merges_audit AFTER INSERT ON touchline.merges
    FOR EACH ROW WHEN (NEW.reason = 'manual') EXECUTE FUNCTION touchline.audit_manual_merge();

-- The right of access: everything stored about a person, in two parts so that the daemon can
-- stream a person with 100 000 records. First the head (profile, identities with the record
-- that first carried each, merges), which also writes the audit entry; NULL when unknown.
CREATE FUNCTION touchline.export_head(p_id uuid, p_principal text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s   uuid;
    ids uuid[];
BEGIN
    s := touchline.survivor(p_id);
    IF s IS NULL OR NOT EXISTS (SELECT 1 FROM touchline.customers WHERE id = s) THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(id) INTO ids FROM touchline.customers WHERE id = s OR merged_into = s;
    PERFORM touchline.audit_log(p_principal, 'export', s);
    RETURN jsonb_build_object(
        'export_version', 1,
        'exported_at', touchline.fmt_ts(now()),
        'customer_id', s,
        'profile', touchline.profile_json(s),
        'identities', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'kind', i.kind, 'value', i.value,
                       'first_seen', touchline.fmt_ts(i.created_at),
                       'first_record', (SELECT x.id FROM touchline.interactions x
                                         WHERE x.customer_id = s
                                           AND x.identifiers @> jsonb_build_array(
                                               jsonb_build_object('k', i.kind, 'v', i.value))
                                         ORDER BY x.received_at, x.id LIMIT 1))
                   ORDER BY i.kind, i.value)
              FROM touchline.identities i WHERE i.customer_id = s), '[]'),
        'merges', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'survivor', m.survivor, 'merged', m.merged,
                       'merged_at', touchline.fmt_ts(m.merged_at), 'reason', m.reason,
                       'record', m.interaction_id, 'actor', m.actor) ORDER BY m.id)
              FROM touchline.merges m WHERE m.survivor = ANY (ids) OR m.merged = ANY (ids)),
            '[]'));
END;
$$;

-- Then the records, oldest first, p_limit at a time after the (occurred_at, id) cursor:
-- the page as a JSON array and the cursor of its last record.
CREATE FUNCTION touchline.export_page(p_id uuid, p_after_ts timestamptz, p_after_id uuid,
                                      p_limit integer,
                                      OUT doc jsonb, OUT last_ts text, OUT last_id uuid,
                                      OUT n integer)
LANGUAGE sql STABLE AS $$
    WITH page AS (
        SELECT i.occurred_at, i.id,
               touchline.interaction_json(i)
               || jsonb_build_object('identifiers', i.identifiers,
                                     'received_at', touchline.fmt_ts(i.received_at)) AS d
          FROM touchline.interactions i
         WHERE i.customer_id = touchline.survivor(p_id)
           AND (p_after_ts IS NULL OR (i.occurred_at, i.id) > (p_after_ts, p_after_id))
         ORDER BY i.occurred_at, i.id
         LIMIT p_limit)
    SELECT coalesce(jsonb_agg(d ORDER BY occurred_at, id), '[]'),
           (SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
              FROM page ORDER BY occurred_at DESC, id DESC LIMIT 1),
           (SELECT id FROM page ORDER BY occurred_at DESC, id DESC LIMIT 1),
           count(*)::integer
      FROM page
$$;

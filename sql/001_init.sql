-- touchline schema: customers, their identifiers, their interactions, and merges.
-- Applied by touchlined at start (or touchlined --migrate) inside one transaction under an
-- advisory lock; recorded in touchline.schema_migrations.

CREATE SCHEMA IF NOT EXISTS touchline;

CREATE TABLE touchline.customers (
    id          uuid PRIMARY KEY,
    -- Creation order: "merged into the one created first" compares this, not a timestamp
    -- that two transactions can share.
    seq         bigserial NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    name        text,
    traits      jsonb NOT NULL DEFAULT '{}',
    merged_into uuid REFERENCES touchline.customers (id),
    merged_at   timestamptz
);
CREATE INDEX customers_merged_into ON touchline.customers (merged_into)
    WHERE merged_into IS NOT NULL;

CREATE TABLE touchline.identities (
    kind        text NOT NULL,
    value       text NOT NULL,
    customer_id uuid NOT NULL REFERENCES touchline.customers (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value)
);
CREATE INDEX identities_customer ON touchline.identities (customer_id);

CREATE TABLE touchline.interactions (
    id          uuid PRIMARY KEY,
    source      text NOT NULL,
    external_id text,
    customer_id uuid NOT NULL REFERENCES touchline.customers (id),
    channel     text NOT NULL,
    direction   text NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    agent       text,
    status      text,
    duration_s  integer,
    subject     text,
    body        text,
    thread      text,
    stage       text,
    sentiment   text,
    score       smallint,
    tags        text[],
    attributes  jsonb,
    -- The normalized identifiers this record carried, as the adapter saw the person.
    identifiers jsonb NOT NULL
);
CREATE UNIQUE INDEX interactions_source_external ON touchline.interactions (source, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX interactions_timeline
    ON touchline.interactions (customer_id, occurred_at DESC, id DESC);

CREATE TABLE touchline.merges (
    id             bigserial PRIMARY KEY,
    survivor       uuid NOT NULL,
    merged         uuid NOT NULL,
    merged_at      timestamptz NOT NULL DEFAULT now(),
    interaction_id uuid,
    reason         text NOT NULL,
    actor          text
);
CREATE INDEX merges_survivor ON touchline.merges (survivor);
CREATE INDEX merges_merged ON touchline.merges (merged);

-- Serializes identity work on the identifiers of a whole batch. Every writer takes these
-- locks at the start of its transaction, in one global order, so two writers never
-- deadlock on them and never both create a customer for the same new identifier.
CREATE FUNCTION touchline.lock_identifiers(p_keys jsonb) RETURNS void
LANGUAGE sql AS $$
    SELECT count(pg_advisory_xact_lock(k))::int
      FROM (SELECT DISTINCT hashtextextended(e, 0) AS k
              FROM jsonb_array_elements_text(p_keys) AS e
             ORDER BY 1) s;
    SELECT NULL::void;
$$;

-- The customer a possibly merged-away id now stands for.
CREATE FUNCTION touchline.survivor(p_id uuid) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur uuid := p_id;
    nxt uuid;
BEGIN
    FOR i IN 1..64 LOOP
        SELECT merged_into INTO nxt FROM touchline.customers WHERE id = cur;
        IF nxt IS NULL THEN
            RETURN cur;
        END IF;
        cur := nxt;
    END LOOP;
    RETURN cur;
END;
$$;

-- Merges p_losers into p_survivor: identifiers, interactions and earlier merges follow the
-- survivor, and each loser keeps answering as a redirect. The caller holds the identifier
-- locks of the record that caused the merge; the losers' other identifiers are locked here
-- so that no concurrent writer can attach a new identifier or record to a loser meanwhile.
CREATE FUNCTION touchline.merge_customers(p_survivor uuid, p_losers uuid[],
                                          p_interaction uuid, p_reason text, p_actor text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    locked bigint[] := '{}';
    wanted bigint[];
    loser  record;
    saved  text := current_setting('lock_timeout');
BEGIN
    -- These locks are taken out of the batch's global order, so two merging writers can
    -- wait on each other. PostgreSQL would break that cycle only after deadlock_timeout
    -- (1 s, superuser-only); a short lock_timeout breaks it sooner, and the daemon retries
    -- the batch on lock_not_available.
    PERFORM set_config('lock_timeout', '200ms', true);
    LOOP
        SELECT coalesce(array_agg(DISTINCT hashtextextended(kind || ':' || value, 0)), '{}')
          INTO wanted
          FROM touchline.identities WHERE customer_id = ANY (p_losers);
        EXIT WHEN wanted <@ locked;
        PERFORM pg_advisory_xact_lock(k)
           FROM (SELECT unnest(wanted) AS k EXCEPT SELECT unnest(locked) ORDER BY 1) s;
        locked := locked || wanted;
    END LOOP;
    PERFORM set_config('lock_timeout', saved, true);

    FOR loser IN SELECT * FROM touchline.customers WHERE id = ANY (p_losers) ORDER BY seq LOOP
        UPDATE touchline.customers
           SET name = coalesce(name, loser.name),
               traits = loser.traits || traits
         WHERE id = p_survivor;
    END LOOP;
    UPDATE touchline.identities SET customer_id = p_survivor WHERE customer_id = ANY (p_losers);
    UPDATE touchline.interactions SET customer_id = p_survivor
     WHERE customer_id = ANY (p_losers);
    UPDATE touchline.customers SET merged_into = p_survivor, merged_at = now()
     WHERE id = ANY (p_losers) OR merged_into = ANY (p_losers);
    INSERT INTO touchline.merges (survivor, merged, interaction_id, reason, actor)
    SELECT p_survivor, l, p_interaction, p_reason, p_actor FROM unnest(p_losers) AS l;
END;
$$;

-- Stores one record: resolves its identifiers to one customer (creating or merging as
-- CONTRACT §2 says) and inserts the interaction unless it is already stored.
-- p_idents: [{"k":"phone","v":"+98…","m":true}, …] where m=false marks never_merge.
-- Returns the stored record's id and customer, and whether it was a duplicate.
CREATE FUNCTION touchline.ingest(
    p_id uuid, p_source text, p_external_id text, p_channel text, p_direction text,
    p_occurred_at timestamptz, p_idents jsonb, p_name text, p_traits jsonb,
    p_agent text, p_status text, p_duration_s integer, p_subject text, p_body text,
    p_thread text, p_stage text, p_sentiment text, p_score smallint, p_tags jsonb,
    p_attributes jsonb,
    OUT r_id uuid, OUT r_customer_id uuid, OUT r_duplicate boolean)
LANGUAGE plpgsql AS $$
DECLARE
    merge_ids  uuid[];
    attach_ids uuid[];
    survivor   uuid;
    losers     uuid[];
    inserted   uuid;
BEGIN
    SELECT i.id, i.customer_id INTO r_id, r_customer_id
      FROM touchline.interactions i
     WHERE i.id = p_id
        OR (p_external_id IS NOT NULL AND i.source = p_source AND i.external_id = p_external_id)
     LIMIT 1;
    IF FOUND THEN
        r_customer_id := touchline.survivor(r_customer_id);
        r_duplicate := true;
        RETURN;
    END IF;

    -- Customers reached through identifiers that may merge, oldest first; then those
    -- reached only through never_merge identifiers.
    SELECT array_agg(c.id ORDER BY c.seq) INTO merge_ids
      FROM touchline.customers c
     WHERE c.id IN (SELECT touchline.survivor(ids.customer_id)
                      FROM jsonb_to_recordset(p_idents) AS x(k text, v text, m boolean)
                      JOIN touchline.identities ids ON ids.kind = x.k AND ids.value = x.v
                     WHERE x.m);
    IF merge_ids IS NOT NULL THEN
        survivor := merge_ids[1];
        IF array_length(merge_ids, 1) > 1 THEN
            losers := merge_ids[2:];
            PERFORM touchline.merge_customers(survivor, losers, p_id, 'ingest', p_source);
        END IF;
    ELSIF EXISTS (SELECT 1 FROM jsonb_to_recordset(p_idents) AS x(k text, v text, m boolean)
                   WHERE x.m) THEN
        -- Identifiers of this person exist but none is known yet: a new person, even if a
        -- shared (never_merge) identifier is known, since it says nothing about who this is.
        survivor := gen_random_uuid();
        INSERT INTO touchline.customers (id, name) VALUES (survivor, p_name);
    ELSE
        -- Only shared identifiers: attach to the customer they already belong to.
        SELECT array_agg(c.id ORDER BY c.seq) INTO attach_ids
          FROM touchline.customers c
         WHERE c.id IN (SELECT touchline.survivor(ids.customer_id)
                          FROM jsonb_to_recordset(p_idents) AS x(k text, v text, m boolean)
                          JOIN touchline.identities ids ON ids.kind = x.k AND ids.value = x.v);
        IF attach_ids IS NOT NULL THEN
            survivor := attach_ids[1];
        ELSE
            survivor := gen_random_uuid();
            INSERT INTO touchline.customers (id, name) VALUES (survivor, p_name);
        END IF;
    END IF;

    INSERT INTO touchline.identities (kind, value, customer_id)
    SELECT x.k, x.v, survivor
      FROM jsonb_to_recordset(p_idents) AS x(k text, v text, m boolean)
     ORDER BY x.k, x.v
    ON CONFLICT (kind, value) DO NOTHING;

    IF p_name IS NOT NULL OR p_traits IS NOT NULL THEN
        UPDATE touchline.customers
           SET name = coalesce(p_name, name),
               traits = traits || coalesce(p_traits, '{}')
         WHERE id = survivor;
    END IF;

    INSERT INTO touchline.interactions (
        id, source, external_id, customer_id, channel, direction, occurred_at, agent, status,
        duration_s, subject, body, thread, stage, sentiment, score, tags, attributes,
        identifiers)
    VALUES (
        p_id, p_source, p_external_id, survivor, p_channel, p_direction, p_occurred_at,
        p_agent, p_status, p_duration_s, p_subject, p_body, p_thread, p_stage, p_sentiment,
        p_score,
        CASE WHEN p_tags IS NULL THEN NULL
             ELSE ARRAY(SELECT jsonb_array_elements_text(p_tags)) END,
        p_attributes, p_idents)
    ON CONFLICT DO NOTHING
    RETURNING id INTO inserted;
    IF inserted IS NULL THEN
        -- Stored by a concurrent writer that carried the same id with other identifiers.
        SELECT i.id, touchline.survivor(i.customer_id) INTO r_id, r_customer_id
          FROM touchline.interactions i
         WHERE i.id = p_id
            OR (p_external_id IS NOT NULL AND i.source = p_source
                AND i.external_id = p_external_id)
         LIMIT 1;
        r_duplicate := true;
        RETURN;
    END IF;
    r_id := p_id;
    r_customer_id := survivor;
    r_duplicate := false;
END;
$$;

-- touchline schema: customers, their identifiers, their interactions, and merges.
-- Applied by touchlined at start (or touchlined --migrate) inside one transaction under an
-- advisory lock; recorded in touchline.schema_migrations.

CREATE SCHEMA IF NOT EXISTS touchline;

CREATE TABLE touchline.customers (
    -- Time-ordered (UUIDv7, made by the daemon): "merged into the one created first"
    -- compares ids.
    id          uuid PRIMARY KEY,
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
    -- No foreign key: the ingest path creates the customer in the same transaction, and the
    -- check would cost an index probe per identifier on the hot path.
    customer_id uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value)
);
CREATE INDEX identities_customer ON touchline.identities (customer_id);

CREATE TABLE touchline.interactions (
    id          uuid PRIMARY KEY,
    source      text NOT NULL,
    external_id text,
    customer_id uuid NOT NULL, -- no foreign key, as for identities
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
CREATE FUNCTION touchline.lock_identifiers(p_kinds text[], p_values text[]) RETURNS void
LANGUAGE sql AS $$
    SELECT count(pg_advisory_xact_lock(h))::int
      FROM (SELECT DISTINCT hashtextextended(x.k || ':' || x.v, 0) AS h
              FROM unnest(p_kinds, p_values) AS x(k, v)
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

-- Applies every merge of one ingest batch at once. One row per (merge, merged-away
-- customer): p_survivor absorbed p_loser because of record p_record from p_source, and
-- p_final is the customer p_loser ends in once the whole batch is applied (p_survivor, or
-- whoever absorbs p_survivor later in the same batch). Identifiers, records and earlier
-- redirects move straight to p_final; the history keeps each merge as it happened.
CREATE FUNCTION touchline.merge_batch(p_survivor uuid[], p_loser uuid[], p_final uuid[],
                                      p_record uuid[], p_source text[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    locked bigint[] := '{}';
    wanted bigint[];
    r      record;
    saved  text := current_setting('lock_timeout');
BEGIN
    -- The losers' other identifiers are locked out of the batch's global order, so two
    -- merging writers can wait on each other; PostgreSQL would break that cycle only after
    -- deadlock_timeout (1 s, superuser-only). A short lock_timeout breaks it sooner and the
    -- daemon retries the batch on lock_not_available.
    PERFORM set_config('lock_timeout', '200ms', true);
    LOOP
        SELECT coalesce(array_agg(DISTINCT hashtextextended(kind || ':' || value, 0)), '{}')
          INTO wanted
          FROM touchline.identities WHERE customer_id = ANY (p_loser);
        EXIT WHEN wanted <@ locked;
        PERFORM pg_advisory_xact_lock(k)
           FROM (SELECT unnest(wanted) AS k EXCEPT SELECT unnest(locked) ORDER BY 1) s;
        locked := locked || wanted;
    END LOOP;
    PERFORM set_config('lock_timeout', saved, true);

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
    INSERT INTO touchline.merges (survivor, merged, interaction_id, reason, actor)
    SELECT s, l, rec, 'ingest', src
      FROM unnest(p_survivor, p_loser, p_record, p_source) AS x(s, l, rec, src);
END;
$$;

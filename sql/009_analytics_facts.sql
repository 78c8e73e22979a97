-- Touchpoint analytics, second step: the figures of a time range from per-record facts and
-- hourly sums, brought up to date when they are asked for, instead of from the raw records
-- (009_analytics.sql), which took over a minute for a month of a busy system. The
-- definitions are unchanged (docs/analytics.md); stats_json keeps its answer.

-- Replaced by the facts table below.
DROP FUNCTION touchline.analytics_facts(timestamptz, timestamptz);

-- Per-record facts, kept in touchline.analytics_facts and summed per hour in
-- touchline.analytics_hourly, so that a month's figures read a few thousand sums rather than
-- a million records. They are brought up to date when figures are asked for
-- (analytics_refresh), never on the ingest path: a record's facts depend on the customer's
-- other records (a call-back comes later, a repeat contact looks back), which late records,
-- merges and erasures change.
--
-- Facts of one record, all as of the customer's whole timeline:
--   missed, reached_at   a missed call, and the customer's first reach at or after it;
--   message, responded_at an inbound sms/email/chat, and the customer's first outbound record
--                        at or after it, in the same thread when the message has one;
--   prev_in, prev_in_same for an inbound record, the customer's latest earlier inbound record
--                        (ties in occurred_at ordered by id), on any channel and on its own;
--   prev_pre_at, pur_at, post_at for a pre_purchase record, the customer's latest earlier
--                        pre_purchase record, their first purchase record at or after it,
--                        and their first post_purchase record at or after that purchase.
CREATE TABLE touchline.analytics_facts (
    id           uuid PRIMARY KEY,
    customer_id  uuid NOT NULL,
    occurred_at  timestamptz NOT NULL,
    channel      text NOT NULL,
    direction    text NOT NULL,
    source       text NOT NULL,
    stage        text,
    agent        text,
    sentiment    text,
    score        smallint,
    missed       boolean NOT NULL,
    reached_at   timestamptz,
    message      boolean NOT NULL,
    responded_at timestamptz,
    prev_in      timestamptz,
    prev_in_same timestamptz,
    prev_pre_at  timestamptz,
    pur_at       timestamptz,
    post_at      timestamptz
);
CREATE INDEX analytics_facts_customer ON touchline.analytics_facts (customer_id);
CREATE INDEX analytics_facts_occurred ON touchline.analytics_facts (occurred_at);
-- What the missed calls, the response times and the funnel of a range read, in their own
-- indexes, so that a month of each is read from the index alone (an index-only scan).
CREATE INDEX analytics_facts_missed ON touchline.analytics_facts (occurred_at)
    INCLUDE (reached_at, channel, source, stage, agent) WHERE missed;
CREATE INDEX analytics_facts_answered ON touchline.analytics_facts (occurred_at)
    INCLUDE (responded_at, channel, source, stage, agent) WHERE responded_at IS NOT NULL;
CREATE INDEX analytics_facts_pre ON touchline.analytics_facts (occurred_at)
    INCLUDE (channel, prev_pre_at, pur_at, post_at) WHERE stage = 'pre_purchase';

-- The additive figures of the facts, per hour of occurred_at and per grouping: dim 'all'
-- (key NULL), 'channel', 'source', 'stage', 'agent' (key NULL for records without one).
CREATE TABLE touchline.analytics_hourly (
    hour         timestamptz NOT NULL,
    dim          text NOT NULL,
    key          text,
    interactions bigint NOT NULL,
    inbound      bigint NOT NULL,
    outbound     bigint NOT NULL,
    messages     bigint NOT NULL,
    answered     bigint NOT NULL,
    response_sum bigint NOT NULL,
    r24          bigint NOT NULL,
    r24_same     bigint NOT NULL,
    r7           bigint NOT NULL,
    r7_same      bigint NOT NULL,
    positive     bigint NOT NULL,
    neutral      bigint NOT NULL,
    negative     bigint NOT NULL,
    score_n      bigint NOT NULL,
    score_sum    bigint NOT NULL,
    UNIQUE NULLS NOT DISTINCT (hour, dim, key)
);

-- Up to when the facts are complete: every record received (received_at, the inserting
-- transaction's start) at or after it may be missing from them.
CREATE TABLE touchline.analytics_state (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    watermark timestamptz NOT NULL
);
INSERT INTO touchline.analytics_state VALUES (true, '-infinity');

-- Customers whose records were changed or deleted (not inserted: received_at tells those),
-- filled by the triggers below, emptied by analytics_refresh.
CREATE TABLE touchline.analytics_dirty (customer_id uuid NOT NULL);

-- Finds the records received since the watermark. received_at only grows as records are
-- inserted, so a BRIN index summarizes it well and costs ingest next to nothing.
CREATE INDEX interactions_received_brin ON touchline.interactions
    USING brin (received_at) WITH (pages_per_range = 32);

-- The facts of every record of the customers p_ids, from their whole timelines. Each "next"
-- is a running minimum in descending time (peers included), which the executor computes in
-- one pass; a frame that ends UNBOUNDED FOLLOWING would be recomputed for every row.
CREATE FUNCTION touchline.analytics_compute(p_ids uuid[])
RETURNS SETOF touchline.analytics_facts
LANGUAGE sql STABLE AS $$
    WITH w AS (
        SELECT i.id, i.customer_id, i.occurred_at, i.channel, i.direction, i.source, i.stage,
               i.agent, i.sentiment, i.score, i.thread,
               touchline.is_missed_call(i.channel, i.direction, i.status) AS missed,
               touchline.is_reach(i.channel, i.direction, i.status) AS reach,
               touchline.is_message(i.channel, i.direction) AS message
          FROM touchline.interactions i
         WHERE i.customer_id = ANY (p_ids)),
    x AS (
        SELECT w.*,
               min(w.occurred_at) FILTER (WHERE w.reach) OVER later AS next_reach,
               min(w.occurred_at) FILTER (WHERE w.direction = 'outbound') OVER later AS next_out,
               min(w.occurred_at) FILTER (WHERE w.direction = 'outbound') OVER later_thread
                   AS next_out_thread,
               min(w.occurred_at) FILTER (WHERE w.stage = 'purchase') OVER later AS next_pur,
               min(w.occurred_at) FILTER (WHERE w.stage = 'post_purchase') OVER later
                   AS next_post,
               max(w.occurred_at) FILTER (WHERE w.direction = 'inbound') OVER earlier AS prev_in,
               max(w.occurred_at) FILTER (WHERE w.stage = 'pre_purchase') OVER earlier
                   AS prev_pre,
               max(w.occurred_at) FILTER (WHERE w.direction = 'inbound') OVER earlier_channel
                   AS prev_in_same
          FROM w
        WINDOW later AS (PARTITION BY w.customer_id ORDER BY w.occurred_at DESC
                         RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
               later_thread AS (PARTITION BY w.customer_id, w.thread ORDER BY w.occurred_at DESC
                                RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
               earlier AS (PARTITION BY w.customer_id ORDER BY w.occurred_at, w.id
                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
               earlier_channel AS (PARTITION BY w.customer_id, w.channel
                                   ORDER BY w.occurred_at, w.id
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
    -- The first post_purchase record at or after each purchase time, for the pre_purchase
    -- records' post_at.
    pur AS (
        SELECT DISTINCT x.customer_id, x.occurred_at, x.next_post
          FROM x WHERE x.stage = 'purchase')
    SELECT x.id, x.customer_id, x.occurred_at, x.channel, x.direction, x.source, x.stage,
           x.agent, x.sentiment, x.score, x.missed,
           CASE WHEN x.missed THEN x.next_reach END,
           x.message,
           CASE WHEN NOT x.message THEN NULL
                WHEN x.thread IS NULL THEN x.next_out
                ELSE x.next_out_thread END,
           CASE WHEN x.direction = 'inbound' THEN x.prev_in END,
           CASE WHEN x.direction = 'inbound' THEN x.prev_in_same END,
           CASE WHEN x.stage = 'pre_purchase' THEN x.prev_pre END,
           CASE WHEN x.stage = 'pre_purchase' THEN x.next_pur END,
           CASE WHEN x.stage = 'pre_purchase' THEN pur.next_post END
      FROM x
      LEFT JOIN pur ON x.stage = 'pre_purchase' AND pur.customer_id = x.customer_id
                   AND pur.occurred_at = x.next_pur
$$;

-- Adds (p_sign 1) or takes away (-1) the facts p_facts to or from the hourly sums.
CREATE FUNCTION touchline.analytics_add(p_facts touchline.analytics_facts[], p_sign integer)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO touchline.analytics_hourly AS h
    SELECT date_trunc('hour', f.occurred_at), d.dim, d.key,
           p_sign * count(*),
           p_sign * count(*) FILTER (WHERE f.direction = 'inbound'),
           p_sign * count(*) FILTER (WHERE f.direction = 'outbound'),
           p_sign * count(*) FILTER (WHERE f.message),
           p_sign * count(f.responded_at),
           p_sign * coalesce(sum(touchline.seconds_between(f.occurred_at, f.responded_at)), 0),
           p_sign * count(*) FILTER (WHERE f.prev_in >= f.occurred_at - interval '24 hours'),
           p_sign * count(*) FILTER (WHERE f.prev_in_same >= f.occurred_at - interval '24 hours'),
           p_sign * count(*) FILTER (WHERE f.prev_in >= f.occurred_at - interval '7 days'),
           p_sign * count(*) FILTER (WHERE f.prev_in_same >= f.occurred_at - interval '7 days'),
           p_sign * count(*) FILTER (WHERE f.sentiment = 'positive'),
           p_sign * count(*) FILTER (WHERE f.sentiment = 'neutral'),
           p_sign * count(*) FILTER (WHERE f.sentiment = 'negative'),
           p_sign * count(f.score),
           p_sign * coalesce(sum(f.score), 0)
      FROM unnest(p_facts) f
     CROSS JOIN LATERAL (VALUES ('all', NULL), ('channel', f.channel), ('source', f.source),
                                ('stage', f.stage), ('agent', f.agent)) d(dim, key)
     GROUP BY 1, 2, 3
    ON CONFLICT (hour, dim, key) DO UPDATE SET
        interactions = h.interactions + excluded.interactions,
        inbound = h.inbound + excluded.inbound,
        outbound = h.outbound + excluded.outbound,
        messages = h.messages + excluded.messages,
        answered = h.answered + excluded.answered,
        response_sum = h.response_sum + excluded.response_sum,
        r24 = h.r24 + excluded.r24,
        r24_same = h.r24_same + excluded.r24_same,
        r7 = h.r7 + excluded.r7,
        r7_same = h.r7_same + excluded.r7_same,
        positive = h.positive + excluded.positive,
        neutral = h.neutral + excluded.neutral,
        negative = h.negative + excluded.negative,
        score_n = h.score_n + excluded.score_n,
        score_sum = h.score_sum + excluded.score_sum
$$;

-- The hourly sums, all over again from the facts.
CREATE FUNCTION touchline.analytics_rebuild_hourly()
RETURNS void
LANGUAGE sql AS $$
    TRUNCATE touchline.analytics_hourly;
    INSERT INTO touchline.analytics_hourly
    SELECT date_trunc('hour', f.occurred_at), d.dim, d.key,
           count(*),
           count(*) FILTER (WHERE f.direction = 'inbound'),
           count(*) FILTER (WHERE f.direction = 'outbound'),
           count(*) FILTER (WHERE f.message),
           count(f.responded_at),
           coalesce(sum(touchline.seconds_between(f.occurred_at, f.responded_at)), 0),
           count(*) FILTER (WHERE f.prev_in >= f.occurred_at - interval '24 hours'),
           count(*) FILTER (WHERE f.prev_in_same >= f.occurred_at - interval '24 hours'),
           count(*) FILTER (WHERE f.prev_in >= f.occurred_at - interval '7 days'),
           count(*) FILTER (WHERE f.prev_in_same >= f.occurred_at - interval '7 days'),
           count(*) FILTER (WHERE f.sentiment = 'positive'),
           count(*) FILTER (WHERE f.sentiment = 'neutral'),
           count(*) FILTER (WHERE f.sentiment = 'negative'),
           count(f.score),
           coalesce(sum(f.score), 0)
      FROM touchline.analytics_facts f
     CROSS JOIN LATERAL (VALUES ('all', NULL), ('channel', f.channel), ('source', f.source),
                                ('stage', f.stage), ('agent', f.agent)) d(dim, key)
     GROUP BY 1, 2, 3;
$$;

-- Brings the facts and the hourly sums up to date: recomputes the facts of every customer
-- with a record received since the watermark or changed or deleted since the last refresh.
-- One refresh at a time. Returns how many customers it recomputed.
--
-- The new watermark is the earliest start of a transaction still running (from
-- pg_stat_activity, which shows the sessions of the daemon's own database role), or now: a
-- record that this refresh cannot see yet was inserted by such a transaction, or by a later
-- one, and so has a received_at at or after it.
--
-- Most refreshes recompute a few customers, in slices, and move the hourly sums by the facts
-- that changed. When there are more than p_rebuild customers to recompute (the first refresh
-- over a loaded database, or after a pause) every fact is computed again in one sort and the
-- sums from them, which is much faster than that many small steps.
CREATE FUNCTION touchline.analytics_refresh(p_rebuild integer DEFAULT 100000)
RETURNS integer
LANGUAGE plpgsql
SET work_mem = '512MB'
SET jit = off
AS $$
DECLARE
    wm      timestamptz;
    next_wm timestamptz;
    ids     uuid[];
    was     touchline.analytics_facts[];
    now_is  touchline.analytics_facts[];
    old     touchline.analytics_facts[];
    new     touchline.analytics_facts[];
    batch   uuid[];
    k       integer := 1;
    step    constant integer := 20000;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('touchline.analytics_refresh', 0));
    SELECT least(clock_timestamp(), min(a.xact_start)) INTO next_wm
      FROM pg_stat_activity a
     WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
       AND a.xact_start IS NOT NULL;
    SELECT watermark INTO wm FROM touchline.analytics_state FOR UPDATE;
    WITH d AS (DELETE FROM touchline.analytics_dirty RETURNING customer_id)
    SELECT coalesce(array_agg(DISTINCT c), '{}') INTO ids
      FROM (SELECT customer_id AS c FROM touchline.interactions WHERE received_at >= wm
            UNION ALL SELECT customer_id FROM d) x;
    IF cardinality(ids) > p_rebuild THEN
        TRUNCATE touchline.analytics_facts;
        -- In time order, as records mostly arrive: a month of facts is then a stretch of the
        -- table rather than rows scattered over all of it.
        INSERT INTO touchline.analytics_facts
        SELECT * FROM touchline.analytics_compute(
            ARRAY(SELECT DISTINCT customer_id FROM touchline.interactions))
         ORDER BY occurred_at;
        PERFORM touchline.analytics_rebuild_hourly();
        UPDATE touchline.analytics_state SET watermark = next_wm;
        RETURN cardinality(ids);
    END IF;
    WHILE k <= cardinality(ids) LOOP
        batch := ids[k:k + step - 1];
        k := k + step;
        WITH gone AS (
            DELETE FROM touchline.analytics_facts f
             WHERE f.customer_id = ANY (batch)
                OR f.id IN (SELECT i.id FROM touchline.interactions i
                             WHERE i.customer_id = ANY (batch))
            RETURNING f.*)
        SELECT array_agg(g) INTO was FROM gone g;
        WITH made AS (
            INSERT INTO touchline.analytics_facts
            SELECT * FROM touchline.analytics_compute(batch)
            RETURNING *)
        SELECT array_agg(m) INTO now_is FROM made m;
        -- Only the facts that changed move the sums: a new record changes a few of its
        -- customer's facts, not the years of them before it.
        SELECT array_agg(x) INTO old
          FROM (SELECT * FROM unnest(was) EXCEPT ALL SELECT * FROM unnest(now_is)) x;
        SELECT array_agg(x) INTO new
          FROM (SELECT * FROM unnest(now_is) EXCEPT ALL SELECT * FROM unnest(was)) x;
        IF old IS NOT NULL THEN
            PERFORM touchline.analytics_add(old, -1);
        END IF;
        IF new IS NOT NULL THEN
            PERFORM touchline.analytics_add(new, 1);
        END IF;
    END LOOP;
    UPDATE touchline.analytics_state SET watermark = next_wm;
    RETURN cardinality(ids);
END;
$$;

-- Records changed in place (a merge moves them to the survivor, a status update) or deleted
-- (erasure, retention): their customers' facts are recomputed at the next refresh; deleted
-- records' facts go at once.
CREATE FUNCTION touchline.analytics_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old touchline.analytics_facts[];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- No lock: a merge on the ingest path must not wait for a refresh. Both customers:
        -- the one records left (an unmerge leaves the survivor with fewer) and the one they
        -- went to.
        INSERT INTO touchline.analytics_dirty
        SELECT customer_id FROM was UNION SELECT customer_id FROM changed;
    ELSE
        -- As a refresh does, so that their updates of the hourly sums cannot deadlock.
        PERFORM pg_advisory_xact_lock(hashtextextended('touchline.analytics_refresh', 0));
        -- Customers with records left (retention) are recomputed; one without (erased, or
        -- merged away earlier) leaves no trace, not even its id waiting here.
        DELETE FROM touchline.analytics_dirty d
         WHERE NOT EXISTS (SELECT 1 FROM touchline.interactions i
                            WHERE i.customer_id = d.customer_id);
        INSERT INTO touchline.analytics_dirty
        SELECT DISTINCT g.customer_id FROM gone g
         WHERE EXISTS (SELECT 1 FROM touchline.interactions i
                        WHERE i.customer_id = g.customer_id);
        WITH d AS (DELETE FROM touchline.analytics_facts f
                    WHERE f.id IN (SELECT id FROM gone) RETURNING f.*)
        SELECT array_agg(x) INTO old FROM d x;
        IF old IS NOT NULL THEN
            PERFORM touchline.analytics_add(old, -1);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER analytics_updated AFTER UPDATE ON touchline.interactions
    REFERENCING OLD TABLE AS was NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION touchline.analytics_changed();
CREATE TRIGGER analytics_deleted AFTER DELETE ON touchline.interactions
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION touchline.analytics_changed();

-- The group a record's facts count in for GET /v1/stats?by=p_by (NULL: none).
CREATE FUNCTION touchline.stats_key(p_by text, channel text, source text, stage text,
                                    agent text, occurred_at timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE p_by
           WHEN 'channel' THEN channel
           WHEN 'source' THEN source
           WHEN 'stage' THEN stage
           WHEN 'agent' THEN agent
           WHEN 'day' THEN to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
           END
$$;

-- The missed-call figures of a group without missed calls.
CREATE FUNCTION touchline.missed_empty() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('total', 0, 'reached', 0, 'open', 0, 'breached', 0,
                              'reached_late', 0,
                              'callback_s', touchline.duration_json(NULL, NULL, NULL, NULL))
$$;

-- GET /v1/stats (docs/api.md, "Figures for a time range"). p_by: NULL or one of
-- stats_by_keys(); p_sla_s: [analytics] callback_sla in seconds. Refreshes the facts first.
--
-- The additive figures come from the hourly sums for the whole hours of the range and from
-- the facts for the parts of hours at its ends; the missed calls, the response times'
-- percentiles and the funnel from the facts in the range, reached through partial indexes.
CREATE OR REPLACE FUNCTION touchline.stats_json(p_since timestamptz, p_until timestamptz, p_by text,
                                     p_sla_s integer)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET work_mem = '512MB'
SET jit = off
AS $$
DECLARE
    r      record;
    now_   timestamptz := now();
    sla    interval := make_interval(secs => p_sla_s);
    hs     timestamptz;
    hu     timestamptz;
    v_dim  text := CASE WHEN p_by IS NULL OR p_by = 'day' THEN 'all' ELSE p_by END;
    totals jsonb;
    groups jsonb;
    funnel jsonb;
BEGIN
    IF p_by IS NOT NULL AND NOT p_by = ANY (touchline.stats_by_keys()) THEN
        RAISE EXCEPTION 'by: "%" is not one of %', left(p_by, 40),
              array_to_string(touchline.stats_by_keys(), ', ')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO r FROM touchline.analytics_range(p_since, p_until, interval '30 days');
    -- A standby cannot write: it reads the facts as the primary last brought them up to date
    -- (the daemon asks the primary; this is for someone asking a standby by hand).
    IF NOT pg_is_in_recovery() THEN
        PERFORM touchline.analytics_refresh();
    END IF;
    -- The whole hours [hs, hu) of the range; none when it lies within one or two hours.
    hs := date_trunc('hour', r.since);
    IF hs < r.since THEN
        hs := hs + interval '1 hour';
    END IF;
    hu := greatest(date_trunc('hour', r.until), hs);

    WITH
    -- The additive figures: (total, key) rows from the hourly sums and from the ends' facts.
    parts AS (
        SELECT true AS total, NULL::text AS key, h.interactions, h.inbound, h.outbound,
               h.messages, h.answered, h.response_sum, h.r24, h.r24_same, h.r7, h.r7_same,
               h.positive, h.neutral, h.negative, h.score_n, h.score_sum
          FROM touchline.analytics_hourly h
         WHERE h.dim = 'all' AND h.hour >= hs AND h.hour < hu
        UNION ALL
        SELECT false, CASE WHEN p_by = 'day' THEN to_char(h.hour AT TIME ZONE 'UTC', 'YYYY-MM-DD')
                           ELSE h.key END,
               h.interactions, h.inbound, h.outbound, h.messages, h.answered, h.response_sum,
               h.r24, h.r24_same, h.r7, h.r7_same, h.positive, h.neutral, h.negative,
               h.score_n, h.score_sum
          FROM touchline.analytics_hourly h
         WHERE p_by IS NOT NULL AND h.dim = v_dim AND h.hour >= hs AND h.hour < hu
        UNION ALL
        SELECT t.total,
               CASE WHEN NOT t.total THEN touchline.stats_key(p_by, f.channel, f.source,
                                                              f.stage, f.agent, f.occurred_at)
               END, 1,
               (f.direction = 'inbound')::int, (f.direction = 'outbound')::int,
               f.message::int, (f.responded_at IS NOT NULL)::int,
               coalesce(touchline.seconds_between(f.occurred_at, f.responded_at), 0),
               (f.prev_in >= f.occurred_at - interval '24 hours')::int,
               (f.prev_in_same >= f.occurred_at - interval '24 hours')::int,
               (f.prev_in >= f.occurred_at - interval '7 days')::int,
               (f.prev_in_same >= f.occurred_at - interval '7 days')::int,
               (f.sentiment = 'positive')::int, (f.sentiment = 'neutral')::int,
               (f.sentiment = 'negative')::int, (f.score IS NOT NULL)::int,
               coalesce(f.score, 0)
          FROM touchline.analytics_facts f CROSS JOIN (VALUES (true), (false)) t(total)
         WHERE ((f.occurred_at >= r.since AND f.occurred_at < least(hs, r.until))
                OR (f.occurred_at >= greatest(hu, r.since) AND f.occurred_at < r.until))
           AND (t.total OR p_by IS NOT NULL)
        UNION ALL
        -- So that an empty range still has its row of totals.
        SELECT true, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    sums AS (
        SELECT p.total, p.key, sum(p.interactions) AS interactions, sum(p.inbound) AS inbound,
               sum(p.outbound) AS outbound, sum(p.messages) AS messages,
               sum(p.answered) AS answered, sum(p.response_sum) AS response_sum,
               sum(p.r24) AS r24, sum(p.r24_same) AS r24_same, sum(p.r7) AS r7,
               sum(p.r7_same) AS r7_same, sum(p.positive) AS positive,
               sum(p.neutral) AS neutral, sum(p.negative) AS negative,
               sum(p.score_n) AS score_n, sum(p.score_sum) AS score_sum
          FROM parts p GROUP BY p.total, p.key),
    -- The missed calls of the range.
    mc AS (
        SELECT GROUPING(k.key) = 1 AS total, k.key, jsonb_build_object(
                   'total', count(*),
                   'reached', count(f.reached_at),
                   'open', count(*) FILTER (WHERE f.reached_at IS NULL),
                   'breached', count(*) FILTER (WHERE f.reached_at IS NULL
                                                  AND now_ - f.occurred_at > sla),
                   'reached_late', count(*) FILTER (WHERE f.reached_at - f.occurred_at > sla),
                   'callback_s', touchline.duration_json(
                       avg(touchline.seconds_between(f.occurred_at, f.reached_at)),
                       percentile_disc(0.5) WITHIN GROUP (
                           ORDER BY touchline.seconds_between(f.occurred_at, f.reached_at)),
                       percentile_disc(0.9) WITHIN GROUP (
                           ORDER BY touchline.seconds_between(f.occurred_at, f.reached_at)),
                       max(touchline.seconds_between(f.occurred_at, f.reached_at)))) AS doc
          FROM touchline.analytics_facts f
         CROSS JOIN LATERAL (SELECT touchline.stats_key(p_by, f.channel, f.source, f.stage,
                                                        f.agent, f.occurred_at) AS key) k
         WHERE f.missed AND f.occurred_at >= r.since AND f.occurred_at < r.until
         GROUP BY GROUPING SETS ((), (k.key))),
    -- The answered messages' response times.
    rt AS (
        SELECT GROUPING(k.key) = 1 AS total, k.key,
               percentile_disc(0.5) WITHIN GROUP (
                   ORDER BY touchline.seconds_between(f.occurred_at, f.responded_at)) AS p50,
               percentile_disc(0.9) WITHIN GROUP (
                   ORDER BY touchline.seconds_between(f.occurred_at, f.responded_at)) AS p90,
               max(touchline.seconds_between(f.occurred_at, f.responded_at)) AS mx
          FROM touchline.analytics_facts f
         CROSS JOIN LATERAL (SELECT touchline.stats_key(p_by, f.channel, f.source, f.stage,
                                                        f.agent, f.occurred_at) AS key) k
         WHERE f.responded_at IS NOT NULL AND f.occurred_at >= r.since
           AND f.occurred_at < r.until
         GROUP BY GROUPING SETS ((), (k.key))),
    g AS (
        SELECT s.total, s.key, s.interactions, jsonb_build_object(
               'interactions', s.interactions,
               'inbound', s.inbound,
               'outbound', s.outbound,
               'missed_calls', coalesce(mc.doc, touchline.missed_empty()),
               'first_response', jsonb_build_object(
                   'messages', s.messages,
                   'answered', s.answered,
                   'unanswered', s.messages - s.answered,
                   'response_s', touchline.duration_json(
                       CASE WHEN s.answered > 0 THEN s.response_sum::numeric / s.answered END,
                       rt.p50, rt.p90, rt.mx)),
               'repeat_contacts', jsonb_build_object(
                   'inbound', s.inbound,
                   'within_24h', touchline.repeat_json(s.r24::bigint, s.r24_same::bigint,
                                                       s.inbound::bigint),
                   'within_7d', touchline.repeat_json(s.r7::bigint, s.r7_same::bigint,
                                                      s.inbound::bigint)),
               'sentiment', jsonb_build_object(
                   'positive', s.positive,
                   'neutral', s.neutral,
                   'negative', s.negative,
                   'rated', s.positive + s.neutral + s.negative,
                   'score', jsonb_build_object(
                       'count', s.score_n,
                       'mean', CASE WHEN s.score_n > 0
                                    THEN round(s.score_sum::numeric / s.score_n, 2) END)))
                   AS doc
          FROM sums s
          LEFT JOIN mc ON mc.total = s.total AND mc.key IS NOT DISTINCT FROM s.key
          LEFT JOIN rt ON rt.total = s.total AND rt.key IS NOT DISTINCT FROM s.key),
    -- The funnel: each customer's first pre_purchase record in the range (the one whose
    -- previous pre_purchase record is before since), its channel, and whether the purchase
    -- and post_purchase records after it came before until.
    c AS (
        SELECT f.channel AS entry, f.pur_at < r.until AS bought, f.post_at < r.until AS after
          FROM touchline.analytics_facts f
         WHERE f.stage = 'pre_purchase' AND f.occurred_at >= r.since AND f.occurred_at < r.until
           AND (f.prev_pre_at IS NULL OR f.prev_pre_at < r.since)),
    fg AS (
        SELECT GROUPING(c.entry) = 1 AS total, c.entry,
               touchline.funnel_json(count(*), count(*) FILTER (WHERE c.bought),
                                     count(*) FILTER (WHERE c.after)) AS doc
          FROM c GROUP BY GROUPING SETS ((), (c.entry)))
    SELECT (SELECT doc FROM g WHERE total),
           (SELECT coalesce(jsonb_agg(jsonb_build_object('key', key) || doc
                                      ORDER BY key COLLATE "C" NULLS LAST), '[]')
              FROM g WHERE NOT total AND p_by IS NOT NULL AND g.interactions > 0),
           jsonb_build_object(
               'total', coalesce((SELECT doc FROM fg WHERE total),
                                 touchline.funnel_json(0, 0, 0)),
               'by_entry_channel', coalesce((SELECT jsonb_agg(jsonb_build_object('key', entry)
                                                              || doc ORDER BY entry COLLATE "C")
                                               FROM fg WHERE NOT total), '[]'))
      INTO totals, groups, funnel;
    RETURN jsonb_build_object(
        'since', touchline.fmt_ts(r.since), 'until', touchline.fmt_ts(r.until),
        'by', p_by, 'callback_sla_s', p_sla_s, 'generated_at', touchline.fmt_ts(now_),
        'totals', totals, 'groups', groups, 'funnel', funnel);
END;
$$;


-- Touchpoint analytics (docs/analytics.md): missed calls and call-backs, first-response
-- times, repeat contacts, sentiment and score, the stage funnel, one customer's journey and
-- what is pending for them. Computed from the stored records when asked: records carry the
-- customer they belong to after every merge (merge_move moves them), so a read sees every
-- merge so far, and everything is ordered by occurred_at, so the order in which records
-- arrived does not matter. Nothing here runs on the ingest path.

-- Finds the records of a time range without reading the whole table. A live system stores
-- records roughly in the order they happened, so block ranges summarize occurred_at well;
-- a BRIN index costs ingest next to nothing (one summary per 32 blocks), where a B-tree
-- would cost an index insertion per record.
CREATE INDEX interactions_occurred_brin ON touchline.interactions
    USING brin (occurred_at) WITH (pages_per_range = 32);

-- The predicates of the definitions, in one place so that every figure uses the same ones.

-- A missed call: an inbound phone record that did not connect.
CREATE FUNCTION touchline.is_missed_call(channel text, direction text, status text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT channel = 'phone' AND direction = 'inbound'
       AND coalesce(status IN ('missed', 'busy', 'failed'), false)
$$;

-- The customer was reached: an outbound record on any channel, or an answered call either
-- way.
CREATE FUNCTION touchline.is_reach(channel text, direction text, status text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT direction = 'outbound' OR (channel = 'phone' AND coalesce(status = 'answered', false))
$$;

-- A written message that waits for an answer.
CREATE FUNCTION touchline.is_message(channel text, direction text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT direction = 'inbound' AND channel IN ('sms', 'email', 'chat')
$$;

-- Whole seconds from a to b.
CREATE FUNCTION touchline.seconds_between(a timestamptz, b timestamptz)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT floor(extract(epoch FROM b - a))::bigint
$$;

-- Per-record facts of the records that occurred in [p_since, p_until), one row each:
--   reached_at   for a missed call, the customer's first reach at or after it (any time,
--                also after p_until), else NULL;
--   responded_at for a message, the customer's first outbound record at or after it, in the
--                same thread when the message has one, else NULL;
--   prev_in      for an inbound record, the customer's latest earlier inbound record (ties
--                in occurred_at ordered by id), and prev_in_same the same on its channel.
-- Window functions over the range (and the 7 days before it, for prev_in) find most of the
-- reaches and responses in one sort; only those not found before p_until are looked up
-- one by one after it. Each "next" is a running minimum in descending time, which the
-- executor computes in one pass (a frame that ends UNBOUNDED FOLLOWING would be
-- recomputed for every row).
CREATE FUNCTION touchline.analytics_facts(p_since timestamptz, p_until timestamptz)
RETURNS TABLE (id uuid, customer_id uuid, occurred_at timestamptz, channel text,
               direction text, source text, stage text, agent text, sentiment text,
               score smallint, missed boolean, reached_at timestamptz, message boolean,
               responded_at timestamptz, prev_in timestamptz, prev_in_same timestamptz)
LANGUAGE sql STABLE AS $$
    WITH w AS (
        SELECT i.id, i.customer_id, i.occurred_at, i.channel, i.direction, i.source, i.stage,
               i.agent, i.sentiment, i.score, i.thread,
               touchline.is_missed_call(i.channel, i.direction, i.status) AS missed,
               touchline.is_reach(i.channel, i.direction, i.status) AS reach,
               touchline.is_message(i.channel, i.direction) AS message
          FROM touchline.interactions i
         WHERE i.occurred_at >= p_since - interval '7 days' AND i.occurred_at < p_until),
    x AS (
        SELECT w.*,
               min(w.occurred_at) FILTER (WHERE w.reach) OVER later AS next_reach,
               min(w.occurred_at) FILTER (WHERE w.direction = 'outbound') OVER later AS next_out,
               min(w.occurred_at) FILTER (WHERE w.direction = 'outbound') OVER later_thread
                   AS next_out_thread,
               max(w.occurred_at) FILTER (WHERE w.direction = 'inbound') OVER earlier AS prev_in,
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
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))
    SELECT x.id, x.customer_id, x.occurred_at, x.channel, x.direction, x.source, x.stage,
           x.agent, x.sentiment, x.score, x.missed,
           CASE WHEN NOT x.missed THEN NULL
                WHEN x.next_reach IS NOT NULL THEN x.next_reach
                ELSE (SELECT j.occurred_at FROM touchline.interactions j
                       WHERE j.customer_id = x.customer_id AND j.occurred_at >= p_until
                         AND touchline.is_reach(j.channel, j.direction, j.status)
                       ORDER BY j.occurred_at LIMIT 1) END,
           x.message,
           CASE WHEN NOT x.message THEN NULL
                WHEN x.thread IS NULL AND x.next_out IS NOT NULL THEN x.next_out
                WHEN x.thread IS NOT NULL AND x.next_out_thread IS NOT NULL
                    THEN x.next_out_thread
                ELSE (SELECT j.occurred_at FROM touchline.interactions j
                       WHERE j.customer_id = x.customer_id AND j.occurred_at >= p_until
                         AND j.direction = 'outbound'
                         AND (x.thread IS NULL OR j.thread = x.thread)
                       ORDER BY j.occurred_at LIMIT 1) END,
           CASE WHEN x.direction = 'inbound' THEN x.prev_in END,
           CASE WHEN x.direction = 'inbound' THEN x.prev_in_same END
      FROM x
     WHERE x.occurred_at >= p_since
$$;

-- A duration summary: {"mean","p50","p90","max"} of whole seconds, nulls when empty.
CREATE FUNCTION touchline.duration_json(mean numeric, p50 bigint, p90 bigint, mx bigint)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('mean', round(mean, 2), 'p50', p50, 'p90', p90, 'max', mx)
$$;

CREATE FUNCTION touchline.share(part bigint, whole bigint)
RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN whole > 0 THEN round(part::numeric / whole, 4) END
$$;

CREATE FUNCTION touchline.repeat_json(total bigint, same bigint, inbound bigint)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('total', total, 'same_channel', same,
                              'other_channel', total - same,
                              'share', touchline.share(total, inbound),
                              'other_channel_share', touchline.share(total - same, inbound))
$$;

CREATE FUNCTION touchline.funnel_json(pre bigint, pur bigint, post bigint)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'pre_purchase', pre, 'purchase', pur, 'post_purchase', post,
        'drop_off', jsonb_build_object(
            'pre_purchase_to_purchase',
                CASE WHEN pre > 0 THEN round(1 - pur::numeric / pre, 4) END,
            'purchase_to_post_purchase',
                CASE WHEN pur > 0 THEN round(1 - post::numeric / pur, 4) END))
$$;

-- The group keys GET /v1/stats accepts, in the order its error message lists them.
CREATE FUNCTION touchline.stats_by_keys() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY['channel', 'source', 'stage', 'agent', 'day'] $$;

-- Checks and completes a time range: until defaults to now, since to p_default before
-- until. Raises invalid_parameter_value (22023) naming the parameter.
CREATE FUNCTION touchline.analytics_range(p_since timestamptz, p_until timestamptz,
                                          p_default interval, OUT since timestamptz,
                                          OUT until timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    until := coalesce(p_until, now());
    since := coalesce(p_since, until - p_default);
    IF since >= until THEN
        RAISE EXCEPTION 'until: must be after since' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF until - since > interval '366 days' THEN
        RAISE EXCEPTION 'since: the range is longer than 366 days'
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
END;
$$;

-- GET /v1/stats (docs/api.md, "Figures for a time range"). p_by: NULL or one of
-- stats_by_keys(); p_sla_s: [analytics] callback_sla in seconds.
CREATE FUNCTION touchline.stats_json(p_since timestamptz, p_until timestamptz, p_by text,
                                     p_sla_s integer)
RETURNS jsonb
LANGUAGE plpgsql STABLE
-- The windows sort the range's records; in memory that is several times faster. JIT
-- compiling the many aggregates' expressions costs more than it saves here.
SET work_mem = '512MB'
SET jit = off
AS $$
DECLARE
    r      record;
    now_   timestamptz := now();
    sla    interval := make_interval(secs => p_sla_s);
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

    WITH f AS MATERIALIZED (
        SELECT * FROM touchline.analytics_facts(r.since, r.until)),
    g AS (
        SELECT GROUPING(k.key) = 1 AS total, k.key,
               jsonb_build_object(
               'interactions', count(*),
               'inbound', count(*) FILTER (WHERE f.direction = 'inbound'),
               'outbound', count(*) FILTER (WHERE f.direction = 'outbound'),
               'missed_calls', jsonb_build_object(
                   'total', count(*) FILTER (WHERE f.missed),
                   'reached', count(f.reached_at),
                   'open', count(*) FILTER (WHERE f.missed AND f.reached_at IS NULL),
                   'breached', count(*) FILTER (WHERE f.missed AND f.reached_at IS NULL
                                                  AND now_ - f.occurred_at > sla),
                   'reached_late', count(*) FILTER (WHERE f.reached_at - f.occurred_at > sla),
                   'callback_s', touchline.duration_json(
                       avg(touchline.seconds_between(f.occurred_at, f.reached_at)),
                       percentile_disc(0.5) WITHIN GROUP (
                           ORDER BY touchline.seconds_between(f.occurred_at, f.reached_at)),
                       percentile_disc(0.9) WITHIN GROUP (
                           ORDER BY touchline.seconds_between(f.occurred_at, f.reached_at)),
                       max(touchline.seconds_between(f.occurred_at, f.reached_at)))),
               'first_response', jsonb_build_object(
                   'messages', count(*) FILTER (WHERE f.message),
                   'answered', count(f.responded_at),
                   'unanswered', count(*) FILTER (WHERE f.message AND f.responded_at IS NULL),
                   'response_s', touchline.duration_json(
                       avg(touchline.seconds_between(f.occurred_at, f.responded_at)),
                       percentile_disc(0.5) WITHIN GROUP (
                           ORDER BY touchline.seconds_between(f.occurred_at, f.responded_at)),
                       percentile_disc(0.9) WITHIN GROUP (
                           ORDER BY touchline.seconds_between(f.occurred_at, f.responded_at)),
                       max(touchline.seconds_between(f.occurred_at, f.responded_at)))),
               'repeat_contacts', jsonb_build_object(
                   'inbound', count(*) FILTER (WHERE f.direction = 'inbound'),
                   'within_24h', touchline.repeat_json(
                       count(*) FILTER (WHERE f.prev_in >= f.occurred_at - interval '24 hours'),
                       count(*) FILTER (WHERE f.prev_in_same
                                              >= f.occurred_at - interval '24 hours'),
                       count(*) FILTER (WHERE f.direction = 'inbound')),
                   'within_7d', touchline.repeat_json(
                       count(*) FILTER (WHERE f.prev_in >= f.occurred_at - interval '7 days'),
                       count(*) FILTER (WHERE f.prev_in_same >= f.occurred_at - interval '7 days'),
                       count(*) FILTER (WHERE f.direction = 'inbound'))),
               'sentiment', jsonb_build_object(
                   'positive', count(*) FILTER (WHERE f.sentiment = 'positive'),
                   'neutral', count(*) FILTER (WHERE f.sentiment = 'neutral'),
                   'negative', count(*) FILTER (WHERE f.sentiment = 'negative'),
                   'rated', count(f.sentiment),
                   'score', jsonb_build_object('count', count(f.score),
                                               'mean', round(avg(f.score), 2)))) AS doc
          FROM f
         CROSS JOIN LATERAL (SELECT CASE p_by
                    WHEN 'channel' THEN f.channel
                    WHEN 'source' THEN f.source
                    WHEN 'stage' THEN f.stage
                    WHEN 'agent' THEN f.agent
                    WHEN 'day' THEN to_char(f.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
                    END AS key) k
         GROUP BY GROUPING SETS ((), (k.key))),
    -- The funnel: customers whose touchpoints in the range include a pre_purchase one, by
    -- the channel of the first (their entry channel); of those, who had a purchase
    -- touchpoint at or after it, and of those, a post_purchase one at or after that.
    st AS (
        SELECT f.customer_id, f.occurred_at, f.id, f.channel, f.stage
          FROM f WHERE f.stage IS NOT NULL),
    pre AS (
        SELECT DISTINCT ON (st.customer_id) st.customer_id, st.occurred_at AS pre_at,
               st.channel AS entry
          FROM st WHERE st.stage = 'pre_purchase'
         ORDER BY st.customer_id, st.occurred_at, st.id),
    pur AS (
        SELECT pre.customer_id, min(st.occurred_at) AS pur_at
          FROM pre JOIN st ON st.customer_id = pre.customer_id AND st.stage = 'purchase'
                          AND st.occurred_at >= pre.pre_at
         GROUP BY pre.customer_id),
    post AS (
        SELECT DISTINCT pur.customer_id
          FROM pur JOIN st ON st.customer_id = pur.customer_id AND st.stage = 'post_purchase'
                          AND st.occurred_at >= pur.pur_at),
    c AS (
        SELECT pre.entry, pur.customer_id IS NOT NULL AS bought,
               post.customer_id IS NOT NULL AS after
          FROM pre LEFT JOIN pur USING (customer_id) LEFT JOIN post USING (customer_id)),
    fg AS (
        SELECT GROUPING(c.entry) = 1 AS total, c.entry,
               touchline.funnel_json(count(*), count(*) FILTER (WHERE c.bought),
                                     count(*) FILTER (WHERE c.after)) AS doc
          FROM c GROUP BY GROUPING SETS ((), (c.entry)))
    SELECT (SELECT doc FROM g WHERE total),
           (SELECT coalesce(jsonb_agg(jsonb_build_object('key', key) || doc
                                      ORDER BY key COLLATE "C" NULLS LAST), '[]')
              FROM g WHERE NOT total AND p_by IS NOT NULL),
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

-- The customer's first reach at or after t, or NULL.
CREATE FUNCTION touchline.reached_after(p_customer uuid, t timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT j.occurred_at FROM touchline.interactions j
     WHERE j.customer_id = p_customer AND j.occurred_at >= t
       AND touchline.is_reach(j.channel, j.direction, j.status)
     ORDER BY j.occurred_at LIMIT 1
$$;

-- The customer's first response to a message at t (in thread p_thread when not NULL).
CREATE FUNCTION touchline.responded_after(p_customer uuid, t timestamptz, p_thread text)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT j.occurred_at FROM touchline.interactions j
     WHERE j.customer_id = p_customer AND j.occurred_at >= t AND j.direction = 'outbound'
       AND (p_thread IS NULL OR j.thread = p_thread)
     ORDER BY j.occurred_at LIMIT 1
$$;

-- GET /v1/missed (docs/api.md, "The call-back worklist"): one item per customer with
-- missed calls in [since, until), oldest first; p_open keeps only those with an open one.
CREATE FUNCTION touchline.missed_json(p_since timestamptz, p_until timestamptz,
                                      p_open boolean, p_limit integer, p_sla_s integer)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r     record;
    now_  timestamptz := now();
    items jsonb;
    n     integer;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000 THEN
        RAISE EXCEPTION 'limit: must be 1-1000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO r FROM touchline.analytics_range(p_since, p_until, interval '7 days');
    WITH m AS (
        SELECT i.id, i.customer_id, i.occurred_at, i.status, i.source,
               touchline.reached_after(i.customer_id, i.occurred_at) AS reached_at
          FROM touchline.interactions i
         WHERE i.occurred_at >= r.since AND i.occurred_at < r.until
           AND touchline.is_missed_call(i.channel, i.direction, i.status)),
    c AS (
        SELECT m.customer_id, count(*) AS calls, count(*) FILTER (WHERE m.reached_at IS NULL)
                   AS open,
               min(m.occurred_at) AS first_at, max(m.occurred_at) AS last_at,
               min(m.occurred_at) FILTER (WHERE m.reached_at IS NULL) AS first_open_at,
               (array_agg(m.reached_at ORDER BY m.occurred_at DESC, m.id DESC))[1]
                   AS last_reached_at,
               (array_agg(m.occurred_at ORDER BY m.occurred_at DESC, m.id DESC))[1]
                   AS last_missed_at
          FROM m GROUP BY m.customer_id
        HAVING NOT p_open OR count(*) FILTER (WHERE m.reached_at IS NULL) > 0),
    page AS (
        SELECT c.*, coalesce(c.first_open_at, c.first_at) AS order_at
          FROM c ORDER BY coalesce(c.first_open_at, c.first_at), c.customer_id
         LIMIT p_limit + 1)
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'customer_id', page.customer_id,
               'name', cu.name,
               'phones', coalesce((SELECT jsonb_agg(d.value ORDER BY d.value)
                                     FROM touchline.identities d
                                    WHERE d.customer_id = page.customer_id
                                      AND d.kind = 'phone'), '[]'),
               'missed_calls', page.calls, 'open', page.open,
               'first_missed_at', touchline.fmt_ts(page.first_at),
               'last_missed_at', touchline.fmt_ts(page.last_at),
               'age_s', touchline.seconds_between(page.order_at, now_),
               'breached', page.open > 0 AND now_ - page.order_at > make_interval(secs => p_sla_s),
               'reached_at', touchline.fmt_ts(page.last_reached_at),
               'callback_s', touchline.seconds_between(page.last_missed_at, page.last_reached_at),
               'calls', (SELECT jsonb_agg(jsonb_build_object(
                                    'id', m.id, 'occurred_at', touchline.fmt_ts(m.occurred_at),
                                    'status', m.status, 'source', m.source,
                                    'open', m.reached_at IS NULL,
                                    'reached_at', touchline.fmt_ts(m.reached_at),
                                    'callback_s',
                                        touchline.seconds_between(m.occurred_at, m.reached_at))
                                    ORDER BY m.occurred_at, m.id)
                           FROM (SELECT * FROM m WHERE m.customer_id = page.customer_id
                                  ORDER BY m.occurred_at, m.id LIMIT 20) m),
               'since', (SELECT jsonb_build_object(
                             'counts', coalesce((SELECT jsonb_object_agg(o.channel, o.n)
                                                   FROM (SELECT j.channel, count(*) AS n
                                                           FROM touchline.interactions j
                                                          WHERE j.customer_id = page.customer_id
                                                            AND j.occurred_at > page.order_at
                                                            AND NOT touchline.is_missed_call(
                                                                j.channel, j.direction, j.status)
                                                          GROUP BY j.channel) o), '{}'),
                             'items', coalesce((SELECT jsonb_agg(touchline.drop_null_keys(
                                                    jsonb_build_object(
                                                        'id', j.id, 'channel', j.channel,
                                                        'direction', j.direction,
                                                        'status', j.status,
                                                        'occurred_at',
                                                            touchline.fmt_ts(j.occurred_at),
                                                        'subject', j.subject))
                                                    ORDER BY j.occurred_at DESC, j.id DESC)
                                                  FROM (SELECT * FROM touchline.interactions j
                                                         WHERE j.customer_id = page.customer_id
                                                           AND j.occurred_at > page.order_at
                                                           AND NOT touchline.is_missed_call(
                                                               j.channel, j.direction, j.status)
                                                         ORDER BY j.occurred_at DESC, j.id DESC
                                                         LIMIT 5) j), '[]'))))
               ORDER BY page.order_at, page.customer_id), '[]'),
           count(*)
      INTO items, n
      FROM page LEFT JOIN touchline.customers cu ON cu.id = page.customer_id;
    IF n > p_limit THEN
        items := items - p_limit;
    END IF;
    RETURN jsonb_build_object(
        'since', touchline.fmt_ts(r.since), 'until', touchline.fmt_ts(r.until), 'open', p_open,
        'callback_sla_s', p_sla_s, 'now', touchline.fmt_ts(now_), 'items', items,
        'truncated', n > p_limit);
END;
$$;

-- GET /v1/customers/{id}/journey (docs/api.md, "A customer's journey"). NULL when the
-- customer is unknown.
CREATE FUNCTION touchline.journey_json(p_id uuid, p_since timestamptz, p_until timestamptz)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s     uuid;
    c     touchline.customers;
    total bigint;
    doc   jsonb;
BEGIN
    IF p_id IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_since IS NOT NULL AND p_until IS NOT NULL AND p_since >= p_until THEN
        RAISE EXCEPTION 'until: must be after since' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    s := touchline.survivor(p_id);
    SELECT * INTO c FROM touchline.customers WHERE id = s;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO total FROM touchline.interactions i
     WHERE i.customer_id = s AND (p_since IS NULL OR i.occurred_at >= p_since)
       AND (p_until IS NULL OR i.occurred_at < p_until);
    WITH t AS (
        SELECT i.*, coalesce(i.stage, 'unstaged') AS col
          FROM touchline.interactions i
         WHERE i.customer_id = s AND (p_since IS NULL OR i.occurred_at >= p_since)
           AND (p_until IS NULL OR i.occurred_at < p_until)
         ORDER BY i.occurred_at DESC, i.id DESC LIMIT 1000),
    n AS (
        SELECT t.*, (row_number() OVER (ORDER BY t.occurred_at, t.id) - 1) AS k,
               array_position(ARRAY['pre_purchase', 'purchase', 'post_purchase', 'unstaged'],
                              t.col) AS colno
          FROM t),
    rows_ AS (
        SELECT n.channel, min(n.k) AS first_k FROM n GROUP BY n.channel)
    SELECT jsonb_build_object(
        'touchpoints', coalesce((SELECT jsonb_agg(jsonb_build_object(
                           'id', n.id, 'occurred_at', touchline.fmt_ts(n.occurred_at),
                           'channel', n.channel, 'stage', n.col, 'direction', n.direction,
                           'status', n.status, 'source', n.source, 'agent', n.agent,
                           'sentiment', n.sentiment, 'score', n.score,
                           'summary', coalesce(nullif(n.subject, ''),
                                               nullif(left(regexp_replace(n.body, '\s+', ' ',
                                                                          'g'), 80), '')))
                           ORDER BY n.k) FROM n), '[]'),
        'channels', coalesce((SELECT jsonb_agg(rows_.channel ORDER BY rows_.first_k)
                                FROM rows_), '[]'),
        'cells', coalesce((SELECT jsonb_agg(cell.doc ORDER BY cell.first_k, cell.colno)
                             FROM (SELECT rows_.first_k, n.colno, jsonb_build_object(
                                          'channel', n.channel, 'stage', n.col,
                                          'count', count(*),
                                          'positive', count(*) FILTER (WHERE n.sentiment = 'positive'),
                                          'neutral', count(*) FILTER (WHERE n.sentiment = 'neutral'),
                                          'negative', count(*) FILTER (WHERE n.sentiment = 'negative'),
                                          'mean_score', round(avg(n.score), 2),
                                          'first_at', touchline.fmt_ts(min(n.occurred_at)),
                                          'last_at', touchline.fmt_ts(max(n.occurred_at)),
                                          'touchpoints', jsonb_agg(n.k ORDER BY n.k)) AS doc
                                     FROM n JOIN rows_ USING (channel)
                                    GROUP BY rows_.first_k, n.channel, n.col, n.colno) cell),
                          '[]'))
      INTO doc;
    RETURN jsonb_build_object(
        'customer_id', s, 'name', c.name,
        'stages', jsonb_build_array('pre_purchase', 'purchase', 'post_purchase', 'unstaged'))
        || doc || jsonb_build_object('truncated', total > 1000);
END;
$$;

-- What is pending for a customer (the context's "pending"): open missed calls and
-- unanswered messages, oldest first, 20 of each at most. NULL when the customer is unknown.
CREATE FUNCTION touchline.pending_json(p_id uuid, p_sla_s integer)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s    uuid;
    now_ timestamptz := clock_timestamp();
BEGIN
    IF p_id IS NULL THEN
        RETURN NULL;
    END IF;
    s := touchline.survivor(p_id);
    RETURN jsonb_build_object(
        'missed_calls', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'id', m.id, 'occurred_at', touchline.fmt_ts(m.occurred_at),
                       'status', m.status,
                       'age_s', touchline.seconds_between(m.occurred_at, now_),
                       'breached', now_ - m.occurred_at > make_interval(secs => p_sla_s))
                       ORDER BY m.occurred_at, m.id)
              FROM (SELECT i.* FROM touchline.interactions i
                     WHERE i.customer_id = s
                       AND touchline.is_missed_call(i.channel, i.direction, i.status)
                       AND touchline.reached_after(s, i.occurred_at) IS NULL
                     ORDER BY i.occurred_at, i.id LIMIT 20) m), '[]'),
        'unanswered', coalesce((
            SELECT jsonb_agg(touchline.drop_null_keys(jsonb_build_object(
                       'id', m.id, 'channel', m.channel, 'thread', m.thread,
                       'occurred_at', touchline.fmt_ts(m.occurred_at),
                       'age_s', touchline.seconds_between(m.occurred_at, now_),
                       'subject', m.subject))
                       ORDER BY m.occurred_at, m.id)
              FROM (SELECT i.* FROM touchline.interactions i
                     WHERE i.customer_id = s AND touchline.is_message(i.channel, i.direction)
                       AND touchline.responded_after(s, i.occurred_at, i.thread) IS NULL
                     ORDER BY i.occurred_at, i.id LIMIT 20) m), '[]'));
END;
$$;

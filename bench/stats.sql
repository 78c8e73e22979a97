-- bench/stats.sql — the figures of GET /v1/stats (totals and funnel, no grouping) computed
-- the straightforward way, straight from touchline.interactions and docs/analytics.md, with
-- none of sql/009_analytics.sql's functions: one correlated subquery per definition and
-- record. bench/stats runs it in the same transaction as touchline.stats_json (so that both
-- see the same now()) and requires the two documents to be equal.
--
-- psql variables: since, until (timestamptz literals), sla (seconds).
SELECT jsonb_build_object(
    'totals', (
        SELECT jsonb_build_object(
            'interactions', count(*),
            'inbound', count(*) FILTER (WHERE direction = 'inbound'),
            'outbound', count(*) FILTER (WHERE direction = 'outbound'),
            'missed_calls', jsonb_build_object(
                'total', count(*) FILTER (WHERE missed),
                'reached', count(reached_at),
                'open', count(*) FILTER (WHERE missed AND reached_at IS NULL),
                'breached', count(*) FILTER (WHERE missed AND reached_at IS NULL
                                               AND now() - occurred_at
                                                   > make_interval(secs => :sla)),
                'reached_late', count(*) FILTER (WHERE reached_at - occurred_at
                                                      > make_interval(secs => :sla)),
                'callback_s', jsonb_build_object(
                    'mean', round(avg(callback_s), 2),
                    'p50', percentile_disc(0.5) WITHIN GROUP (ORDER BY callback_s),
                    'p90', percentile_disc(0.9) WITHIN GROUP (ORDER BY callback_s),
                    'max', max(callback_s))),
            'first_response', jsonb_build_object(
                'messages', count(*) FILTER (WHERE message),
                'answered', count(responded_at),
                'unanswered', count(*) FILTER (WHERE message AND responded_at IS NULL),
                'response_s', jsonb_build_object(
                    'mean', round(avg(response_s), 2),
                    'p50', percentile_disc(0.5) WITHIN GROUP (ORDER BY response_s),
                    'p90', percentile_disc(0.9) WITHIN GROUP (ORDER BY response_s),
                    'max', max(response_s))),
            'repeat_contacts', jsonb_build_object(
                'inbound', count(*) FILTER (WHERE direction = 'inbound'),
                'within_24h', jsonb_build_object(
                    'total', count(*) FILTER (WHERE r24_any),
                    'same_channel', count(*) FILTER (WHERE r24_same),
                    'other_channel', count(*) FILTER (WHERE r24_any AND NOT r24_same),
                    'share', CASE WHEN count(*) FILTER (WHERE direction = 'inbound') > 0 THEN
                        round(count(*) FILTER (WHERE r24_any)::numeric
                              / count(*) FILTER (WHERE direction = 'inbound'), 4) END,
                    'other_channel_share',
                        CASE WHEN count(*) FILTER (WHERE direction = 'inbound') > 0 THEN
                        round(count(*) FILTER (WHERE r24_any AND NOT r24_same)::numeric
                              / count(*) FILTER (WHERE direction = 'inbound'), 4) END),
                'within_7d', jsonb_build_object(
                    'total', count(*) FILTER (WHERE r7_any),
                    'same_channel', count(*) FILTER (WHERE r7_same),
                    'other_channel', count(*) FILTER (WHERE r7_any AND NOT r7_same),
                    'share', CASE WHEN count(*) FILTER (WHERE direction = 'inbound') > 0 THEN
                        round(count(*) FILTER (WHERE r7_any)::numeric
                              / count(*) FILTER (WHERE direction = 'inbound'), 4) END,
                    'other_channel_share',
                        CASE WHEN count(*) FILTER (WHERE direction = 'inbound') > 0 THEN
                        round(count(*) FILTER (WHERE r7_any AND NOT r7_same)::numeric
                              / count(*) FILTER (WHERE direction = 'inbound'), 4) END)),
            'sentiment', jsonb_build_object(
                'positive', count(*) FILTER (WHERE sentiment = 'positive'),
                'neutral', count(*) FILTER (WHERE sentiment = 'neutral'),
                'negative', count(*) FILTER (WHERE sentiment = 'negative'),
                'rated', count(sentiment),
                'score', jsonb_build_object('count', count(score),
                                            'mean', round(avg(score), 2))))
        FROM (
            SELECT d.*,
                   floor(extract(epoch FROM d.reached_at - d.occurred_at))::bigint AS callback_s,
                   floor(extract(epoch FROM d.responded_at - d.occurred_at))::bigint
                       AS response_s
              FROM (
                SELECT i.occurred_at, i.direction, i.sentiment, i.score,
                       (i.channel = 'phone' AND i.direction = 'inbound'
                        AND coalesce(i.status IN ('missed', 'busy', 'failed'), false)) AS missed,
                       (i.direction = 'inbound' AND i.channel IN ('sms', 'email', 'chat'))
                           AS message,
                       CASE WHEN i.channel = 'phone' AND i.direction = 'inbound'
                                 AND i.status IN ('missed', 'busy', 'failed') THEN
                           (SELECT min(j.occurred_at) FROM touchline.interactions j
                             WHERE j.customer_id = i.customer_id
                               AND j.occurred_at >= i.occurred_at
                               AND (j.direction = 'outbound'
                                    OR (j.channel = 'phone' AND j.status = 'answered')))
                       END AS reached_at,
                       CASE WHEN i.direction = 'inbound' AND i.channel IN ('sms', 'email', 'chat')
                           THEN (SELECT min(j.occurred_at) FROM touchline.interactions j
                                  WHERE j.customer_id = i.customer_id
                                    AND j.occurred_at >= i.occurred_at
                                    AND j.direction = 'outbound'
                                    AND (i.thread IS NULL OR j.thread = i.thread))
                       END AS responded_at,
                       i.direction = 'inbound' AND EXISTS (
                           SELECT 1 FROM touchline.interactions j
                            WHERE j.customer_id = i.customer_id AND j.direction = 'inbound'
                              AND (j.occurred_at, j.id) < (i.occurred_at, i.id)
                              AND j.occurred_at >= i.occurred_at - interval '24 hours') AS r24_any,
                       i.direction = 'inbound' AND EXISTS (
                           SELECT 1 FROM touchline.interactions j
                            WHERE j.customer_id = i.customer_id AND j.direction = 'inbound'
                              AND j.channel = i.channel
                              AND (j.occurred_at, j.id) < (i.occurred_at, i.id)
                              AND j.occurred_at >= i.occurred_at - interval '24 hours')
                           AS r24_same,
                       i.direction = 'inbound' AND EXISTS (
                           SELECT 1 FROM touchline.interactions j
                            WHERE j.customer_id = i.customer_id AND j.direction = 'inbound'
                              AND (j.occurred_at, j.id) < (i.occurred_at, i.id)
                              AND j.occurred_at >= i.occurred_at - interval '7 days') AS r7_any,
                       i.direction = 'inbound' AND EXISTS (
                           SELECT 1 FROM touchline.interactions j
                            WHERE j.customer_id = i.customer_id AND j.direction = 'inbound'
                              AND j.channel = i.channel
                              AND (j.occurred_at, j.id) < (i.occurred_at, i.id)
                              AND j.occurred_at >= i.occurred_at - interval '7 days') AS r7_same
                  FROM touchline.interactions i
                 WHERE i.occurred_at >= :'since' AND i.occurred_at < :'until'
                -- Each subquery once per record, not once per aggregate that reads it.
                OFFSET 0) d) x),
    'funnel', (
        WITH pre AS (
            SELECT DISTINCT ON (customer_id) customer_id, occurred_at AS pre_at, channel AS entry
              FROM touchline.interactions
             WHERE occurred_at >= :'since' AND occurred_at < :'until' AND stage = 'pre_purchase'
             ORDER BY customer_id, occurred_at, id),
        steps AS (
            SELECT pre.entry, pur.pur_at IS NOT NULL AS bought,
                   EXISTS (SELECT 1 FROM touchline.interactions j
                            WHERE j.customer_id = pre.customer_id AND j.stage = 'post_purchase'
                              AND j.occurred_at >= pur.pur_at AND j.occurred_at < :'until')
                       AS after
              FROM pre
              LEFT JOIN LATERAL (SELECT min(j.occurred_at) AS pur_at
                                   FROM touchline.interactions j
                                  WHERE j.customer_id = pre.customer_id AND j.stage = 'purchase'
                                    AND j.occurred_at >= pre.pre_at
                                    AND j.occurred_at < :'until') pur ON true),
        per AS (
            SELECT entry, count(*) AS pre, count(*) FILTER (WHERE bought) AS pur,
                   count(*) FILTER (WHERE after) AS post
              FROM steps GROUP BY ROLLUP (entry)),
        docs AS (
            SELECT entry,
                   jsonb_build_object(
                       'pre_purchase', pre, 'purchase', pur, 'post_purchase', post,
                       'drop_off', jsonb_build_object(
                           'pre_purchase_to_purchase',
                               CASE WHEN pre > 0 THEN round(1 - pur::numeric / pre, 4) END,
                           'purchase_to_post_purchase',
                               CASE WHEN pur > 0 THEN round(1 - post::numeric / pur, 4) END))
                       AS doc
              FROM per)
        SELECT jsonb_build_object(
            'total', coalesce((SELECT doc FROM docs WHERE entry IS NULL),
                              jsonb_build_object('pre_purchase', 0, 'purchase', 0,
                                                 'post_purchase', 0, 'drop_off',
                                                 jsonb_build_object(
                                                     'pre_purchase_to_purchase', NULL,
                                                     'purchase_to_post_purchase', NULL))),
            'by_entry_channel', coalesce((SELECT jsonb_agg(jsonb_build_object('key', entry) || doc
                                                           ORDER BY entry COLLATE "C")
                                            FROM docs WHERE entry IS NOT NULL), '[]'))));

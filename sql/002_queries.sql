-- Read side: JSON documents for the HTTP API, built next to the data so that one round
-- trip answers one request.

CREATE FUNCTION touchline.fmt_ts(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- The surviving customer that an identifier (already normalized) belongs to.
CREATE FUNCTION touchline.find_customer(p_kind text, p_value text) RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT touchline.survivor(customer_id) FROM touchline.identities
     WHERE kind = p_kind AND value = p_value
$$;

-- Drops the top-level keys whose value is null (but not nulls nested in attributes).
CREATE FUNCTION touchline.drop_null_keys(j jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(key, value), '{}'::jsonb)
      FROM jsonb_each(j) WHERE value <> 'null'::jsonb
$$;

CREATE FUNCTION touchline.interaction_json(i touchline.interactions) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT touchline.drop_null_keys(jsonb_build_object(
        'id', i.id, 'source', i.source, 'external_id', i.external_id,
        'channel', i.channel, 'direction', i.direction,
        'occurred_at', touchline.fmt_ts(i.occurred_at),
        'agent', i.agent, 'status', i.status, 'duration_s', i.duration_s,
        'subject', i.subject, 'body', i.body, 'thread', i.thread, 'stage', i.stage,
        'sentiment', i.sentiment, 'score', i.score, 'tags', to_jsonb(i.tags),
        'attributes', i.attributes))
$$;

-- A customer's profile; a merged-away id answers its survivor's. NULL when unknown.
CREATE FUNCTION touchline.profile_json(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s uuid;
    c touchline.customers;
BEGIN
    IF p_id IS NULL THEN
        RETURN NULL;
    END IF;
    s := touchline.survivor(p_id);
    SELECT * INTO c FROM touchline.customers WHERE id = s;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN jsonb_build_object(
        'id', c.id,
        'name', c.name,
        'identities', coalesce((SELECT jsonb_agg(jsonb_build_object('kind', kind, 'value', value)
                                                 ORDER BY kind, value)
                                  FROM touchline.identities WHERE customer_id = s), '[]'),
        'traits', c.traits,
        'created_at', touchline.fmt_ts(c.created_at),
        'first_seen', (SELECT touchline.fmt_ts(min(occurred_at))
                         FROM touchline.interactions WHERE customer_id = s),
        'last_seen', (SELECT touchline.fmt_ts(max(occurred_at))
                        FROM touchline.interactions WHERE customer_id = s),
        'counts', coalesce((SELECT jsonb_object_agg(channel, n)
                              FROM (SELECT channel, count(*) AS n FROM touchline.interactions
                                     WHERE customer_id = s GROUP BY channel) x), '{}'),
        'interactions', (SELECT count(*) FROM touchline.interactions WHERE customer_id = s),
        'merged_ids', coalesce((SELECT jsonb_agg(id ORDER BY merged_at, id) FROM touchline.customers
                                 WHERE merged_into = s), '[]'));
END;
$$;

-- One page of a customer's timeline, newest first, ties broken by id so the order is total.
-- The cursor names the last item shown; next_cursor is NULL on the last page.
CREATE FUNCTION touchline.timeline_json(p_id uuid, p_limit integer, p_before_ts timestamptz,
                                        p_before_id uuid, p_channel text,
                                        p_since timestamptz, p_until timestamptz)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s     uuid;
    items jsonb;
    n     integer;
    last  record;
BEGIN
    s := touchline.survivor(p_id);
    PERFORM 1 FROM touchline.customers WHERE id = s;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    WITH page AS (
        SELECT i.occurred_at, i.id, touchline.interaction_json(i) AS doc
          FROM touchline.interactions i
         WHERE i.customer_id = s
           AND (p_before_ts IS NULL OR (i.occurred_at, i.id) < (p_before_ts, p_before_id))
           AND (p_channel IS NULL OR i.channel = p_channel)
           AND (p_since IS NULL OR i.occurred_at >= p_since)
           AND (p_until IS NULL OR i.occurred_at < p_until)
         ORDER BY i.occurred_at DESC, i.id DESC
         LIMIT p_limit + 1)
    SELECT coalesce(jsonb_agg(doc ORDER BY occurred_at DESC, id DESC), '[]'), count(*)
      INTO items, n FROM page;
    IF n > p_limit THEN
        items := items - p_limit;
        SELECT (e ->> 'occurred_at')::timestamptz AS ts, (e ->> 'id')::uuid AS id INTO last
          FROM jsonb_array_elements(items) WITH ORDINALITY AS x(e, o)
         WHERE o = p_limit;
        RETURN jsonb_build_object('customer_id', s, 'items', items,
            'next_cursor', (extract(epoch FROM last.ts) * 1000000)::bigint::text || '-' ||
                           replace(last.id::text, '-', ''));
    END IF;
    RETURN jsonb_build_object('customer_id', s, 'items', items, 'next_cursor', NULL);
END;
$$;

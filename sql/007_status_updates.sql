-- Status updates (docs/protocol.md, "Status updates"): a record sent again with the same
-- (source, external_id) or id and a later status moves the stored record's status forward
-- (an SMS's "delivered", a call's final disposition) and leaves everything else as it was.
-- A status never moves backwards: each channel orders its statuses (status_rank), and an
-- update whose status does not rank above the stored one changes nothing, so late, repeated
-- and out-of-order callbacks are harmless and a plain resend stays a plain duplicate.

-- Every change of a record's status: from what (previous, NULL when it had none), to what,
-- when it happened at the source, when it arrived, and what the update said besides
-- (its attributes: an error code, the provider's own status word).
CREATE TABLE touchline.status_history (
    interaction_id uuid NOT NULL REFERENCES touchline.interactions (id) ON DELETE CASCADE,
    seq            bigint GENERATED ALWAYS AS IDENTITY,
    previous       text,
    status         text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    detail         jsonb,
    PRIMARY KEY (interaction_id, seq)
);

-- How far along a status is, per channel; higher replaces lower, equal or lower never.
--   phone:        failed, busy, missed (1) < voicemail (2) < answered (3)
--   every other:  received, sent (1) < delivered, failed (2) < read (3)
-- No status at all is 0, so the first status always applies.
CREATE FUNCTION touchline.status_rank(p_channel text, p_status text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_status IS NULL THEN 0
        WHEN p_channel = 'phone' THEN
            CASE p_status WHEN 'answered' THEN 3 WHEN 'voicemail' THEN 2 ELSE 1 END
        ELSE
            CASE p_status WHEN 'read' THEN 3 WHEN 'delivered' THEN 2 WHEN 'failed' THEN 2
                          ELSE 1 END
    END
$$;

-- Applies the status updates of one ingest batch, in order: p_ids[k] is the stored record
-- the k-th update is for. Returns the positions (from 1) of the updates that moved a status.
-- Each row is locked before it is compared, so two writers updating one record at once
-- apply their updates one after the other and the higher status wins either way.
CREATE FUNCTION touchline.apply_statuses(p_ids uuid[], p_status text[], p_at timestamptz[],
                                         p_duration integer[], p_detail text[])
RETURNS TABLE (n bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r    record;
    prev text;
    ch   text;
BEGIN
    FOR r IN SELECT x.id, x.status, x.at, x.duration, x.detail, x.k
               FROM unnest(p_ids, p_status, p_at, p_duration, p_detail)
                    WITH ORDINALITY AS x(id, status, at, duration, detail, k)
              ORDER BY x.k LOOP
        SELECT i.status, i.channel INTO prev, ch
          FROM touchline.interactions i WHERE i.id = r.id FOR NO KEY UPDATE;
        CONTINUE WHEN NOT FOUND
            OR touchline.status_rank(ch, r.status) <= touchline.status_rank(ch, prev);
        UPDATE touchline.interactions
           SET status = r.status, duration_s = coalesce(r.duration, duration_s)
         WHERE id = r.id;
        INSERT INTO touchline.status_history (interaction_id, previous, status, occurred_at,
                                              detail)
        VALUES (r.id, prev, r.status, r.at, r.detail::jsonb);
        n := r.k;
        RETURN NEXT;
    END LOOP;
END;
$$;

-- A record as the API shows it, now with its status history when the status ever changed.
CREATE OR REPLACE FUNCTION touchline.interaction_json(i touchline.interactions) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT touchline.drop_null_keys(jsonb_build_object(
        'id', i.id, 'source', i.source, 'external_id', i.external_id,
        'channel', i.channel, 'direction', i.direction,
        'occurred_at', touchline.fmt_ts(i.occurred_at),
        'agent', i.agent, 'status', i.status, 'duration_s', i.duration_s,
        'subject', i.subject, 'body', i.body, 'thread', i.thread, 'stage', i.stage,
        'sentiment', i.sentiment, 'score', i.score, 'tags', to_jsonb(i.tags),
        'attributes', i.attributes,
        'status_history', (
            SELECT jsonb_agg(touchline.drop_null_keys(jsonb_build_object(
                       'status', h.status, 'previous', h.previous,
                       'at', touchline.fmt_ts(h.occurred_at),
                       'received_at', touchline.fmt_ts(h.received_at),
                       'detail', h.detail)) ORDER BY h.seq)
              FROM touchline.status_history h WHERE h.interaction_id = i.id)))
$$;

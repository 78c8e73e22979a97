-- A deletion from interactions looks only at its own customers in analytics_dirty.
--
-- 009's deletion trigger swept the whole of analytics_dirty at every DELETE statement, for the
-- customers left without records. analytics_dirty is only emptied by a refresh (GET
-- /v1/stats), and every merge adds to it: after 20 million records of bench/soak with no
-- refresh it held 714 000 rows, and the sweep made each retention chunk of 5 000 rows, and
-- each erasure, take 11 seconds (docs/performance.md, "Retention"). Only the customers whose
-- records the statement deleted can have been left without records by it, and an index finds
-- them. The ids of customers that are themselves deleted (an erased person's merged-away ids,
-- which have no records of their own) go with them, through a trigger on customers.

CREATE INDEX analytics_dirty_customer ON touchline.analytics_dirty (customer_id);

CREATE OR REPLACE FUNCTION touchline.analytics_changed() RETURNS trigger
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
        -- Customers with records left (retention) are recomputed; one without (erased) leaves
        -- no trace, not even its id waiting here.
        DELETE FROM touchline.analytics_dirty d
         WHERE d.customer_id IN (SELECT DISTINCT g.customer_id FROM gone g)
           AND NOT EXISTS (SELECT 1 FROM touchline.interactions i
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

CREATE FUNCTION touchline.analytics_customers_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM touchline.analytics_dirty d WHERE d.customer_id IN (SELECT id FROM gone);
    RETURN NULL;
END;
$$;
CREATE TRIGGER analytics_customers_deleted AFTER DELETE ON touchline.customers
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION touchline.analytics_customers_deleted();

-- A year of a hundred centres (tens of millions of tickets): records partitioned by month, and
-- rollups per centre, day, service and officer that the dashboard and reports read instead of the
-- records. Rollups are written in the same statement that stores the records, so they are exact.

-- Records, partitioned by month of finishing (ratings: of rating). Partitions are made ahead by
-- ensure_month_partitions() (nodes call it at start and every hour); a DEFAULT partition takes
-- anything else (a clock far off), so nothing is ever refused for its date.
ALTER TABLE queue_records RENAME TO queue_records_v1;
ALTER INDEX queue_records_site_finished RENAME TO queue_records_v1_site_finished;
ALTER TABLE queue_records_v1 RENAME CONSTRAINT queue_records_pkey TO queue_records_v1_pkey;
CREATE TABLE queue_records (LIKE queue_records_v1 INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
                            PRIMARY KEY (site, ticket_id, finished_at))
    PARTITION BY RANGE (finished_at);
CREATE TABLE queue_records_default PARTITION OF queue_records DEFAULT;
CREATE INDEX queue_records_site_finished ON queue_records (site, finished_at);

ALTER TABLE ratings RENAME TO ratings_v1;
ALTER INDEX ratings_site_rated RENAME TO ratings_v1_site_rated;
ALTER TABLE ratings_v1 RENAME CONSTRAINT ratings_pkey TO ratings_v1_pkey;
CREATE TABLE ratings (LIKE ratings_v1 INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
                      PRIMARY KEY (site, ticket_id, rated_at))
    PARTITION BY RANGE (rated_at);
CREATE TABLE ratings_default PARTITION OF ratings DEFAULT;
CREATE INDEX ratings_site_rated ON ratings (site, rated_at);

CREATE FUNCTION ensure_month_partitions(first_month date, last_month date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    m date := date_trunc('month', first_month)::date;
    made integer := 0;
    t text;
BEGIN
    -- Nodes may call this at the same moment: one at a time.
    PERFORM pg_advisory_xact_lock(7310571043);
    WHILE m <= last_month LOOP
        FOREACH t IN ARRAY ARRAY['queue_records', 'ratings'] LOOP
            IF to_regclass(format('%s_%s', t, to_char(m, '"y"YYYY"m"MM'))) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                    format('%s_%s', t, to_char(m, '"y"YYYY"m"MM')), t,
                    (m::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh'),
                    ((m + interval '1 month')::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh'));
                made := made + 1;
            END IF;
        END LOOP;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN made;
END $$;

SELECT ensure_month_partitions((now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date - 31,
                               (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date + 62);
INSERT INTO queue_records SELECT * FROM queue_records_v1;
INSERT INTO ratings SELECT * FROM ratings_v1;
DROP TABLE queue_records_v1;
DROP TABLE ratings_v1;

-- Rollups. day is the Vietnamese calendar day; officer '' when none.
CREATE TABLE day_queue (
    site          text NOT NULL,
    day           date NOT NULL,
    service       text NOT NULL,
    officer       text NOT NULL,
    n             integer NOT NULL,           -- tickets that ended
    done          integer NOT NULL,
    skipped       integer NOT NULL,
    expired       integer NOT NULL,
    wait_n        integer NOT NULL,           -- tickets with a wait (called)
    wait_sum_s    double precision NOT NULL,
    within_15     integer NOT NULL,           -- called within 15 minutes
    service_n     integer NOT NULL,
    service_sum_s double precision NOT NULL,
    PRIMARY KEY (site, day, service, officer)
);
CREATE INDEX day_queue_day ON day_queue (day, site) INCLUDE (n, wait_n, wait_sum_s, within_15);

CREATE TABLE day_ratings (
    site          text NOT NULL,
    day           date NOT NULL,
    service       text NOT NULL,
    officer       text NOT NULL,
    score         integer NOT NULL,
    n             integer NOT NULL,
    satisfied     integer NOT NULL,
    PRIMARY KEY (site, day, service, officer, score)
);
CREATE INDEX day_ratings_day ON day_ratings (day, site) INCLUDE (officer, score, n, satisfied);

-- One person who works at several centres keeps one row in per-officer reports: a site's local
-- officer id maps to a province-wide person (default: the same id).
CREATE TABLE officers (
    site          text NOT NULL,
    officer       text NOT NULL,
    person        text NOT NULL,
    name          text,
    PRIMARY KEY (site, officer)
);
CREATE INDEX officers_person ON officers (person);

-- Records stored before this migration count in the rollups too.
INSERT INTO day_queue
SELECT site, (finished_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, service, coalesce(officer, ''),
       count(*), count(*) FILTER (WHERE outcome = 'done'), count(*) FILTER (WHERE outcome = 'skipped'),
       count(*) FILTER (WHERE outcome = 'expired'), count(wait_s), coalesce(sum(wait_s), 0),
       count(*) FILTER (WHERE wait_s <= 900), count(service_s), coalesce(sum(service_s), 0)
FROM queue_records GROUP BY 1, 2, 3, 4;
INSERT INTO day_ratings
SELECT site, (rated_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, service, coalesce(officer, ''), score,
       count(*), count(*) FILTER (WHERE satisfied)
FROM ratings GROUP BY 1, 2, 3, 4, 5;
INSERT INTO officers (site, officer, person)
SELECT DISTINCT site, officer, officer FROM queue_records WHERE officer IS NOT NULL
UNION SELECT DISTINCT site, officer, officer FROM ratings WHERE officer IS NOT NULL
ON CONFLICT DO NOTHING;

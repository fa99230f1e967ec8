-- Monthly rollups: trends and rankings over a year read 100 centres × 12 months of rows instead of
-- the day rollups (measured before: monthly trends of all centres p95 6.4 s from day_queue and
-- day_ratings with 20 million tickets; docs/benchmarks.md "Province"). Written together with the
-- day rollups, by the statement that stores the records.

CREATE TABLE month_queue (
    site          text NOT NULL,
    month         date NOT NULL,              -- first day of the month (Vietnamese calendar)
    n             integer NOT NULL,
    done          integer NOT NULL,
    skipped       integer NOT NULL,
    expired       integer NOT NULL,
    wait_n        integer NOT NULL,
    wait_sum_s    double precision NOT NULL,
    within_15     integer NOT NULL,
    service_n     integer NOT NULL,
    service_sum_s double precision NOT NULL,
    PRIMARY KEY (site, month)
);
CREATE INDEX month_queue_month ON month_queue (month, site);

CREATE TABLE month_ratings (
    site          text NOT NULL,
    month         date NOT NULL,
    score         integer NOT NULL,
    n             integer NOT NULL,
    satisfied     integer NOT NULL,
    PRIMARY KEY (site, month, score)
);
CREATE INDEX month_ratings_month ON month_ratings (month, site);

INSERT INTO month_queue
SELECT site, date_trunc('month', day)::date, sum(n), sum(done), sum(skipped), sum(expired), sum(wait_n),
       sum(wait_sum_s), sum(within_15), sum(service_n), sum(service_sum_s)
FROM day_queue GROUP BY 1, 2;
INSERT INTO month_ratings
SELECT site, date_trunc('month', day)::date, score, sum(n), sum(satisfied)
FROM day_ratings GROUP BY 1, 2, 3;

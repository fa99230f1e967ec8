-- The province tier's first schema: sites, the batches they forwarded, their records, and the
-- onward outbox to the provincial/national one-stop system.
-- Exactly-once rests on constraints: a batch key is stored once (batches.key), a ticket's end
-- once (queue_records), a rating once (ratings); nodes insert with ON CONFLICT DO NOTHING.

CREATE TABLE sites (
    id            text PRIMARY KEY CHECK (id ~ '^[a-z0-9-]{1,64}$'),
    name          text NOT NULL,
    token_sha256  text NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE batches (
    key           text PRIMARY KEY,
    site          text NOT NULL REFERENCES sites (id),
    stream        text NOT NULL CHECK (stream IN ('queue-records', 'ratings')),
    first_id      bigint NOT NULL,
    last_id       bigint NOT NULL,
    count         integer NOT NULL,
    sha256        text NOT NULL,
    stored        integer NOT NULL,          -- records new to the province (a site restored from a backup may resend some)
    node          text NOT NULL,             -- the node that stored it
    received_at   timestamptz NOT NULL DEFAULT now(),
    repeats       integer NOT NULL DEFAULT 0 -- how often the key came again (answered 409)
);

CREATE TABLE queue_records (
    site          text NOT NULL REFERENCES sites (id),
    ticket_id     text NOT NULL,
    finished_at   timestamptz NOT NULL,
    number        text NOT NULL,
    service       text NOT NULL,
    counter       text,
    officer       text,
    priority      boolean NOT NULL,
    issued_at     timestamptz NOT NULL,
    called_at     timestamptz,
    wait_s        double precision,
    service_s     double precision,
    outcome       text NOT NULL,
    batch_key     text NOT NULL,
    record        jsonb NOT NULL,
    PRIMARY KEY (site, ticket_id, finished_at)
);
CREATE INDEX queue_records_site_finished ON queue_records (site, finished_at);

CREATE TABLE ratings (
    site          text NOT NULL REFERENCES sites (id),
    ticket_id     text NOT NULL,
    rated_at      timestamptz NOT NULL,
    number        text NOT NULL,
    service       text NOT NULL,
    counter       text,
    officer       text,
    score         integer NOT NULL,
    level         text NOT NULL,
    satisfied     boolean NOT NULL,
    batch_key     text NOT NULL,
    record        jsonb NOT NULL,
    PRIMARY KEY (site, ticket_id)
);
CREATE INDEX ratings_site_rated ON ratings (site, rated_at);

-- Records to forward onward, in the order they were stored. A row gets its batch key (and the
-- batch's first/last ids) before the batch is sent, so a batch that was sent and not acknowledged
-- is sent again with the same rows and key, after any restart, by any node.
CREATE TABLE onward_outbox (
    id            bigserial PRIMARY KEY,
    stream        text NOT NULL CHECK (stream IN ('queue-records', 'ratings')),
    site          text NOT NULL,
    record        jsonb NOT NULL,
    batch_key     text,
    delivered_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX onward_pending ON onward_outbox (stream, id) WHERE delivered_at IS NULL;

CREATE TABLE onward_state (
    stream        text PRIMARY KEY,
    failures      integer NOT NULL DEFAULT 0,
    last_error    text,
    last_failure  timestamptz,
    last_success  timestamptz,
    delivered     bigint NOT NULL DEFAULT 0
);
INSERT INTO onward_state (stream) VALUES ('queue-records'), ('ratings');

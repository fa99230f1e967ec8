-- Citizens on 4G (docs/province.md "Citizens on 4G"): each ticket's public status page, served by
-- the province at /t/{token}, and the notifications a citizen asked for from it.
--
-- A ticket is known by its link token (the controller's HMAC of the ticket id, carried in the
-- bridged ticket.issued event) and holds nothing personal: number, service, status, counter.
-- Everything here is of today only: rows of an older business day are purged (with their
-- subscriptions, phone numbers included) when the site's next day starts, or after 36 hours.

CREATE TABLE public_tickets (
    token         text PRIMARY KEY CHECK (token ~ '^[A-Za-z0-9_-]{22}$'),
    site          text NOT NULL CHECK (site ~ '^[a-z0-9-]{1,64}$'),
    ticket_id     text NOT NULL CHECK (length(ticket_id) BETWEEN 1 AND 64),
    day           text NOT NULL,                   -- the business day, yyyymmdd (the id's prefix)
    number        text NOT NULL CHECK (length(number) BETWEEN 1 AND 16),
    service       text NOT NULL CHECK (length(service) BETWEEN 1 AND 64),
    priority      boolean NOT NULL DEFAULT false,
    status        text NOT NULL CHECK (status IN ('waiting', 'called', 'done', 'skipped', 'expired')),
    counter       text CHECK (length(counter) <= 64),
    order_key     bigint NOT NULL,                 -- place in line: the event seq (negative: at the front)
    issued_at     timestamptz NOT NULL,
    called_at     timestamptz,
    last_seq      bigint NOT NULL,                 -- the newest event applied (a redelivery is ignored)
    seen_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site, ticket_id)
);
CREATE INDEX public_tickets_line ON public_tickets (site, service, priority, order_key) WHERE status = 'waiting';
CREATE INDEX public_tickets_seen ON public_tickets (seen_at);

-- Web Push subscriptions of a ticket (a browser's endpoint and keys: no name, no number).
CREATE TABLE push_subscriptions (
    id            bigserial PRIMARY KEY,
    token         text NOT NULL REFERENCES public_tickets (token) ON DELETE CASCADE,
    endpoint      text NOT NULL CHECK (length(endpoint) <= 1024),
    p256dh        text NOT NULL CHECK (length(p256dh) <= 256),
    auth          text NOT NULL CHECK (length(auth) <= 64),
    near_sent     boolean NOT NULL DEFAULT false,
    called_seq    bigint NOT NULL DEFAULT 0,      -- the call event last notified
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (token, endpoint)
);
CREATE INDEX push_subscriptions_unsent ON push_subscriptions (token) WHERE NOT near_sent;

-- A phone number for the centre's SMS/Zalo gateway: personal data, kept only until the ticket ends
-- (done or expired) and never written to a log.
CREATE TABLE phone_subscriptions (
    token         text PRIMARY KEY REFERENCES public_tickets (token) ON DELETE CASCADE,
    phone         text NOT NULL CHECK (phone ~ '^\+84[0-9]{9,10}$'),
    near_sent     boolean NOT NULL DEFAULT false,
    called_seq    bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX phone_subscriptions_unsent ON phone_subscriptions (token) WHERE NOT near_sent;

-- Per site: when "your turn is near" goes out, and the centre's SMS/Zalo gateway if it has one.
CREATE TABLE site_notify (
    site          text PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    near          integer NOT NULL DEFAULT 3 CHECK (near BETWEEN 0 AND 50),
    gateway_url   text CHECK (gateway_url ~ '^https?://'),
    gateway_token text,
    gateway_channel text NOT NULL DEFAULT 'sms' CHECK (gateway_channel IN ('sms', 'zalo')),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

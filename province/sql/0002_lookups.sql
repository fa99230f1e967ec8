-- Bookings and dossiers that kiosks look up through their hub (docs/backend.md "Lookups").
-- Citizen id numbers are never stored: `citizen_key` is an HMAC of the number under the
-- province's secret (province_secrets), so the table alone does not reveal who booked.

CREATE TABLE province_secrets (
    name          text PRIMARY KEY,
    value         bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- 32 bytes from two random UUIDs (gen_random_uuid is in core PostgreSQL and uses a strong source).
INSERT INTO province_secrets (name, value)
VALUES ('citizen_key', decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));

CREATE TABLE bookings (
    code          text PRIMARY KEY CHECK (code ~ '^[A-Z0-9]{4,32}$'),
    site          text NOT NULL REFERENCES sites (id),
    service       text NOT NULL,
    slot_start    timestamptz NOT NULL,
    slot_end      timestamptz NOT NULL CHECK (slot_end > slot_start),
    initials      text NOT NULL DEFAULT '' CHECK (length(initials) <= 16),
    status        text NOT NULL CHECK (status IN ('booked', 'used', 'cancelled')),
    citizen_key   bytea,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bookings_citizen ON bookings (citizen_key, slot_start) WHERE citizen_key IS NOT NULL;

CREATE TABLE dossiers (
    code          text PRIMARY KEY CHECK (length(code) BETWEEN 4 AND 64),
    site          text NOT NULL REFERENCES sites (id),
    title         text NOT NULL,
    status        text NOT NULL CHECK (status IN ('received', 'processing', 'ready', 'returned', 'rejected')),
    promised_date date,
    service       text,
    citizen_key   bytea,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dossiers_citizen ON dossiers (citizen_key) WHERE citizen_key IS NOT NULL;

-- The live view (each centre's state as its bridge last said) and the people's tokens.

CREATE TABLE site_live (
    site          text PRIMARY KEY CHECK (site ~ '^[a-z0-9-]{1,64}$'),
    state         jsonb NOT NULL DEFAULT '{}'::jsonb,  -- counters, services, board, devices
    link          text NOT NULL DEFAULT 'unknown' CHECK (link IN ('up', 'down', 'unknown')),
    link_since    timestamptz,
    last_seen     timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Who may look (dashboard, reports): province viewer < manager < admin; a centre manager sees
-- only their centre (role 'centre' with a site). Tokens are stored hashed.
CREATE TABLE province_tokens (
    name          text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    role          text NOT NULL CHECK (role IN ('viewer', 'manager', 'admin', 'centre')),
    site          text REFERENCES sites (id),
    token_sha256  text NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'centre') = (site IS NOT NULL))
);

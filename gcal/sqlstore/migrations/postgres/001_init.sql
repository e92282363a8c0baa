-- Links of organisations to Google Calendar, and the audit of credential
-- accesses. Tables are created in the first schema of the search_path.
--
-- gcal_links.token holds the OAuth token encrypted with AES-256-GCM
-- (nonce || ciphertext || tag) under the key named by key_id; key_check
-- tells a wrong key from a tampered row. expires_at (of the access token)
-- is kept in clear for monitoring.

CREATE TABLE IF NOT EXISTS gcal_links (
    org_id      text PRIMARY KEY,
    status      text NOT NULL CHECK (status IN ('not_linked', 'linked', 'relink_required')),
    reason      text NOT NULL DEFAULT '',
    calendar_id text NOT NULL DEFAULT '',
    request_id  text NOT NULL DEFAULT '',
    token       bytea,
    key_id      text NOT NULL DEFAULT '',
    key_check   bytea,
    expires_at  timestamptz,
    version     bigint NOT NULL CHECK (version > 0),
    updated_at  timestamptz NOT NULL,
    CHECK ((token IS NULL) = (key_id = ''))
);

-- gcal_audit has no foreign key: the record outlives the link it describes.
CREATE TABLE IF NOT EXISTS gcal_audit (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id text NOT NULL,
    event  text NOT NULL,
    detail text NOT NULL DEFAULT '',
    at     timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS gcal_audit_org_id_idx ON gcal_audit (org_id, id);

-- Row level security with no policy: closed to every role but the owner
-- (the role that ran Migrate) and roles with BYPASSRLS, such as Supabase's
-- REST API roles, to which Supabase grants every new table in public.
ALTER TABLE gcal_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE gcal_audit ENABLE ROW LEVEL SECURITY;

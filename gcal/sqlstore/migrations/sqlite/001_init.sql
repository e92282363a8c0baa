-- Links of organisations to Google Calendar, and the audit of credential
-- accesses. Timestamps are UTC text, RFC 3339 with nanoseconds (fixed width).
--
-- gcal_links.token holds the OAuth token encrypted with AES-256-GCM
-- (nonce || ciphertext || tag) under the key named by key_id; key_check
-- tells a wrong key from a tampered row. expires_at (of the access token)
-- is kept in clear for monitoring.

CREATE TABLE IF NOT EXISTS gcal_links (
    org_id      TEXT PRIMARY KEY,
    status      TEXT NOT NULL CHECK (status IN ('not_linked', 'linked', 'relink_required')),
    reason      TEXT NOT NULL DEFAULT '',
    calendar_id TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT '',
    token       BLOB,
    key_id      TEXT NOT NULL DEFAULT '',
    key_check   BLOB,
    expires_at  TEXT,
    version     INTEGER NOT NULL CHECK (version > 0),
    updated_at  TEXT NOT NULL,
    CHECK ((token IS NULL) = (key_id = ''))
);

-- gcal_audit has no foreign key: the record outlives the link it describes.
CREATE TABLE IF NOT EXISTS gcal_audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL,
    event  TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    at     TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS gcal_audit_org_id_idx ON gcal_audit (org_id, id);

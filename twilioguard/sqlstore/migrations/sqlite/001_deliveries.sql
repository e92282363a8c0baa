-- Deliveries (the outbox of twilioguard) and their audit trail.
-- Timestamps are UTC text, RFC 3339 with microseconds, fixed width.

CREATE TABLE IF NOT EXISTS sms_deliveries (
    org_id      TEXT    NOT NULL,
    msg_key     TEXT    NOT NULL,
    to_number   TEXT    NOT NULL,
    from_number TEXT    NOT NULL DEFAULT '',
    sid         TEXT,                          -- NULL until Twilio accepted the message
    status      TEXT    NOT NULL,
    error_code  INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    version     INTEGER NOT NULL DEFAULT 1,
    lease_until TEXT,                          -- NULL when no Send holds the delivery
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    PRIMARY KEY (org_id, msg_key)
);

-- One delivery per message SID; NULLs (not yet accepted) do not collide.
CREATE UNIQUE INDEX IF NOT EXISTS sms_deliveries_sid_idx ON sms_deliveries (sid);

-- The audit trail holds masked numbers and codes only, and outlives what it describes.
CREATE TABLE IF NOT EXISTS sms_audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT    NOT NULL,
    org_id      TEXT    NOT NULL,
    msg_key     TEXT    NOT NULL,
    event       TEXT    NOT NULL,
    to_masked   TEXT    NOT NULL DEFAULT '',
    attempt     INTEGER NOT NULL DEFAULT 0,
    class       TEXT    NOT NULL DEFAULT '',
    code        INTEGER NOT NULL DEFAULT 0,
    http_status INTEGER NOT NULL DEFAULT 0,
    sid         TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX IF NOT EXISTS sms_audit_org_key_idx ON sms_audit (org_id, msg_key, id);

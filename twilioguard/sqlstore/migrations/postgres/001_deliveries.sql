-- Deliveries (the outbox of twilioguard) and their audit trail.

CREATE TABLE IF NOT EXISTS sms_deliveries (
    org_id      text        NOT NULL,
    msg_key     text        NOT NULL,
    to_number   text        NOT NULL,
    from_number text        NOT NULL DEFAULT '',
    sid         text,                          -- NULL until Twilio accepted the message
    status      text        NOT NULL,
    error_code  integer     NOT NULL DEFAULT 0,
    attempts    integer     NOT NULL DEFAULT 0,
    version     bigint      NOT NULL DEFAULT 1,
    lease_until timestamptz,                   -- NULL when no Send holds the delivery
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, msg_key)
);

-- One delivery per message SID; NULLs (not yet accepted) do not collide.
CREATE UNIQUE INDEX IF NOT EXISTS sms_deliveries_sid_idx ON sms_deliveries (sid);

-- The audit trail holds masked numbers and codes only, and outlives what it describes.
CREATE TABLE IF NOT EXISTS sms_audit (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL,
    org_id      text        NOT NULL,
    msg_key     text        NOT NULL,
    event       text        NOT NULL,
    to_masked   text        NOT NULL DEFAULT '',
    attempt     integer     NOT NULL DEFAULT 0,
    class       text        NOT NULL DEFAULT '',
    code        integer     NOT NULL DEFAULT 0,
    http_status integer     NOT NULL DEFAULT 0,
    sid         text        NOT NULL DEFAULT '',
    status      text        NOT NULL DEFAULT ''
);

CREATE INDEX IF NOT EXISTS sms_audit_org_key_idx ON sms_audit (org_id, msg_key, id);

-- Closed to every role but the owner (and BYPASSRLS roles), such as
-- Supabase's REST roles, which are granted every new table in public.
ALTER TABLE sms_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_audit ENABLE ROW LEVEL SECURITY;

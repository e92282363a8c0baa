-- Organisations, the profile that links each user to one, and an audit log.
-- Tables are created in the first schema of the search_path (public by default).
-- profiles.user_id is text so that any JWT subject fits; on Supabase it holds
-- auth.users.id.

CREATE TABLE IF NOT EXISTS organizations (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS profiles (
    user_id    text PRIMARY KEY,
    org_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email      text NOT NULL DEFAULT '',
    role       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS profiles_org_id_idx ON profiles (org_id);

-- audit_log has no foreign key: the record outlives what it describes.
CREATE TABLE IF NOT EXISTS audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id     uuid NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS audit_log_org_id_idx ON audit_log (org_id, created_at);

-- Row level security with no policy: the tables are closed to every role but
-- their owner (the role that ran Migrate) and roles with BYPASSRLS. Supabase's
-- default privileges grant each new table in public to its REST API roles
-- (anon, authenticated); without this, any user could read every profile, or
-- link themselves to another organisation, over the API.
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;

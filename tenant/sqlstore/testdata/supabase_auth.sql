-- A small Supabase-shaped auth schema for the signup trigger's tests.
--
-- It holds the tables and columns that Supabase Auth (github.com/supabase/auth,
-- directory migrations/) gives auth.users and auth.identities, as they stand
-- after 00_init_auth_schema, 20210710035447_alter_users,
-- 20210722035447_adds_confirmed_at, 20210909172000_create_identities_table,
-- 20220114185340_add_banned_until, 20221215195800_add_identities_email_column,
-- 20230116124412_add_deleted_at, 20231117164230_add_id_pkey_identities,
-- 20240214120130_add_is_anonymous_column and
-- 20240612123726_enable_rls_update_grants (row level security on both
-- tables, no policy). Tokens, sessions, MFA, SSO and OAuth tables are left
-- out: the trigger never touches them. As on Supabase, the schema and its
-- tables belong to the Auth server's own role (supabase_auth_admin there),
-- which has no BYPASSRLS and no privilege on the public schema.
--
-- {{ .Namespace }} and {{ .AuthAdmin }} are replaced by the test.

CREATE SCHEMA {{ .Namespace }} AUTHORIZATION {{ .AuthAdmin }};

CREATE TABLE {{ .Namespace }}.users (
    instance_id uuid NULL,
    id uuid NOT NULL UNIQUE,
    aud varchar(255) NULL,
    "role" varchar(255) NULL,
    email varchar(255) NULL,
    encrypted_password varchar(255) NULL,
    email_confirmed_at timestamptz NULL,
    invited_at timestamptz NULL,
    confirmation_token varchar(255) NULL,
    confirmation_sent_at timestamptz NULL,
    recovery_token varchar(255) NULL,
    recovery_sent_at timestamptz NULL,
    email_change_token_new varchar(255) NULL,
    email_change varchar(255) NULL,
    email_change_sent_at timestamptz NULL,
    last_sign_in_at timestamptz NULL,
    raw_app_meta_data jsonb NULL,
    raw_user_meta_data jsonb NULL,
    is_super_admin bool NULL,
    created_at timestamptz NULL,
    updated_at timestamptz NULL,
    phone text NULL UNIQUE DEFAULT NULL,
    phone_confirmed_at timestamptz NULL DEFAULT NULL,
    phone_change text NULL DEFAULT '',
    phone_change_token varchar(255) NULL DEFAULT '',
    phone_change_sent_at timestamptz NULL DEFAULT NULL,
    confirmed_at timestamptz GENERATED ALWAYS AS (LEAST (email_confirmed_at, phone_confirmed_at)) STORED,
    banned_until timestamptz NULL,
    deleted_at timestamptz NULL,
    is_sso_user boolean NOT NULL DEFAULT false,
    is_anonymous boolean NOT NULL DEFAULT false,
    CONSTRAINT users_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX users_email_partial_key ON {{ .Namespace }}.users (email) WHERE (is_sso_user = false);
CREATE INDEX users_is_anonymous_idx ON {{ .Namespace }}.users USING btree (is_anonymous);

CREATE TABLE {{ .Namespace }}.identities (
    provider_id text NOT NULL,
    user_id uuid NOT NULL,
    identity_data jsonb NOT NULL,
    provider text NOT NULL,
    last_sign_in_at timestamptz NULL,
    created_at timestamptz NULL,
    updated_at timestamptz NULL,
    email text GENERATED ALWAYS AS (lower(identity_data ->> 'email')) STORED,
    id uuid DEFAULT gen_random_uuid() PRIMARY KEY,
    CONSTRAINT identities_provider_id_provider_unique UNIQUE (provider_id, provider),
    CONSTRAINT identities_user_id_fkey FOREIGN KEY (user_id) REFERENCES {{ .Namespace }}.users (id) ON DELETE CASCADE
);

ALTER TABLE {{ .Namespace }}.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{ .Namespace }}.identities ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{ .Namespace }}.users OWNER TO {{ .AuthAdmin }};
ALTER TABLE {{ .Namespace }}.identities OWNER TO {{ .AuthAdmin }};

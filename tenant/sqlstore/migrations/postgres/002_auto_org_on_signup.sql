-- Supabase signup trigger: every new row of auth.users gets an organisation.
--
-- After each INSERT on auth.users, auto_org_on_signup() creates an
-- organization, the user's profile and an audit_log row, and writes the new
-- org_id into the user's raw_app_meta_data, which Supabase copies into the
-- app_metadata claim of the user's tokens. Any error inside it becomes a
-- WARNING and is rolled back on its own: a failure here never blocks a signup
-- (tenant.Middleware's Provisioner then onboards the user on first request).
--
-- Migrate does NOT apply this file: plain PostgreSQL has no auth schema.
-- Apply it after Migrate, with (*sqlstore.Store).InstallSignupTrigger, in the
-- Supabase SQL editor or as a Supabase CLI migration, as a role that may
-- create triggers on auth.users (postgres on Supabase). It is idempotent.
--
-- The function is created in current_schema(), which must hold the tables of
-- 001_init.sql, and runs with its search_path pinned to that schema. The users
-- table is auth.users unless the setting sqlstore.auth_users_table names
-- another one (tests, or GoTrue with a custom namespace).

CREATE OR REPLACE FUNCTION auto_org_on_signup() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT -- pinned to current_schema() below
AS $function$
DECLARE
    uid      text := NEW.id::text;
    org      uuid;
    org_name text;
BEGIN
    BEGIN
        SELECT p.org_id INTO org FROM profiles p WHERE p.user_id = uid;
        IF org IS NULL THEN
            -- Same rule as sqlstore.DefaultOrgName.
            org_name := coalesce(nullif(split_part(coalesce(NEW.email, ''), '@', 1), ''), uid)
                || '''s organization';
            INSERT INTO organizations (name) VALUES (org_name) RETURNING id INTO org;
            INSERT INTO profiles (user_id, org_id, email, role)
            VALUES (uid, org, coalesce(NEW.email, ''), 'authenticated');
            INSERT INTO audit_log (org_id, actor, action, details)
            VALUES (org, uid, 'organization.created',
                    jsonb_build_object('name', org_name, 'via', 'signup_trigger'));
        END IF;
        EXECUTE format(
            'UPDATE %I.%I SET raw_app_meta_data = coalesce(raw_app_meta_data, ''{}''::jsonb)'
            ' || jsonb_build_object(''org_id'', $1::text) WHERE id = $2',
            TG_TABLE_SCHEMA, TG_TABLE_NAME)
        USING org, NEW.id;
    EXCEPTION WHEN others THEN
        RAISE WARNING 'auto_org_on_signup: no organization for user %: % (SQLSTATE %)',
            uid, SQLERRM, SQLSTATE;
    END;
    RETURN NEW;
END;
$function$;

DO $install$
DECLARE
    tables_schema text := current_schema();
    users_name    text := coalesce(nullif(current_setting('sqlstore.auth_users_table', true), ''), 'auth.users');
    users_table   regclass := to_regclass(users_name);
BEGIN
    IF to_regclass(format('%I.organizations', tables_schema)) IS NULL THEN
        RAISE EXCEPTION 'auto_org_on_signup: no table %.organizations: run Migrate first', tables_schema;
    END IF;
    IF users_table IS NULL THEN
        RAISE EXCEPTION 'auto_org_on_signup: no users table %', users_name;
    END IF;
    EXECUTE format('ALTER FUNCTION %I.auto_org_on_signup() SET search_path = %I, pg_catalog, pg_temp',
                   tables_schema, tables_schema);
    EXECUTE format('REVOKE ALL ON FUNCTION %I.auto_org_on_signup() FROM PUBLIC', tables_schema);
    EXECUTE format('DROP TRIGGER IF EXISTS auto_org_on_signup ON %s', users_table);
    EXECUTE format('CREATE TRIGGER auto_org_on_signup AFTER INSERT ON %s'
                   ' FOR EACH ROW EXECUTE FUNCTION %I.auto_org_on_signup()', users_table, tables_schema);
END
$install$;

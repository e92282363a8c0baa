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
-- create triggers on auth.users (postgres on Supabase) and that owns the
-- tables (they have row level security; the function runs as its creator).
-- It is idempotent.
--
-- The function is created in current_schema(), which must hold the tables of
-- 001_init.sql. It runs as its owner (SECURITY DEFINER), so it names those
-- tables with their schema and searches nothing but pg_catalog and pg_temp:
-- a role that may create functions in that schema, or in auth, cannot slip
-- its own overload of a built-in into it. The users table is auth.users
-- unless the setting sqlstore.auth_users_table names another one (tests, or
-- GoTrue with a custom namespace).

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

    -- @tables@ stands for the quoted schema of the tables.
    EXECUTE replace($create$
CREATE OR REPLACE FUNCTION @tables@.auto_org_on_signup() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    uid      text;
    org      uuid;
    org_name text;
BEGIN
    BEGIN
        uid := NEW.id::text;
        SELECT p.org_id INTO org FROM @tables@.profiles p WHERE p.user_id = uid;
        IF org IS NULL THEN
            -- Same rule as sqlstore.DefaultOrgName.
            org_name := coalesce(nullif(split_part(coalesce(NEW.email, ''), '@', 1), ''), uid)
                || '''s organization';
            INSERT INTO @tables@.organizations (name) VALUES (org_name) RETURNING id INTO org;
            INSERT INTO @tables@.profiles (user_id, org_id, email, role)
            VALUES (uid, org, coalesce(NEW.email, ''), 'authenticated');
            INSERT INTO @tables@.audit_log (org_id, actor, action, details)
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
            coalesce(uid, '?'), SQLERRM, SQLSTATE;
    END;
    RETURN NEW;
END;
$function$
$create$, '@tables@', quote_ident(tables_schema));

    EXECUTE format('REVOKE ALL ON FUNCTION %I.auto_org_on_signup() FROM PUBLIC', tables_schema);
    EXECUTE format('DROP TRIGGER IF EXISTS auto_org_on_signup ON %s', users_table);
    EXECUTE format('CREATE TRIGGER auto_org_on_signup AFTER INSERT ON %s'
                   ' FOR EACH ROW EXECUTE FUNCTION %I.auto_org_on_signup()', users_table, tables_schema);
END
$install$;

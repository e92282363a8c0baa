-- Supabase signup trigger: every user of auth.users has an organisation.
--
-- auto_org_on_signup() runs BEFORE each INSERT on auth.users, and BEFORE
-- each UPDATE of its raw_app_meta_data (or is_anonymous). It gives the user
-- an organisation, a profile and an audit_log row, and sets org_id in the
-- row's raw_app_meta_data, which Supabase copies into the app_metadata
-- claim of the user's tokens:
--
--   * an org_id already in raw_app_meta_data that names an existing
--     organisation is joined (only the service role can write app
--     metadata); otherwise a new organisation is created;
--   * an update that drops org_id, or sets one naming no organisation, gets
--     the profile's org_id back (Supabase's admin API inserts the user, then
--     writes back its own copy of the metadata, without org_id); an update
--     that names another existing organisation moves the user there;
--   * raw_app_meta_data that is not a JSON object (null, a string, an
--     array) is replaced by an object holding org_id;
--   * anonymous sign-ins (is_anonymous) get no organisation unless the
--     setting sqlstore.anonymous_orgs was on at install; they get one when
--     they become permanent users.
--
-- auto_org_on_user_delete() runs AFTER each DELETE on auth.users: it
-- removes the user's profile (their membership) and keeps the organisation
-- and its data.
--
-- The functions write into NEW rather than updating auth.users, so row level
-- security on auth.users (Supabase enables it) cannot drop their work. Any
-- error inside them becomes a WARNING and is rolled back on its own, and
-- they wait at most lock_timeout (1s) for a lock: a failure here never
-- blocks or fails a signup (tenant.Middleware's Provisioner then onboards
-- the user on first request).
--
-- Migrate does NOT apply this file: plain PostgreSQL has no auth schema.
-- Apply it after Migrate, with (*sqlstore.Store).InstallSignupTrigger, in the
-- Supabase SQL editor or as a Supabase CLI migration. The installing role
-- becomes the owner of the functions, which run as their owner (SECURITY
-- DEFINER), so it must be able to write the tables of 001_init.sql despite
-- their row level security: own them (the role that ran Migrate) or have
-- BYPASSRLS. To create or change the triggers it needs the TRIGGER privilege
-- on auth.users (or to own it); triggers that are already as they should be
-- are left alone, so reinstalling needs no privilege on auth.users. The
-- install checks all of this first and refuses with an error that says
-- what to grant.
--
-- The functions are created in current_schema(), which must hold the tables
-- of 001_init.sql. They name those tables with their schema and search
-- nothing but pg_catalog and pg_temp: a role that may create functions in
-- that schema, or in auth, cannot slip its own overload of a built-in into
-- them. The users table is auth.users unless the setting
-- sqlstore.auth_users_table names another one (tests, or GoTrue with a
-- custom namespace).

DO $install$
DECLARE
    tables_schema  text := current_schema();
    users_name     text := coalesce(nullif(current_setting('sqlstore.auth_users_table', true), ''), 'auth.users');
    users_table    regclass := to_regclass(users_name);
    anonymous_orgs boolean := coalesce(nullif(current_setting('sqlstore.anonymous_orgs', true), ''), 'off')::boolean;
    me             name := current_user;
    tbl            text;
    priv           text;
    update_cols    text := 'raw_app_meta_data';
    update_attrs   int2[];
    fn_signup      regprocedure;
    fn_delete      regprocedure;
    body_signup    text;
    body_delete    text;
    fn_config      text[] := ARRAY['search_path=pg_catalog, pg_temp', 'lock_timeout=1s'];
    missing        text[] := '{}';
BEGIN
    IF to_regclass(format('%I.organizations', tables_schema)) IS NULL THEN
        RAISE EXCEPTION 'auto_org_on_signup: no table %.organizations: run Migrate first', tables_schema;
    END IF;
    IF users_table IS NULL THEN
        RAISE EXCEPTION 'auto_org_on_signup: no users table %', users_name;
    END IF;

    -- The functions run as this role and write tables that have row level
    -- security and no policy: only their owner, or a role with BYPASSRLS,
    -- writes anything.
    FOREACH tbl IN ARRAY ARRAY['organizations', 'profiles', 'audit_log'] LOOP
        IF NOT pg_has_role(me, (SELECT c.relowner FROM pg_class c
                                WHERE c.oid = format('%I.%I', tables_schema, tbl)::regclass), 'USAGE')
           AND NOT (SELECT r.rolbypassrls OR r.rolsuper FROM pg_roles r WHERE r.rolname = me) THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                MESSAGE = format('auto_org_on_signup: role %I neither owns %I.%I nor has BYPASSRLS, '
                                 'so row level security would stop the trigger from writing it', me, tables_schema, tbl),
                HINT = 'Install the trigger as the role that ran Migrate (the owner of the tables), '
                       'or ALTER ROLE ... BYPASSRLS.';
        END IF;
        FOREACH priv IN ARRAY ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'] LOOP
            IF NOT has_table_privilege(me, format('%I.%I', tables_schema, tbl), priv) THEN
                missing := missing || format('%s ON %I.%I', priv, tables_schema, tbl);
            END IF;
        END LOOP;
    END LOOP;
    IF cardinality(missing) > 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('auto_org_on_signup: role %I lacks %s', me, array_to_string(missing, ', ')),
            HINT = 'Install the trigger as the role that ran Migrate (the owner of the tables).';
    END IF;

    IF EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = users_table
               AND a.attname = 'is_anonymous' AND NOT a.attisdropped) THEN
        update_cols := update_cols || ', is_anonymous';
    END IF;
    SELECT array_agg(a.attnum ORDER BY a.attnum) INTO update_attrs FROM pg_attribute a
    WHERE a.attrelid = users_table AND a.attname IN ('raw_app_meta_data', 'is_anonymous') AND NOT a.attisdropped;

    -- @tables@ stands for the quoted schema of the tables.
    body_signup := replace(replace($body$
DECLARE
    uid      text;
    meta     jsonb;
    claimed  text;
    org      uuid;
    existing uuid;
    org_name text;
BEGIN
    BEGIN
        uid := NEW.id::text;
        IF (to_jsonb(NEW) ->> 'is_anonymous') IS NOT DISTINCT FROM 'true' AND NOT @anonymous_orgs@ THEN
            RETURN NEW;
        END IF;
        meta := CASE WHEN jsonb_typeof(NEW.raw_app_meta_data) = 'object'
                     THEN NEW.raw_app_meta_data ELSE '{}'::jsonb END;
        claimed := meta ->> 'org_id';
        SELECT p.org_id INTO existing FROM @tables@.profiles p WHERE p.user_id = uid;
        IF existing IS NOT NULL AND claimed IS NOT DISTINCT FROM existing::text
           AND jsonb_typeof(meta -> 'org_id') = 'string' THEN
            RETURN NEW; -- nothing to do
        END IF;

        IF claimed IS NOT NULL AND claimed IS DISTINCT FROM existing::text THEN
            SELECT o.id INTO org FROM @tables@.organizations o WHERE o.id::text = claimed;
        END IF;
        IF org IS NOT NULL THEN
            -- An organisation named by the service role: join it.
            IF existing IS NULL THEN
                INSERT INTO @tables@.profiles (user_id, org_id, email, role)
                VALUES (uid, org, coalesce(NEW.email, ''), 'authenticated');
            ELSE
                UPDATE @tables@.profiles p SET org_id = org, updated_at = now() WHERE p.user_id = uid;
                -- The organisation made for this user earlier in this same
                -- transaction (the admin API's insert), now empty, goes.
                DELETE FROM @tables@.organizations o WHERE o.id = existing AND o.created_at = now()
                    AND NOT EXISTS (SELECT 1 FROM @tables@.profiles p WHERE p.org_id = existing);
            END IF;
            INSERT INTO @tables@.audit_log (org_id, actor, action, details)
            VALUES (org, uid, 'organization.member_joined', jsonb_build_object('via', 'signup_trigger'));
        ELSIF existing IS NOT NULL THEN
            org := existing;
        ELSE
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
        NEW.raw_app_meta_data := meta || jsonb_build_object('org_id', org::text);
    EXCEPTION WHEN others THEN
        RAISE WARNING 'auto_org_on_signup: no organization for user %: % (SQLSTATE %)',
            coalesce(uid, '?'), SQLERRM, SQLSTATE;
    END;
    RETURN NEW;
END;
$body$, '@tables@', quote_ident(tables_schema)), '@anonymous_orgs@', anonymous_orgs::text);

    body_delete := replace($body$
DECLARE
    org uuid;
BEGIN
    BEGIN
        DELETE FROM @tables@.profiles p WHERE p.user_id = OLD.id::text RETURNING p.org_id INTO org;
        IF org IS NOT NULL THEN
            INSERT INTO @tables@.audit_log (org_id, actor, action, details)
            VALUES (org, OLD.id::text, 'organization.member_removed', jsonb_build_object('via', 'user_deleted'));
        END IF;
    EXCEPTION WHEN others THEN
        RAISE WARNING 'auto_org_on_user_delete: profile of user % kept: % (SQLSTATE %)',
            OLD.id, SQLERRM, SQLSTATE;
    END;
    RETURN OLD;
END;
$body$, '@tables@', quote_ident(tables_schema));

    -- Functions: replaced only when they differ, so that reinstalling needs
    -- no privilege beyond what the first install had.
    DECLARE
        fn_name text[] := ARRAY['auto_org_on_signup', 'auto_org_on_user_delete'];
        fn_body text[] := ARRAY[body_signup, body_delete];
        fn      regprocedure;
    BEGIN
        FOR i IN 1 .. 2 LOOP
            fn := to_regprocedure(format('%I.%I()', tables_schema, fn_name[i]));
            CONTINUE WHEN EXISTS (SELECT 1 FROM pg_proc p WHERE p.oid = fn
                                  AND p.prosrc = fn_body[i] AND p.proconfig = fn_config AND p.prosecdef);
            EXECUTE format('CREATE OR REPLACE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER '
                           'SET search_path = pg_catalog, pg_temp SET lock_timeout = ''1s'' AS %L',
                           tables_schema, fn_name[i], fn_body[i]);
            EXECUTE format('REVOKE ALL ON FUNCTION %I.%I() FROM PUBLIC', tables_schema, fn_name[i]);
        END LOOP;
    END;
    fn_signup := to_regprocedure(format('%I.auto_org_on_signup()', tables_schema));
    fn_delete := to_regprocedure(format('%I.auto_org_on_user_delete()', tables_schema));

    -- Triggers: (name, ROW|BEFORE|INSERT = 7, ROW|BEFORE|UPDATE = 19,
    -- ROW|DELETE = 9). One that is already as wanted is left alone.
    DECLARE
        want_name  text[] := ARRAY['auto_org_on_signup', 'auto_org_on_app_metadata_update', 'auto_org_on_user_delete'];
        want_type  int2[] := ARRAY[7, 19, 9];
        want_fn    regprocedure[] := ARRAY[fn_signup, fn_signup, fn_delete];
        want_call  text[] := ARRAY[format('%I.auto_org_on_signup()', tables_schema),
                                   format('%I.auto_org_on_signup()', tables_schema),
                                   format('%I.auto_org_on_user_delete()', tables_schema)];
        want_when  text[] := ARRAY['BEFORE INSERT', 'BEFORE UPDATE OF ' || update_cols, 'AFTER DELETE'];
        i          int;
    BEGIN
        FOR i IN 1 .. 3 LOOP
            CONTINUE WHEN EXISTS (
                SELECT 1 FROM pg_trigger t
                WHERE t.tgrelid = users_table AND t.tgname = want_name[i] AND NOT t.tgisinternal
                  AND t.tgtype = want_type[i] AND t.tgfoid = want_fn[i]
                  AND coalesce((SELECT array_agg(a ORDER BY a) FROM unnest(t.tgattr::int2[]) a), '{}')
                      = CASE WHEN i = 2 THEN update_attrs ELSE '{}'::int2[] END);
            IF NOT has_table_privilege(me, users_table, 'TRIGGER') THEN
                RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                    MESSAGE = format('auto_org_on_signup: role %I may not create or change trigger %s on %s',
                                     me, want_name[i], users_table),
                    HINT = format('GRANT TRIGGER ON %s TO %I; as the owner of %s (supabase_auth_admin on '
                                  'Supabase), or run the install as that owner.', users_table, me, users_table);
            END IF;
            IF current_setting('server_version_num')::int >= 140000 THEN
                -- CREATE OR REPLACE needs the TRIGGER privilege only; DROP
                -- TRIGGER needs to own the table.
                EXECUTE format('CREATE OR REPLACE TRIGGER %I %s ON %s FOR EACH ROW EXECUTE FUNCTION %s',
                               want_name[i], want_when[i], users_table, want_call[i]);
            ELSE
                EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', want_name[i], users_table);
                EXECUTE format('CREATE TRIGGER %I %s ON %s FOR EACH ROW EXECUTE FUNCTION %s',
                               want_name[i], want_when[i], users_table, want_call[i]);
            END IF;
        END LOOP;
    END;
END
$install$;

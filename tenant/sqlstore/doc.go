// Package sqlstore keeps users' organisations in PostgreSQL or SQLite for the
// tenant middleware: a Store is both the tenant.Directory that resolves the
// organisation of a token without an org claim and the tenant.Provisioner
// that gives a brand-new user one.
//
// It works on a *sql.DB opened with github.com/jackc/pgx/v5/stdlib
// (PostgreSQL, Supabase) or modernc.org/sqlite (pure Go, embedded); the
// dialect is detected from the driver or set with WithDialect. Migrate
// creates, idempotently, three tables:
//
//   - organizations (id, name, created_at);
//   - profiles (user_id, org_id, email, role, created_at, updated_at): one
//     organisation per user;
//   - audit_log (id, org_id, actor, action, details, created_at): one
//     AuditOrgCreated row for each organisation created.
//
// Provision creates the organisation (named by DefaultOrgName unless
// WithOrgName says otherwise), the profile and the audit row in one
// transaction; concurrent calls for one user, from any number of processes,
// create exactly one organisation.
//
// Typical use:
//
//	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
//	// or: sql.Open("sqlite", "file:app.db?"+sqlstore.SQLiteDSNParams)
//	if err != nil { ... }
//	store, err := sqlstore.New(db)
//	if err != nil { ... }
//	if err := store.Migrate(ctx); err != nil { ... }
//	verifier, err := tenant.HS256(secret) // at least 32 bytes
//	if err != nil { ... }
//	mw := tenant.Middleware(verifier,
//		tenant.WithDirectory(store), tenant.WithProvisioner(store))
//	http.ListenAndServe(addr, mw(mux))
//
// On PostgreSQL the tables have row level security enabled and no policy:
// only their owner (the role that ran Migrate) and roles with BYPASSRLS can
// read or write them, so the Store must run as one of those. This keeps them
// closed to Supabase's REST API roles, to which Supabase grants every new
// table in public.
//
// On PostgreSQL the tables go to the first schema of the search_path. A
// database that already has tables of these names for another purpose (a
// Supabase starter's public.profiles, say) should give the store a schema of
// its own: add search_path=tenancy to the connection string after CREATE
// SCHEMA tenancy.
//
// On SQLite, open the database with SQLiteDSNParams: Migrate and Provision
// refuse a pool of several connections without busy_timeout
// (ErrSQLiteBusyTimeout), whose concurrent writers would fail with
// SQLITE_BUSY instead of waiting for each other.
//
// # Supabase signup trigger
//
// On Supabase, InstallSignupTrigger (or the SQL of SupabaseSignupTrigger,
// pasted into a migration) adds three triggers on auth.users:
//
//   - before INSERT: the new user gets an organisation, a profile and an
//     audit row, and org_id is written into the row's raw_app_meta_data, so
//     that the user's tokens carry app_metadata.org_id and need no lookup. An
//     org_id already there that names an existing organisation (only the
//     service role can set app_metadata, e.g. with the admin API's
//     createUser) is joined instead. Metadata that is not a JSON object is
//     replaced by one.
//   - before UPDATE of raw_app_meta_data or is_anonymous: a write that drops
//     org_id gets it back from the profile (Supabase's admin API writes back
//     its own copy of the metadata right after the insert); one that names
//     another existing organisation moves the user there.
//   - after DELETE: the user's profile (their membership) is removed and an
//     AuditMemberRemoved row written; the organisation and its data stay.
//
// A failure inside them, including waiting more than a second for a lock,
// is raised as a WARNING and never blocks a signup; the middleware's
// Provisioner then onboards the user on their first request. Migrate does
// not install them, since plain PostgreSQL has no auth schema.
//
// Anonymous sign-ins (is_anonymous) get no organisation, from the trigger or
// from Provision, unless the Store has WithAnonymousOrgs(true); they get one
// when they become permanent users. tenant.Middleware refuses their tokens
// unless tenant.WithAnonymous(true).
//
// Roles and privileges. The trigger functions run as the role that installed
// them (SECURITY DEFINER): GoTrue's own role (supabase_auth_admin) has no
// privilege on your tables, and it must not need one. So install as the role
// that ran Migrate (postgres on Supabase): it owns organizations, profiles
// and audit_log, which row level security closes to every other role
// without BYPASSRLS. To create the triggers that role needs the TRIGGER
// privilege on auth.users (Supabase grants it to postgres) and USAGE on the
// auth schema; it needs neither ownership of auth.users nor BYPASSRLS, since
// the functions change the row being inserted rather than updating
// auth.users afterwards. InstallSignupTrigger checks this first and refuses
// with an error that says what to grant. Installing again leaves unchanged
// triggers alone and replaces the rest with CREATE OR REPLACE TRIGGER
// (PostgreSQL 14+), which needs the TRIGGER privilege, not ownership.
//
// A custom access token hook that puts org_id at the top level of the token
// instead of app_metadata needs tenant.WithOrgClaim("org_id") on the
// verifier; the middleware logs a warning once when it sees an org where it
// does not look.
//
// Removing an organisation. Deleting an auth user removes their profile; to
// close an organisation, delete its users through Supabase Auth (or, as
// postgres, DELETE FROM auth.users WHERE raw_app_meta_data->>'org_id' = $1),
// then DELETE FROM organizations WHERE id = $1, which also deletes any
// profile left (ON DELETE CASCADE). audit_log keeps its rows, and tables of
// other packages keyed by the organisation (calendar links, deliveries) are
// the operator's to clear. Tokens already issued carry the org until they
// expire; tenant.WithMembershipCheck refuses them at once. A user whose
// organisation is deleted while they stay gets a new one at the next write
// of their metadata, or from the Provisioner.
package sqlstore

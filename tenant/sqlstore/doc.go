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
//	// or: sql.Open("sqlite", "file:app.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
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
// # Supabase signup trigger
//
// On Supabase, InstallSignupTrigger (or the SQL of SupabaseSignupTrigger,
// pasted into a migration) adds an AFTER INSERT trigger on auth.users that
// creates the organisation, profile and audit row at signup and writes
// org_id into the user's raw_app_meta_data, so that the user's tokens carry
// app_metadata.org_id and need no lookup at all. A failure inside the trigger
// is raised as a WARNING and never blocks the signup; the middleware's
// Provisioner then onboards the user on their first request. Migrate does not
// install it, since plain PostgreSQL has no auth schema.
package sqlstore

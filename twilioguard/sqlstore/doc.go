// Package sqlstore keeps twilioguard's deliveries and audit trail in
// PostgreSQL or SQLite: a Store is both the twilioguard.DeliveryStore that
// makes every SMS go out once, across all instances of a service, and the
// twilioguard.AuditSink that records each attempt and outcome.
//
// It works on a *sql.DB opened with github.com/jackc/pgx/v5/stdlib
// (PostgreSQL, Supabase) or modernc.org/sqlite (pure Go, embedded); the
// dialect is detected from the driver or set with WithDialect. Migrate
// creates, idempotently, two tables:
//
//   - sms_deliveries (org_id, msg_key, to_number, from_number, sid, status,
//     error_code, attempts, version, lease_until, created_at, updated_at):
//     one row per (org, key), whose primary key elects the one Send that
//     sends, and a unique message SID;
//   - sms_audit (id, at, org_id, msg_key, event, to_masked, attempt, class,
//     code, http_status, sid, status): masked numbers and codes, never a
//     full number or a message body. Trail reads a message's entries.
//
// Typical use:
//
//	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
//	// or: sql.Open("sqlite", "file:app.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
//	store, err := sqlstore.New(db)
//	if err := store.Migrate(ctx); err != nil { ... }
//	g, err := twilioguard.New(cfg, twilioguard.WithStore(store), twilioguard.WithAudit(store))
//
// A SQLite database shared by several connections needs a busy timeout,
// or concurrent Sends fail with SQLITE_BUSY instead of waiting their turn:
// Migrate returns ErrNoBusyTimeout when it is missing. Statements that
// still meet a lock are retried a few times.
//
// On PostgreSQL the tables go to the first schema of the search_path and
// have row level security enabled with no policy: only their owner (the
// role that ran Migrate) and roles with BYPASSRLS can use them, which keeps
// them from Supabase's REST roles.
package sqlstore

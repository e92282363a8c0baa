// Package sqlstore keeps the links of gcal (organisations' OAuth tokens and
// calendars) and the audit of every credential access in PostgreSQL or
// SQLite: a Store is both the gcal.TokenStore and the gcal.AuditSink of a
// gcal.Client.
//
// Tokens are encrypted at rest with AES-256-GCM under a Key the caller
// gives, bound to their organisation's row; the key's ID is stored beside
// each row. To rotate, give New the new key and the old one through
// WithPreviousKeys, then call Reencrypt; rows under a key the Store does
// not have, under another key of the same ID, or whose ciphertext was
// changed, fail to load with a *DecryptError (ErrUnknownKey, ErrWrongKey,
// ErrTampered), never with a wrong token. Save is a compare-and-swap on
// the link's version in one SQL statement, safe across processes.
//
// It works on a *sql.DB opened with github.com/jackc/pgx/v5/stdlib
// (PostgreSQL, Supabase) or modernc.org/sqlite (pure Go, embedded); the
// dialect is detected from the driver or set with WithDialect. Migrate
// creates, idempotently, two tables (plus MigrationsTable):
//
//   - gcal_links (org_id, status, reason, calendar_id, request_id, token,
//     key_id, key_check, expires_at, version, updated_at): one row per
//     organisation;
//   - gcal_audit (id, org_id, event, detail, at): one row per credential
//     access, never a token.
//
// Typical use:
//
//	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
//	// or: sql.Open("sqlite", "file:app.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
//	store, err := sqlstore.New(db, sqlstore.Key{ID: "2026-11", Secret: key32})
//	if err := store.Migrate(ctx); err != nil { ... }
//	client := gcal.New(oauthConfig, store, gcal.WithAudit(store), gcal.WithStateKey(stateKey))
//
// On PostgreSQL the tables have row level security enabled and no policy,
// so only their owner (the role that ran Migrate) and roles with BYPASSRLS
// can read or write them: Supabase's REST API roles cannot.
package sqlstore

// Package sqldb is the SQL plumbing the module's stores share: dialects,
// busy timeout, migrations.
//
// The stores (tenant/sqlstore, gcal/sqlstore, twilioguard/sqlstore and the
// reference server's own) run on PostgreSQL through
// github.com/jackc/pgx/v5/stdlib and on SQLite through modernc.org/sqlite.
// This package tells the two apart from the driver (Detect, Pick), writes
// their placeholders (Rebind), recognises a conflict with a concurrent
// transaction and tries again (Busy, Conflict, Retry), refuses a SQLite
// pool whose concurrent writers would fail instead of waiting
// (CheckBusyTimeout), and applies a store's embedded migrations once, in
// one transaction, however many instances start together (Migrate).
//
// Each store keeps its own exported Dialect type, migrations, table names
// and lock key; it converts its Dialect to this package's at its boundary.
package sqldb

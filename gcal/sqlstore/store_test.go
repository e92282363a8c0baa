package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/gcal/gcaltest"
	"github.com/voxanne/resilience/gcal/sqlstore"
	"github.com/voxanne/resilience/safecall"
)

func TestTokenStoreContract(t *testing.T) {
	for _, db := range []struct {
		name  string
		fresh func(*testing.T) testDB
	}{{"sqlite", sqliteDB}, {"postgres", postgresDB}} {
		t.Run(db.name, func(t *testing.T) {
			gcaltest.TestTokenStore(t, func(t *testing.T) gcal.TokenStore {
				return newStore(t, db.fresh(t).db, keyA)
			})
		})
	}
}

func linked(orgID string) gcal.Link {
	return gcal.Link{
		OrgID:  orgID,
		Status: gcal.Linked,
		Token: &oauth2.Token{
			AccessToken:  "ya29.secret-access-" + orgID,
			RefreshToken: "1//secret-refresh-" + orgID,
			TokenType:    "Bearer",
			Expiry:       time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		},
	}
}

// rawRow reads the stored columns of orgID's row.
func rawRow(t *testing.T, db *sql.DB, d sqlstore.Dialect, orgID string) (token []byte, keyID string) {
	t.Helper()
	q := `SELECT token, key_id FROM gcal_links WHERE org_id = $1`
	if d == sqlstore.SQLite {
		q = `SELECT token, key_id FROM gcal_links WHERE org_id = ?1`
	}
	require.NoError(t, db.QueryRowContext(t.Context(), q, orgID).Scan(&token, &keyID))
	return token, keyID
}

func exec(t *testing.T, db *sql.DB, d sqlstore.Dialect, q string, args ...any) {
	t.Helper()
	if d == sqlstore.SQLite {
		q = replaceDollars(q)
	}
	_, err := db.ExecContext(t.Context(), q, args...)
	require.NoError(t, err)
}

func replaceDollars(q string) string {
	return string(bytes.ReplaceAll([]byte(q), []byte("$"), []byte("?")))
}

func TestTokensEncryptedAtRest(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		s := newStore(t, d.db, keyA)
		_, err := s.Save(t.Context(), linked("org"))
		require.NoError(t, err)

		token, keyID := rawRow(t, d.db, s.Dialect(), "org")
		assert.Equal(t, keyA.ID, keyID)
		assert.NotContains(t, string(token), "secret-access")
		assert.NotContains(t, string(token), "secret-refresh")
		assert.Greater(t, len(token), 12+16, "nonce, ciphertext and tag")

		// Two saves of one token never give the same ciphertext (fresh nonces).
		l, err := s.Load(t.Context(), "org")
		require.NoError(t, err)
		_, err = s.Save(t.Context(), l)
		require.NoError(t, err)
		again, _ := rawRow(t, d.db, s.Dialect(), "org")
		assert.NotEqual(t, token, again)
	})
}

func TestWrongKeyIsClearError(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		s := newStore(t, d.db, keyA)
		_, err := s.Save(t.Context(), linked("org"))
		require.NoError(t, err)

		sameIDOtherSecret := sqlstore.Key{ID: keyA.ID, Secret: keyB.Secret}
		for name, tt := range map[string]struct {
			key  sqlstore.Key
			want error
		}{
			"unknown key ID":       {keyB, sqlstore.ErrUnknownKey},
			"other key of same ID": {sameIDOtherSecret, sqlstore.ErrWrongKey},
		} {
			wrong, err := sqlstore.New(d.db, tt.key)
			require.NoError(t, err)
			_, err = wrong.Load(t.Context(), "org")
			require.ErrorIs(t, err, tt.want, name)
			var de *sqlstore.DecryptError
			require.ErrorAs(t, err, &de, name)
			assert.Equal(t, "org", de.OrgID)
			assert.Equal(t, keyA.ID, de.KeyID)
			assert.Equal(t, safecall.Permanent, gcal.Classify(err), "not retried")
			assert.NotContains(t, err.Error(), "secret")
		}
	})
}

// TestForgetLostKey: a row that no key opens any more can be forgotten, and
// the organisation linked again.
func TestForgetLostKey(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		old := newStore(t, d.db, keyA)
		_, err := old.Save(t.Context(), linked("org"))
		require.NoError(t, err)
		require.NoError(t, old.Audit(t.Context(), gcal.AuditEntry{OrgID: "org", Event: gcal.AuditSaved, At: time.Now()}))

		s := newStore(t, d.db, keyB) // keyA is lost
		_, err = s.Load(t.Context(), "org")
		require.ErrorIs(t, err, sqlstore.ErrUnknownKey)
		require.NoError(t, s.Forget(t.Context(), "org"))
		require.NoError(t, s.Forget(t.Context(), "org"), "idempotent")
		_, err = s.Load(t.Context(), "org")
		require.ErrorIs(t, err, gcal.ErrNotLinked)
		_, err = s.Save(t.Context(), linked("org"))
		require.NoError(t, err, "linked again from version 0")
		log, err := s.AuditLog(t.Context(), "org", 0)
		require.NoError(t, err)
		assert.Len(t, log, 1, "audit rows stay")
	})
}

func TestTamperedCiphertextIsClearError(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		s := newStore(t, d.db, keyA)
		for _, o := range []string{"victim", "attacker"} {
			_, err := s.Save(t.Context(), linked(o))
			require.NoError(t, err)
		}
		token, _ := rawRow(t, d.db, s.Dialect(), "victim")
		for _, i := range []int{0, 13, len(token) - 1} { // nonce, ciphertext, tag
			bad := bytes.Clone(token)
			bad[i] ^= 0x40
			exec(t, d.db, s.Dialect(), `UPDATE gcal_links SET token = $1 WHERE org_id = 'victim'`, bad)
			_, err := s.Load(t.Context(), "victim")
			require.ErrorIs(t, err, sqlstore.ErrTampered, "byte %d", i)
		}
		exec(t, d.db, s.Dialect(), `UPDATE gcal_links SET token = $1 WHERE org_id = 'victim'`, token[:20])
		_, err := s.Load(t.Context(), "victim")
		require.ErrorIs(t, err, sqlstore.ErrTampered, "truncated")

		// The attacker's row copied into the victim's: bound to its org.
		theirs, _ := rawRow(t, d.db, s.Dialect(), "attacker")
		exec(t, d.db, s.Dialect(), `UPDATE gcal_links SET token = $1 WHERE org_id = 'victim'`, theirs)
		_, err = s.Load(t.Context(), "victim")
		require.ErrorIs(t, err, sqlstore.ErrTampered, "ciphertext of another org")

		exec(t, d.db, s.Dialect(), `UPDATE gcal_links SET token = $1 WHERE org_id = 'victim'`, token)
		l, err := s.Load(t.Context(), "victim")
		require.NoError(t, err, "the genuine ciphertext still opens")
		assert.Equal(t, "ya29.secret-access-victim", l.Token.AccessToken)
	})
}

func TestKeyRotation(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		old := newStore(t, d.db, keyA)
		for _, o := range []string{"a", "b", "c"} {
			_, err := old.Save(t.Context(), linked(o))
			require.NoError(t, err)
		}
		_, err := old.Save(t.Context(), gcal.Link{OrgID: "none", Status: gcal.NotLinked})
		require.NoError(t, err)

		rotated := newStore(t, d.db, keyB, sqlstore.WithPreviousKeys(keyA))
		l, err := rotated.Load(t.Context(), "a")
		require.NoError(t, err, "old rows still load")
		_, err = rotated.Save(t.Context(), l)
		require.NoError(t, err)
		_, keyID := rawRow(t, d.db, rotated.Dialect(), "a")
		assert.Equal(t, keyB.ID, keyID, "saves use the new key")

		n, err := rotated.Reencrypt(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 2, n, "b and c moved; a already under the new key")
		n, err = rotated.Reencrypt(t.Context())
		require.NoError(t, err)
		assert.Zero(t, n)

		only := newStore(t, d.db, keyB)
		for _, o := range []string{"a", "b", "c"} {
			l, err := only.Load(t.Context(), o)
			require.NoError(t, err, o)
			assert.Equal(t, "ya29.secret-access-"+o, l.Token.AccessToken)
			assert.Equal(t, int64(1+map[string]int64{"a": 1}[o]), l.Version, "reencryption keeps versions")
		}
		_, err = newStore(t, d.db, keyA).Load(t.Context(), "b")
		require.ErrorIs(t, err, sqlstore.ErrUnknownKey, "the old key alone no longer reads")
	})
}

func TestNewValidatesKeys(t *testing.T) {
	db := sqliteDB(t).db
	for name, tt := range map[string]struct {
		key  sqlstore.Key
		opts []sqlstore.Option
	}{
		"short secret":  {key: sqlstore.Key{ID: "k", Secret: []byte("short")}},
		"long secret":   {key: sqlstore.Key{ID: "k", Secret: make([]byte, 33)}},
		"no ID":         {key: sqlstore.Key{Secret: keyA.Secret}},
		"ID with space": {key: sqlstore.Key{ID: "a b", Secret: keyA.Secret}},
		"bad previous":  {key: keyA, opts: []sqlstore.Option{sqlstore.WithPreviousKeys(sqlstore.Key{ID: "x"})}},
		"ID clash":      {key: keyA, opts: []sqlstore.Option{sqlstore.WithPreviousKeys(sqlstore.Key{ID: keyA.ID, Secret: keyB.Secret})}},
	} {
		_, err := sqlstore.New(db, tt.key, tt.opts...)
		assert.Error(t, err, name)
	}
	_, err := sqlstore.New(db, keyA, sqlstore.WithPreviousKeys(keyA))
	assert.NoError(t, err, "the same key twice is harmless")
	_, err = sqlstore.New(nil, keyA)
	assert.Error(t, err)
	for _, id := range []string{strings.Repeat("k", 64), "!", "~", "2026-11/a"} {
		_, err := sqlstore.New(db, sqlstore.Key{ID: id, Secret: keyA.Secret})
		assert.NoError(t, err, "key ID %q", id)
	}
	for _, id := range []string{strings.Repeat("k", 65), "a\x7f", "tab\t", "ümlaut"} {
		_, err := sqlstore.New(db, sqlstore.Key{ID: id, Secret: keyA.Secret})
		assert.Error(t, err, "key ID %q", id)
	}
}

func TestDialect(t *testing.T) {
	lite := sqliteDB(t).db
	s, err := sqlstore.New(lite, keyA)
	require.NoError(t, err)
	assert.Equal(t, sqlstore.SQLite, s.Dialect())
	s, err = sqlstore.New(lite, keyA, sqlstore.WithDialect(sqlstore.Postgres))
	require.NoError(t, err, "New does not touch the database")
	assert.Equal(t, sqlstore.Postgres, s.Dialect())
	_, err = sqlstore.New(lite, keyA, sqlstore.WithDialect(9))
	require.ErrorIs(t, err, sqlstore.ErrUnknownDialect)
	assert.Equal(t, "postgres", sqlstore.Postgres.String())
	assert.Equal(t, "sqlite", sqlstore.SQLite.String())
	assert.Equal(t, "Dialect(9)", sqlstore.Dialect(9).String())
}

// TestMigrateFailureRollsBack: a migration that fails leaves nothing made
// and no lock held: once the conflict is gone, Migrate succeeds.
func TestMigrateFailureRollsBack(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		exec(t, d.db, 0, `CREATE TABLE gcal_audit (id text PRIMARY KEY)`) // not ours
		s, err := sqlstore.New(d.db, keyA)
		require.NoError(t, err)
		err = s.Migrate(ctx)
		require.ErrorContains(t, err, "001_init")
		var n int
		err = d.db.QueryRowContext(ctx, `SELECT count(*) FROM gcal_links`).Scan(&n)
		assert.Error(t, err, "gcal_links was rolled back")

		_, err = d.open(t).ExecContext(ctx, `DROP TABLE gcal_audit`)
		require.NoError(t, err, "no lock left behind")
		require.NoError(t, s.Migrate(ctx))
	})
}

func TestAuditLog(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		s := newStore(t, d.db, keyA)
		at := time.Date(2026, 12, 1, 9, 0, 0, 123456000, time.UTC)
		events := []gcal.AuditEvent{gcal.AuditLoaded, gcal.AuditRefreshed, gcal.AuditSaved}
		for i, ev := range events {
			require.NoError(t, s.Audit(t.Context(), gcal.AuditEntry{OrgID: "org", Event: ev, At: at.Add(time.Duration(i) * time.Second), Detail: "d"}))
		}
		require.NoError(t, s.Audit(t.Context(), gcal.AuditEntry{OrgID: "other", Event: gcal.AuditLinked, At: at}))

		got, err := s.AuditLog(t.Context(), "org", 2)
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Equal(t, gcal.AuditEntry{OrgID: "org", Event: gcal.AuditSaved, At: at.Add(2 * time.Second), Detail: "d"}, got[0])
		assert.Equal(t, gcal.AuditRefreshed, got[1].Event)
		all, err := s.AuditLog(t.Context(), "org", 0)
		require.NoError(t, err)
		assert.Len(t, all, 3)
	})
}

func TestMigrateIdempotentAndConcurrent(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				s, err := sqlstore.New(d.open(t), keyA)
				if assert.NoError(t, err) {
					assert.NoError(t, s.Migrate(t.Context()))
				}
			})
		}
		wg.Wait()
		s := newStore(t, d.db, keyA)
		_, err := s.Save(t.Context(), linked("org"))
		require.NoError(t, err)
		require.NoError(t, s.Migrate(t.Context()), "again")
		_, err = s.Load(t.Context(), "org")
		require.NoError(t, err, "data survives")
		var n int
		require.NoError(t, d.db.QueryRowContext(t.Context(), `SELECT count(*) FROM `+sqlstore.MigrationsTable).Scan(&n))
		assert.Equal(t, 1, n)
	})
}

func TestMigrations(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.Postgres, sqlstore.SQLite} {
		names, err := fs.Glob(sqlstore.Migrations(d), "*.sql")
		require.NoError(t, err)
		assert.Equal(t, []string{"001_init.sql"}, names, d.String())
	}
	assert.Nil(t, sqlstore.Migrations(0))
}

func TestSQLiteWithoutBusyTimeoutRefused(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+t.TempDir()+"/x.db")
	require.NoError(t, err)
	defer db.Close()
	s, err := sqlstore.New(db, keyA)
	require.NoError(t, err)
	require.ErrorIs(t, s.Migrate(t.Context()), sqlstore.ErrNoBusyTimeout)

	db.SetMaxOpenConns(1) // one connection never waits for another
	require.NoError(t, s.Migrate(t.Context()))
}

// TestSaveAcrossPools: stores on separate connection pools, as separate
// processes have, keep the compare-and-swap.
func TestSaveAcrossPools(t *testing.T) {
	forEachDB(t, func(t *testing.T, d testDB) {
		first := newStore(t, d.db, keyA)
		base, err := first.Save(t.Context(), linked("org"))
		require.NoError(t, err)
		stores := []*sqlstore.Store{first, newStore(t, d.open(t), keyA), newStore(t, d.open(t), keyA)}
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := range 12 {
			wg.Go(func() {
				l := base
				l.Token = &oauth2.Token{AccessToken: "w", RefreshToken: "r"}
				_, err := stores[i%len(stores)].Save(context.Background(), l)
				if err == nil {
					mu.Lock()
					won++
					mu.Unlock()
					return
				}
				assert.ErrorIs(t, err, gcal.ErrConflict)
			})
		}
		wg.Wait()
		assert.Equal(t, 1, won)
	})
}

// TestPostgresTablesClosedToOtherRoles: Supabase grants every new table in
// public to its REST API roles; the links and audit rows stay closed.
func TestPostgresTablesClosedToOtherRoles(t *testing.T) {
	d := postgresDB(t)
	ctx := t.Context()
	var schema string
	require.NoError(t, d.db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema))
	api := schema + "_api"
	for _, stmt := range []string{
		`CREATE ROLE ` + api + ` NOLOGIN`,
		`GRANT USAGE ON SCHEMA ` + schema + ` TO ` + api,
		`ALTER DEFAULT PRIVILEGES IN SCHEMA ` + schema + ` GRANT ALL ON TABLES TO ` + api,
	} {
		_, err := d.db.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	t.Cleanup(func() {
		_, err := d.db.ExecContext(context.Background(), `DROP OWNED BY `+api+`; DROP ROLE `+api)
		assert.NoError(t, err)
	})
	s := newStore(t, d.db, keyA)
	_, err := s.Save(ctx, linked("org"))
	require.NoError(t, err)
	require.NoError(t, s.Audit(ctx, gcal.AuditEntry{OrgID: "org", Event: gcal.AuditSaved, At: time.Now()}))

	conn, err := d.db.Conn(ctx)
	require.NoError(t, err)
	defer func() {
		_, err := conn.ExecContext(context.Background(), `RESET ROLE`)
		assert.NoError(t, err)
		assert.NoError(t, conn.Close())
	}()
	_, err = conn.ExecContext(ctx, `SET ROLE `+api)
	require.NoError(t, err)
	for _, table := range []string{"gcal_links", "gcal_audit"} {
		var n int
		require.NoError(t, conn.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n))
		assert.Zero(t, n, "%s is readable", table)
	}
}

package sqlstore

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetry(t *testing.T) {
	busy, fatal := errors.New("busy"), errors.New("fatal")
	isBusy := func(err error) bool { return errors.Is(err, busy) }
	for name, tt := range map[string]struct {
		results  []error
		want     error
		calls    int
		duration time.Duration
	}{
		"success":            {[]error{nil}, nil, 1, 0},
		"busy then success":  {[]error{busy, busy, nil}, nil, 3, 15 * time.Millisecond},
		"not retryable":      {[]error{fatal, nil}, fatal, 1, 0},
		"busy then fatal":    {[]error{busy, fatal, nil}, fatal, 2, 5 * time.Millisecond},
		"busy every attempt": {[]error{busy, busy, busy, busy, nil}, busy, 3, 15 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				calls := 0
				start := time.Now()
				err := retry(t.Context(), 3, 5*time.Millisecond, isBusy, func() error {
					calls++
					return tt.results[calls-1]
				})
				assert.Equal(t, tt.want, err)
				assert.Equal(t, tt.calls, calls)
				assert.Equal(t, tt.duration, time.Since(start), "waits of 5ms, 10ms")
			})
		})
	}
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 7*time.Millisecond)
		defer cancel()
		calls := 0
		err := retry(ctx, 5, 5*time.Millisecond, isBusy, func() error { calls++; return busy })
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 2, calls)
	})
}

type sqlStateErr string

func (e sqlStateErr) Error() string    { return "pg " + string(e) }
func (e sqlStateErr) SQLState() string { return string(e) }

type liteErr int

func (e liteErr) Error() string { return "sqlite" }
func (e liteErr) Code() int     { return int(e) }

func TestRetryable(t *testing.T) {
	pg := &Store{dialect: Postgres}
	lite := &Store{dialect: SQLite}
	for _, tt := range []struct {
		s    *Store
		err  error
		want bool
	}{
		{pg, sqlStateErr("40001"), true},
		{pg, sqlStateErr("40P01"), true},
		{pg, sqlStateErr("23505"), true},
		{pg, sqlStateErr("42P07"), false},
		{pg, liteErr(5), false},
		{lite, liteErr(5), true},
		{lite, liteErr(6), true},
		{lite, liteErr(5 | 2<<8), true}, // SQLITE_BUSY_SNAPSHOT
		{lite, liteErr(1), false},
		{lite, sqlStateErr("40001"), false},
		{lite, errors.New("other"), false},
	} {
		assert.Equal(t, tt.want, tt.s.retryable(tt.err), "%s %v", tt.s.dialect, tt.err)
	}
}

func TestReadMigrations(t *testing.T) {
	ok := fstest.MapFS{
		"m/002_second.sql": {Data: []byte("B")},
		"m/001_first.sql":  {Data: []byte("A")},
		"m/README.md":      {Data: []byte("not a migration")},
		"m/sub/003_x.sql":  {Data: []byte("in a folder: ignored")},
	}
	ms, err := readMigrations(ok, "m")
	require.NoError(t, err)
	assert.Equal(t, []migration{{1, "first", "A"}, {2, "second", "B"}}, ms)

	for _, bad := range []string{"000_zero.sql", "first.sql", "x_first.sql", "-1_neg.sql"} {
		_, err := readMigrations(fstest.MapFS{"m/" + bad: {Data: []byte("A")}}, "m")
		assert.Error(t, err, bad)
	}
	_, err = readMigrations(ok, "missing")
	assert.Error(t, err)
}

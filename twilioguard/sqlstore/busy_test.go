package sqlstore

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

type sqliteErr int

func (e sqliteErr) Error() string { return "sqlite error" }
func (e sqliteErr) Code() int     { return int(e) }

type pgErr string

func (e pgErr) Error() string    { return "pg error" }
func (e pgErr) SQLState() string { return string(e) }

func TestBusyErrorsAreRetried(t *testing.T) {
	lite := &Store{dialect: SQLite}
	pg := &Store{dialect: Postgres}
	assert.True(t, lite.busy(sqliteErr(5)))
	assert.True(t, lite.busy(sqliteErr(6)))
	assert.True(t, lite.busy(sqliteErr(5|2<<8)), "SQLITE_BUSY_SNAPSHOT")
	assert.False(t, lite.busy(sqliteErr(19)), "a constraint is not retried")
	assert.False(t, lite.busy(pgErr("40001")))
	assert.True(t, pg.busy(pgErr("40001")))
	assert.True(t, pg.busy(pgErr("40P01")))
	assert.False(t, pg.busy(pgErr("23505")))
	assert.False(t, pg.busy(errors.New("boom")))

	calls := 0
	err := lite.retry(context.Background(), func() error {
		calls++
		if calls < 3 {
			return sqliteErr(5)
		}
		return nil
	})
	assert.NoError(t, err)
	assert.Equal(t, 3, calls)

	calls = 0
	err = lite.retry(context.Background(), func() error { calls++; return sqliteErr(5) })
	assert.Equal(t, sqliteErr(5), err)
	assert.Equal(t, maxBusyAttempts, calls)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls = 0
	err = lite.retry(ctx, func() error { calls++; return sqliteErr(5) })
	assert.Equal(t, sqliteErr(5), err)
	assert.Equal(t, 1, calls, "no retry once the context is done")
}

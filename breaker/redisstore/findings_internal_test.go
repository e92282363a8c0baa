package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Found while writing FuzzMessages (the 60-second run did not reach it):
// an open period ending at -62135596800000 ms, which this package never
// writes, is time.Time's zero value once converted, which OpenUntil
// returns for a close: the open announcement closed other instances'
// breakers. Open periods that end at or before 1970 are not read, from
// the channel or from the keys.
func TestAnOpenPeriodEndingAtTheZeroTimeIsNotAClose(t *testing.T) {
	const zeroTime = -62135596800000
	require.True(t, time.UnixMilli(zeroTime).IsZero())
	for _, m := range []string{"id o -62135596800000 clinic", "id o 0 clinic", "id o -1 clinic"} {
		_, _, ok := parseMessage(m)
		assert.False(t, ok, "%q", m)
	}

	rdb := testRedis(t)
	ctx := context.Background()
	s := New(rdb, WithPrefix("test:zerotime:"+instanceID()+":"))
	for key, value := range map[string]string{"zero": "-62135596800000", "epoch": "0", "open": "4102444800000"} {
		require.NoError(t, rdb.Set(ctx, s.prefix+key, value, time.Minute).Err())
		t.Cleanup(func() { rdb.Del(ctx, s.prefix+key) })
	}
	found, _, err := s.readOpen(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"open": 4102444800000}, found)
}

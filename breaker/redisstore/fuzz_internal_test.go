package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
)

// FuzzMessages: whatever is published on the channel, parseMessage does
// not panic; what it accepts is written back the same by message; once
// applied, OpenUntil reports an open announcement as the (non-zero) time
// of its end and a close as the zero time; and a breaker of the key that
// syncs with it is open exactly while that end is ahead, never with a
// negative RetryAfter.
func FuzzMessages(f *testing.F) {
	s := New(nil)
	now := time.Now()
	for _, e := range []entry{
		{key: "clinic-1", update: update{open: true, until: now.Add(time.Minute).UnixMilli()}},
		{key: "clinic with spaces", update: update{}},
		{key: "", update: update{open: true, until: 1}},
		{key: "ended", update: update{open: true, until: now.Add(-time.Minute).UnixMilli()}},
	} {
		f.Add(s.message(e))
	}
	for _, m := range []string{
		"", "id o 12", "id x 12 key", "id o twelve key", "id o +5 key", "id o -1 key", "id c 99 key",
		"id o 9223372036854775807 key", "id o -9223372036854775808 key", "id o 00000000000000000001 key",
		"  o 1 ", "id\x00 o 1 k\ney", "id o 1e3 key", "id o -62135596800000 key",
	} {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, m string) {
		from, e, ok := parseMessage(m)
		if !ok {
			return
		}
		s := New(nil)
		s.id = from
		from2, e2, ok := parseMessage(s.message(e))
		require.True(t, ok)
		require.Equal(t, from, from2)
		require.Equal(t, e, e2)

		s.apply(e)
		until := s.OpenUntil(e.key)
		if !e.open {
			require.True(t, until.IsZero())
			return
		}
		require.False(t, until.IsZero(), "an open announcement read as a close: %q", m)
		require.Equal(t, e.until, until.UnixMilli())

		before := time.Now()
		b := breaker.NewRegistry[string](breaker.Settings{Store: s}).Get(e.key)
		require.NoError(t, b.Sync(context.Background()))
		snap := b.Snapshot()
		after := time.Now()
		require.GreaterOrEqual(t, snap.RetryAfter, time.Duration(0))
		switch {
		case until.After(after.Add(time.Millisecond)):
			require.Equal(t, breaker.Open, snap.State, "%q", m)
			require.LessOrEqual(t, snap.RetryAfter-time.Millisecond, until.Sub(before))
		case !until.After(before):
			require.Equal(t, breaker.Closed, snap.State, "%q", m)
		}
	})
}

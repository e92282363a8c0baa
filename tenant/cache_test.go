package tenant

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestOrgCache(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		run  func(t *testing.T, c *orgCache)
	}{
		{"miss", func(t *testing.T, c *orgCache) {
			_, ok := c.get("u", t0)
			require.False(t, ok)
		}},
		{"hit until expiry", func(t *testing.T, c *orgCache) {
			c.put("u", "o", SourceDirectory, t0)
			e, ok := c.get("u", t0.Add(time.Minute-time.Nanosecond))
			require.True(t, ok)
			require.Equal(t, "o", e.org)
			require.Equal(t, SourceDirectory, e.source)
			_, ok = c.get("u", t0.Add(time.Minute))
			require.False(t, ok)
			require.Zero(t, c.len(), "expired entries are dropped on read")
		}},
		{"put refreshes", func(t *testing.T, c *orgCache) {
			c.put("u", "o1", SourceProvisioned, t0)
			c.put("u", "o2", SourceDirectory, t0.Add(30*time.Second))
			e, ok := c.get("u", t0.Add(80*time.Second))
			require.True(t, ok)
			require.Equal(t, "o2", e.org)
			require.Equal(t, 1, c.len())
		}},
		{"bounded, least recently used evicted", func(t *testing.T, c *orgCache) {
			c.put("a", "1", SourceDirectory, t0)
			c.put("b", "2", SourceDirectory, t0)
			c.put("c", "3", SourceDirectory, t0)
			_, ok := c.get("a", t0) // a is now the most recent
			require.True(t, ok)
			c.put("d", "4", SourceDirectory, t0)
			require.Equal(t, 3, c.len())
			_, ok = c.get("b", t0)
			require.False(t, ok, "b was the least recently used")
			for _, u := range []string{"a", "c", "d"} {
				_, ok = c.get(u, t0)
				require.True(t, ok, u)
			}
		}},
		{"flood stays bounded", func(t *testing.T, c *orgCache) {
			for i := range 1000 {
				c.put(fmt.Sprint(i), "o", SourceDirectory, t0)
			}
			require.Equal(t, 3, c.len())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newOrgCache(time.Minute, 3))
		})
	}
}

func TestOrgCacheDisabled(t *testing.T) {
	for _, c := range []*orgCache{newOrgCache(0, 10), newOrgCache(time.Minute, 0)} {
		require.Nil(t, c)
		c.put("u", "o", SourceDirectory, time.Now())
		_, ok := c.get("u", time.Now())
		require.False(t, ok)
	}
}

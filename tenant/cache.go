package tenant

import (
	"container/list"
	"sync"
	"time"
)

// orgCache maps user IDs to resolved organisations for a TTL, holding at
// most max entries (least recently used evicted first). Only successful
// lookups are stored. A nil *orgCache caches nothing. Safe for concurrent use.
type orgCache struct {
	ttl time.Duration
	max int

	mu    sync.Mutex
	order list.List // of *cacheEntry, most recently used first
	items map[string]*list.Element
}

type cacheEntry struct {
	user    string
	org     string
	source  Source
	expires time.Time
}

// newOrgCache returns nil (no caching) when ttl or size is not positive.
func newOrgCache(ttl time.Duration, size int) *orgCache {
	if ttl <= 0 || size <= 0 {
		return nil
	}
	return &orgCache{ttl: ttl, max: size, items: make(map[string]*list.Element)}
}

// get returns the live entry of user at now.
func (c *orgCache) get(user string, now time.Time) (cacheEntry, bool) {
	if c == nil {
		return cacheEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[user]
	if !ok {
		return cacheEntry{}, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, user)
		return cacheEntry{}, false
	}
	c.order.MoveToFront(el)
	return *e, true
}

// put stores org for user from now on for the TTL.
func (c *orgCache) put(user, org string, src Source, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[user]; ok {
		e := el.Value.(*cacheEntry)
		e.org, e.source, e.expires = org, src, now.Add(c.ttl)
		c.order.MoveToFront(el)
		return
	}
	c.items[user] = c.order.PushFront(&cacheEntry{user: user, org: org, source: src, expires: now.Add(c.ttl)})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).user)
	}
}

// len returns the number of entries, live or expired.
func (c *orgCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

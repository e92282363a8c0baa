package gcal

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/voxanne/resilience/health"
)

// seenLink is what the last access to an organisation's link showed.
type seenLink struct {
	status  Status
	expiry  time.Time // of the access token
	failing bool      // the last refresh failed for a reason other than a refusal
}

// see records the state of l.
func (c *Client) see(l Link) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.Status == NotLinked {
		delete(c.seen, l.OrgID)
		return
	}
	s := c.seen[l.OrgID]
	s.status = l.Status
	s.expiry = time.Time{}
	if l.Token != nil {
		s.expiry = l.Token.Expiry
	}
	if l.Status == RelinkRequired {
		s.failing = false
	}
	c.seen[l.OrgID] = s
}

// forget drops an organisation that has no link.
func (c *Client) forget(orgID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.seen, orgID)
}

// setFailing records whether the last refresh of orgID failed.
func (c *Client) setFailing(orgID string, failing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.seen[orgID]; ok {
		s.failing = failing
		c.seen[orgID] = s
	}
}

// LinkCounts counts the links a Client has seen, by state.
type LinkCounts struct {
	// Linked counts working links; Expiring those of them whose access
	// token expires within the refresh skew (it is refreshed on next use).
	Linked, Expiring int
	// RelinkRequired counts links Google refused.
	RelinkRequired int
	// RefreshFailing counts links whose last refresh failed for another
	// reason (the token endpoint down or unreachable).
	RefreshFailing int
}

// Counts returns the state of the links this Client has accessed, as last
// seen, without a request to the store or to Google.
func (c *Client) Counts() LinkCounts {
	deadline := time.Now().Add(c.opts.skew)
	c.mu.Lock()
	defer c.mu.Unlock()
	var n LinkCounts
	for _, s := range c.seen {
		switch s.status {
		case Linked:
			n.Linked++
			if !s.expiry.IsZero() && s.expiry.Before(deadline) {
				n.Expiring++
			}
		case RelinkRequired:
			n.RelinkRequired++
		}
		if s.failing {
			n.RefreshFailing++
		}
	}
	return n
}

// Check returns a health check named name, computed from what the Client
// has seen, without a network call: Healthy while no organisation it
// serves needs a relink and no refresh is failing, Degraded otherwise.
// It reports counts (details linked, expiring, relinkRequired,
// refreshFailing), never organisation IDs.
func (c *Client) Check(name string) health.Check {
	return health.Check{
		Name: name,
		Func: func(context.Context) health.Result {
			n := c.Counts()
			r := health.Result{
				Status: health.Healthy,
				Details: map[string]any{
					"linked":         n.Linked,
					"expiring":       n.Expiring,
					"relinkRequired": n.RelinkRequired,
					"refreshFailing": n.RefreshFailing,
				},
			}
			msg := []string{fmt.Sprintf("%d calendar links working", n.Linked)}
			var recs []string
			if n.RelinkRequired > 0 {
				r.Status = health.Degraded
				msg = append(msg, fmt.Sprintf("%d must be linked again", n.RelinkRequired))
				recs = append(recs, "Ask the organisations whose Google Calendar link was refused to link it again")
			}
			if n.RefreshFailing > 0 {
				r.Status = health.Degraded
				msg = append(msg, fmt.Sprintf("%d failing to refresh their token", n.RefreshFailing))
				recs = append(recs, "Check that Google's OAuth token endpoint is reachable")
			}
			r.Message = strings.Join(msg, "; ")
			r.Recommendation = strings.Join(recs, "; ")
			return r
		},
	}
}

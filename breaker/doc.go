// Package breaker provides circuit breakers cheap enough to keep one per
// tenant, for hundreds of thousands of tenants.
//
// A Breaker is closed (calls go through and failures are counted), open
// (calls are rejected with an *OpenError until a cooldown passes) or
// half-open (a few probe calls test the dependency). It trips after
// Settings.ConsecutiveFailures failures in a row or, when configured, when
// the failure ratio over the last Settings.Window calls reaches
// Settings.FailureRatio. A failed probe re-opens it with the cooldown
// doubled, up to Settings.MaxCooldown; enough successful probes close it.
//
// Use the two-step Allow when the call cannot be wrapped in a closure, or
// Do when it can:
//
//	done, err := b.Allow()
//	if err != nil {
//		return err // errors.Is(err, breaker.ErrOpen)
//	}
//	resp, err := client.Do(req)
//	done(err)
//
// A Registry keeps one breaker per key, creates them on first use and
// bounds memory by dropping only breakers that are closed, idle and have no
// failure on record. Registry.Snapshot feeds health checks.
//
// A result that was started before a state change is ignored, so a slow
// call cannot close a breaker that tripped while it ran. context.Canceled
// is neither a success nor a failure. Settings.OnStateChange is called with
// no lock held.
//
// # Sharing circuits between instances
//
// With Settings.Store set (MemoryStore in one process, breaker/redisstore
// between processes), the instances of a service share their open
// circuits. What is shared: that a key is open, until when, and the close
// that ends an open period early (published by the instance whose probe
// succeeded). A breaker publishes each change of its own to Open or
// Closed; it adopts what others published when it is created (a breaker
// created while its key is open elsewhere starts open) and when Sync is
// called, which redisstore's Watch does for every key another instance
// changes. What stays local: failure counts and failure-ratio windows
// (each instance trips on its own calls), half-open probes (once a shared
// open period ends, every instance admits its own), the doubling of the
// cooldown, and the success path of a closed breaker, which never touches
// the Store. A Store never blocks or fails a call: when it cannot reach
// its backend, each instance keeps protecting itself on local state.
//
// A closed breaker's success path takes no lock, reads no clock and does
// not allocate: a few nanoseconds, several times faster than
// sony/gobreaker (see the benchmarks module).
package breaker

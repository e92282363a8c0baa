// Package health aggregates the health of a service's integrations into one
// report and serves it over HTTP.
//
// An Aggregator runs its Checks concurrently, each in its own goroutine with
// its own timeout, and folds their Results into a Report: the worst status
// wins, with one rule: a Check that is not Critical can at most degrade the
// service, so a Critical status from it (a failure, a timeout or a panic) is
// reported as Degraded. The Summary therefore counts critical integrations
// only when the whole report is Critical. A check that ignores its context
// and does not return is not started again until it has returned; meanwhile
// the report says so.
//
// Reports are cached for a TTL (one second by default) and concurrent callers
// share one run, so the endpoint is cheap to poll and safe under load: a burst
// of requests runs each check once, and a cached report is written as
// pre-encoded bytes.
//
// The Aggregator is an http.Handler. It answers 200 for a healthy or degraded
// report and 503 for a critical one, in the JSON shape of Report, or in the
// IETF health-check draft format (pass, warn, fail) when the request accepts
// application/health+json. Live and Ready give Kubernetes-style liveness and
// readiness handlers.
//
// What leaves the process is guarded. Result details are hidden unless the
// WithDetails option admits the request (the query ?verbose=0 hides them in
// any case). Messages and recommendations, which every caller sees, are
// redacted, and so are the error and panic texts that the package puts in
// details: credentials, user names, IP addresses and host names with a port,
// e-mail addresses, phone numbers, URL query values and token-like strings
// become placeholders such as [redacted] and [ip]; the rest of the text
// stays. The Breakers check names tenants (breaker keys) in its details only.
//
// FromError turns a plain func(context.Context) error, such as
// (*sql.DB).PingContext, into a Check; SQL and Breakers are built-in checks
// for a database pool and a set of circuit breakers.
package health

package health

import (
	"context"
	"time"
)

// Status is the health of one integration or of the whole service.
type Status string

const (
	// Healthy means the integration works.
	Healthy Status = "healthy"
	// Degraded means the integration works partly, or a non-critical one fails.
	Degraded Status = "degraded"
	// Critical means the service cannot do its job.
	Critical Status = "critical"
)

// rank orders statuses from best to worst; an unknown status ranks as Critical.
func (s Status) rank() int {
	switch s {
	case Healthy:
		return 0
	case Degraded:
		return 1
	}
	return 2
}

// valid reports whether s is one of Healthy, Degraded and Critical.
func (s Status) valid() bool { return s == Healthy || s == Degraded || s == Critical }

// Check is one health check run by an Aggregator.
type Check struct {
	// Name identifies the integration in the report, e.g. "Database".
	Name string
	// Timeout bounds one run of Func; zero means the Aggregator's default
	// (see WithDefaultTimeout).
	Timeout time.Duration
	// Critical marks an integration the service cannot work without. A
	// failing critical check makes the report Critical; a failing
	// non-critical one makes it at most Degraded.
	Critical bool
	// Func runs the check. Its context is done when Timeout has passed; a
	// Func that returns late is reported as timed out, one that panics as
	// failed. A Func that has not returned is never started again: until
	// it returns, the report says that its previous run has not returned.
	// The Name of the Result it returns is ignored.
	Func func(context.Context) Result
}

// Result is the outcome of one Check, one line of a Report.
type Result struct {
	// Name is the Check's name.
	Name string `json:"name"`
	// Status is the health of the integration. An empty or unknown status
	// is treated as a failure (Critical).
	Status Status `json:"status"`
	// Message says what was found, in a sentence for an operator. Every
	// caller sees it: the Aggregator redacts credentials, user names,
	// addresses and token-like strings in it (see the package doc), but
	// error texts belong in Details.
	Message string `json:"message"`
	// Details carries machine-readable facts (pool sizes, expiry times);
	// they are hidden from callers that may not see them.
	Details map[string]any `json:"details,omitempty"`
	// Recommendation says what to do about it; the report lists each
	// distinct recommendation once. It is redacted like Message.
	Recommendation string `json:"recommendation,omitempty"`
}

// CheckOption configures a Check built by FromError, SQL or Breakers.
type CheckOption func(*checkConfig)

type checkConfig struct {
	critical       bool
	timeout        time.Duration
	recommendation string
	keyLimit       int
}

func newCheckConfig(opts []CheckOption) checkConfig {
	c := checkConfig{keyLimit: defaultKeyLimit}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// AsCritical marks the Check as Critical.
func AsCritical() CheckOption { return func(c *checkConfig) { c.critical = true } }

// WithTimeout sets the Check's Timeout.
func WithTimeout(d time.Duration) CheckOption { return func(c *checkConfig) { c.timeout = d } }

// WithRecommendation sets the recommendation reported when the check fails.
func WithRecommendation(s string) CheckOption {
	return func(c *checkConfig) { c.recommendation = s }
}

// FromError returns a Check named name that calls fn: a nil error is
// Healthy with the message "ok", an error is a failure (Critical, or
// Degraded for a non-critical check) with the message "check failed" and
// the error text, redacted, in details["error"]: error texts name hosts,
// users and keys, and details are hidden from callers that may not see
// them. Methods such as (*sql.DB).PingContext plug straight in.
func FromError(name string, fn func(context.Context) error, opts ...CheckOption) Check {
	cfg := newCheckConfig(opts)
	return Check{
		Name:     name,
		Timeout:  cfg.timeout,
		Critical: cfg.critical,
		Func: func(ctx context.Context) Result {
			if err := fn(ctx); err != nil {
				return Result{
					Status:         Critical,
					Message:        "check failed",
					Details:        map[string]any{"error": redact(err.Error())},
					Recommendation: cfg.recommendation,
				}
			}
			return Result{Status: Healthy, Message: "ok"}
		},
	}
}

package health

import (
	"context"
	"database/sql"
)

// SQL returns a Check named name that pings db within the check's timeout
// and reports the pool's statistics in details: openConnections, inUse,
// idle, maxOpenConnections, waitCount and waitDurationMs. A failed ping is
// a failure, with the driver's error, redacted, in details["error"].
func SQL(name string, db *sql.DB, opts ...CheckOption) Check {
	cfg := newCheckConfig(opts)
	rec := cfg.recommendation
	if rec == "" {
		rec = name + " is unreachable: check the database server and the connection settings"
	}
	return Check{
		Name:     name,
		Timeout:  cfg.timeout,
		Critical: cfg.critical,
		Func: func(ctx context.Context) Result {
			err := db.PingContext(ctx)
			st := db.Stats()
			details := map[string]any{
				"openConnections":    st.OpenConnections,
				"inUse":              st.InUse,
				"idle":               st.Idle,
				"maxOpenConnections": st.MaxOpenConnections,
				"waitCount":          st.WaitCount,
				"waitDurationMs":     st.WaitDuration.Milliseconds(),
			}
			if err != nil {
				// The driver's error names users, hosts and ports: it goes,
				// redacted, in the details, which few callers see.
				details["error"] = redact(err.Error())
				return Result{
					Status:         Critical,
					Message:        "database ping failed",
					Details:        details,
					Recommendation: rec,
				}
			}
			return Result{Status: Healthy, Message: "database connection active", Details: details}
		},
	}
}

package app

import (
	"context"
	"net/http"
	"time"

	"github.com/voxanne/resilience/health"
)

// Names of the integrations in the health report.
const (
	checkDatabase    = "Database"
	checkRedis       = "Redis"
	checkCalendar    = "Google Calendar"
	checkCalBreakers = "Calendar circuit breakers"
	checkSMS         = "Twilio SMS"
	checkSMSBreakers = "SMS circuit breakers"
)

// healthChecks builds the aggregator behind /api/health/integrations,
// /livez and /readyz. Only the database is critical: without it nothing
// works; every vendor trouble degrades the service, and the breakers keep
// it inside the clinics it concerns. Details go to operators only.
func (a *App) healthChecks() *health.Aggregator {
	checks := []health.Check{
		health.SQL(checkDatabase, a.db, health.AsCritical(),
			health.WithRecommendation("The database is unreachable: nothing can be booked or texted. Check DATABASE_URL and the database server.")),
	}
	if len(a.shared) > 0 {
		checks = append(checks, health.Check{Name: checkRedis, Func: a.redisHealth})
	}
	checks = append(checks,
		a.calendar.Check(checkCalendar),
		health.Breakers(checkCalBreakers, a.calBreakers, health.WithRecommendation(
			"Some clinics' calendars are failing: their callers are told the booking will be followed up, and "+
				"their breakers retry by themselves. An operator can reset a clinic's breaker once Google works again.")),
		a.sms.Check(checkSMS),
		health.Breakers(checkSMSBreakers, a.smsBreakers, health.WithRecommendation(
			"Some clinics' texts are failing: bookings still succeed, and the texts are retried from the outbox. "+
				"Check Twilio's status page and the clinics' numbers.")),
	)
	return health.New(checks,
		health.WithDetails(a.isStaff),
		health.WithClock(a.now),
		health.WithLogger(a.log.With("component", "health")))
}

// redisHealth is the worse of the two breaker stores' checks: both share
// one Redis.
func (a *App) redisHealth(ctx context.Context) health.Result {
	var worst health.Result
	for i, s := range a.shared {
		r := s.Check(checkRedis).Func(ctx)
		if i == 0 || rank(r.Status) > rank(worst.Status) {
			worst = r
		}
	}
	if worst.Status != health.Healthy && worst.Recommendation == "" {
		worst.Recommendation = "Redis is unreachable: each instance keeps its own breakers, so an outage found by one " +
			"is not seen by the others. Check REDIS_URL and the Redis server."
	}
	return worst
}

func rank(s health.Status) int {
	switch s {
	case health.Healthy:
		return 0
	case health.Degraded:
		return 1
	}
	return 2
}

// ready is /readyz: the critical checks, and 503 while shutting down so
// that load balancers stop sending requests.
func (a *App) ready() http.Handler {
	inner := a.health.Ready()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.draining.Load() {
			w.Header().Set("Retry-After", "5")
			writeError(w, r, http.StatusServiceUnavailable, "shutting_down", "This instance is shutting down.")
			return
		}
		inner.ServeHTTP(w, r)
	})
}

// healthTimeout bounds a health report requested for the status page.
const healthTimeout = 3 * time.Second

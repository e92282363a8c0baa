package gcal

import (
	"errors"
	"net/http"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/voxanne/resilience/safecall"
)

// QuotaRetryAfter is the wait asked of callers after Google reports an
// exhausted quota (quotaExceeded, dailyLimitExceeded) without a
// Retry-After: such a quota does not come back within a retry's wait.
// Call waits at most its WithMaxWait, and not past the context's deadline.
const QuotaRetryAfter = 10 * time.Minute

// Classify is the safecall classifier of Google's errors. It reads:
//   - *googleapi.Error: 401 Auth; 429, and 403 with the reason
//     rateLimitExceeded, userRateLimitExceeded, quotaExceeded or
//     dailyLimitExceeded, RateLimit; any other 403 and 4xx Permanent, 408
//     Temporary; 5xx Temporary but 501 Permanent;
//   - *oauth2.RetrieveError: invalid_grant Auth (the grant is gone); any
//     other token error by its HTTP status, as safecall.ClassifyStatus;
//   - this package's errors: ErrNotLinked and ErrRelinkRequired Auth,
//     ErrInvalidBooking and the link-flow errors Permanent, ErrConflict
//     Temporary.
//
// Anything else goes to safecall.Classify (marks, context, network).
func Classify(err error) safecall.Class {
	if err == nil {
		return safecall.Unknown
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return classifyAPI(ge)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode == "invalid_grant" {
			return safecall.Auth
		}
		if re.Response != nil {
			if c := safecall.ClassifyStatus(re.Response.StatusCode); c != safecall.Unknown {
				return c
			}
		}
		return safecall.Unknown
	}
	switch {
	case errors.Is(err, ErrNotLinked), errors.Is(err, ErrRelinkRequired):
		return safecall.Auth
	case errors.Is(err, ErrInvalidBooking), errors.Is(err, ErrInvalidState),
		errors.Is(err, ErrStateExpired), errors.Is(err, ErrStateUsed),
		errors.Is(err, ErrNoStateKey), errors.Is(err, ErrNoRefreshToken), errors.Is(err, ErrInvalidLink):
		return safecall.Permanent
	case errors.Is(err, ErrConflict):
		return safecall.Temporary
	}
	return safecall.Classify(err)
}

func classifyAPI(e *googleapi.Error) safecall.Class {
	switch {
	case e.Code == http.StatusUnauthorized:
		return safecall.Auth
	case e.Code == http.StatusTooManyRequests:
		return safecall.RateLimit
	case e.Code == http.StatusForbidden:
		if rateLimited(e) || quotaExhausted(e) {
			return safecall.RateLimit
		}
		return safecall.Permanent
	}
	return safecall.ClassifyStatus(e.Code)
}

func rateLimited(e *googleapi.Error) bool {
	return hasReason(e, "rateLimitExceeded", "userRateLimitExceeded")
}

func quotaExhausted(e *googleapi.Error) bool {
	return hasReason(e, "quotaExceeded", "dailyLimitExceeded")
}

func hasReason(e *googleapi.Error, reasons ...string) bool {
	for _, item := range e.Errors {
		for _, r := range reasons {
			if item.Reason == r {
				return true
			}
		}
	}
	return false
}

// waitHint wraps an error of Google with the wait it asks for, if any, so
// that safecall honours it: the Retry-After header, or QuotaRetryAfter for
// an exhausted quota.
func waitHint(err error, now time.Time) error {
	var ge *googleapi.Error
	if err == nil || !errors.As(err, &ge) {
		return err
	}
	d := safecall.ParseRetryAfter(ge.Header.Get("Retry-After"), now)
	if d == 0 && ge.Code == http.StatusForbidden && quotaExhausted(ge) {
		d = QuotaRetryAfter
	}
	if d == 0 {
		return err
	}
	return &hintedError{err: err, after: d}
}

// hintedError carries a wait asked for by Google.
type hintedError struct {
	err   error
	after time.Duration
}

func (e *hintedError) Error() string             { return e.err.Error() }
func (e *hintedError) Unwrap() error             { return e.err }
func (e *hintedError) RetryAfter() time.Duration { return e.after }

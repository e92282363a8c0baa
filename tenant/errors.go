package tenant

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// ErrNoToken means the request carried no token at all.
var ErrNoToken = errors.New("tenant: no bearer token")

// ErrInvalidToken is matched (errors.Is) by every *TokenError: the token was
// refused. The TokenError's Reason says why.
var ErrInvalidToken = errors.New("tenant: invalid token")

// Reasons of a *TokenError. Each is matched with errors.Is.
var (
	ErrTokenTooLarge     = errors.New("tenant: token too large")
	ErrTokenMalformed    = errors.New("tenant: token malformed")
	ErrTokenSignature    = errors.New("tenant: token signature or algorithm not accepted")
	ErrTokenExpired      = errors.New("tenant: token expired")
	ErrTokenNotYetValid  = errors.New("tenant: token not yet valid")
	ErrTokenClaimMissing = errors.New("tenant: token misses a required claim")
	ErrTokenAudience     = errors.New("tenant: token audience not accepted")
	ErrTokenIssuer       = errors.New("tenant: token issuer not accepted")
	ErrTokenRole         = errors.New("tenant: token role not accepted")
	ErrUnknownKey        = errors.New("tenant: token signed by an unknown key")
)

// ErrNotMember means the token claims an organisation that the Directory says
// the user does not belong to (membership checking is on).
var ErrNotMember = errors.New("tenant: user is not a member of the claimed organization")

// ErrAnonymous means the token is one of Supabase's anonymous sign-ins
// (is_anonymous), refused unless WithAnonymous(true).
var ErrAnonymous = errors.New("tenant: anonymous users are not accepted")

// ErrUnavailable is matched (errors.Is) by every *UnavailableError: a
// dependency needed to authenticate the request (key set, directory,
// provisioner) failed. It is a server-side failure, not the client's.
var ErrUnavailable = errors.New("tenant: dependency unavailable")

// TokenError is the error of a refused token. It matches ErrInvalidToken and
// its Reason with errors.Is, and unwraps to the underlying cause, if any.
// Its message never contains the token.
type TokenError struct {
	Reason error // one of the ErrToken* sentinels or ErrUnknownKey
	Err    error // underlying cause; may be nil
}

// Error returns the reason and the cause; never the token.
func (e *TokenError) Error() string {
	if e.Err == nil {
		return e.Reason.Error()
	}
	return e.Reason.Error() + ": " + e.Err.Error()
}

// Is reports whether target is ErrInvalidToken or the Reason.
func (e *TokenError) Is(target error) bool {
	return target == ErrInvalidToken || target == e.Reason
}

// Unwrap returns the underlying cause.
func (e *TokenError) Unwrap() error { return e.Err }

func tokenError(reason, err error) *TokenError {
	return &TokenError{Reason: reason, Err: err}
}

// UnavailableError reports a failed dependency: Op is "jwks", "directory" or
// "provision". It matches ErrUnavailable with errors.Is and unwraps to Err.
type UnavailableError struct {
	Op  string
	Err error
	// After is the suggested wait before retrying; 0 means unknown.
	After time.Duration
}

// Error names the failed dependency and the cause.
func (e *UnavailableError) Error() string {
	return "tenant: " + e.Op + " unavailable: " + e.Err.Error()
}

// Is reports whether target is ErrUnavailable.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the underlying cause.
func (e *UnavailableError) Unwrap() error { return e.Err }

// RetryAfter returns After, so that retry policies (safecall) can honour it.
func (e *UnavailableError) RetryAfter() time.Duration { return e.After }

// Error codes written in the "code" field of Middleware's JSON error bodies.
const (
	CodeMissingToken   = "missing_token"
	CodeInvalidToken   = "invalid_token"
	CodeTokenExpired   = "token_expired"
	CodeNoOrganization = "no_organization"
	CodeNotMember      = "not_member"
	CodeAnonymous      = "anonymous_user"
	CodeUnavailable    = "unavailable"
	CodeInternal       = "internal"
)

// defaultRetryAfter is the Retry-After of a 503 whose error suggests none.
const defaultRetryAfter = 5 * time.Second

// maxRetryAfter caps the Retry-After header: a longer wait suggested by an
// error is sent as an hour.
const maxRetryAfter = time.Hour

// StatusOf returns the HTTP status and the error code Middleware answers err with:
// 401 for ErrNoToken and ErrInvalidToken, 403 for ErrNoOrg, ErrNotMember and
// ErrAnonymous, 503 for ErrUnavailable and 500 for anything else.
func StatusOf(err error) (status int, code string) {
	switch {
	case errors.Is(err, ErrNoToken):
		return http.StatusUnauthorized, CodeMissingToken
	case errors.Is(err, ErrTokenExpired):
		return http.StatusUnauthorized, CodeTokenExpired
	case errors.Is(err, ErrInvalidToken):
		return http.StatusUnauthorized, CodeInvalidToken
	case errors.Is(err, ErrNotMember):
		return http.StatusForbidden, CodeNotMember
	case errors.Is(err, ErrNoOrg):
		return http.StatusForbidden, CodeNoOrganization
	case errors.Is(err, ErrAnonymous):
		return http.StatusForbidden, CodeAnonymous
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable, CodeUnavailable
	}
	return http.StatusInternalServerError, CodeInternal
}

// WriteError writes the response Middleware gives for err: a JSON body
// {"error": message, "code": code} with the status of StatusOf, a
// WWW-Authenticate: Bearer header on 401 and Retry-After (seconds, at most
// an hour) on 503.
// The message is a fixed sentence chosen by err's kind: never the token,
// never a dependency's error text. It is meant for custom error handlers
// (WithErrorHandler) that want the default answer for some errors.
func WriteError(w http.ResponseWriter, err error) {
	status, code := StatusOf(err)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	msg := publicMessage(err, status)
	switch status {
	case http.StatusUnauthorized:
		if code == CodeMissingToken {
			h.Set("WWW-Authenticate", `Bearer`)
		} else {
			h.Set("WWW-Authenticate", `Bearer error="invalid_token", error_description=`+strconv.Quote(msg))
		}
	case http.StatusServiceUnavailable:
		after := defaultRetryAfter
		var ue *UnavailableError
		if errors.As(err, &ue) && ue.After > 0 {
			after = ue.After
		}
		after = min(after, maxRetryAfter)
		secs := int64((after + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{msg, code})
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// publicMessage returns the sentence shown to the client for err.
func publicMessage(err error, status int) string {
	var te *TokenError
	switch {
	case errors.As(err, &te):
		return trimPrefix(te.Reason.Error())
	case errors.Is(err, ErrNoToken):
		return "authentication required"
	case errors.Is(err, ErrNotMember):
		return "user is not a member of the organization in the token"
	case errors.Is(err, ErrNoOrg):
		return "user has no organization"
	case errors.Is(err, ErrAnonymous):
		return "anonymous users are not accepted"
	case status == http.StatusServiceUnavailable:
		return "authentication temporarily unavailable, retry later"
	}
	return "internal error"
}

func trimPrefix(s string) string {
	const p = "tenant: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

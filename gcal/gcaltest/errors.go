package gcaltest

import (
	"encoding/json"
	"net/http"
)

// apiErrorBody is Google's JSON error format:
// {"error": {"code": 403, "message": "...", "errors": [{"message", "domain", "reason"}], "status": "PERMISSION_DENIED"}}.
type apiErrorBody struct {
	Error apiError `json:"error"`
}

type apiError struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Errors  []apiErrorItem `json:"errors"`
	Status  string         `json:"status"`
}

type apiErrorItem struct {
	Message string `json:"message"`
	Domain  string `json:"domain"`
	Reason  string `json:"reason"`
}

// writeAPIError answers with a Calendar API error. An empty reason or
// message gets the usual one for status; retryAfter, if any, is sent as the
// Retry-After header.
func writeAPIError(w http.ResponseWriter, status int, reason, message, retryAfter string) {
	if reason == "" {
		reason = reasonFor(status)
	}
	if message == "" {
		message = messageFor(reason, status)
	}
	domain := "global"
	switch reason {
	case "rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded":
		domain = "usageLimits"
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
	}
	writeJSON(w, status, apiErrorBody{Error: apiError{
		Code:    status,
		Message: message,
		Errors:  []apiErrorItem{{Message: message, Domain: domain, Reason: reason}},
		Status:  grpcStatus(status),
	}})
}

// reasonFor is the reason Google usually gives with status.
func reasonFor(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "badRequest"
	case http.StatusUnauthorized:
		return "authError"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "notFound"
	case http.StatusConflict:
		return "duplicate"
	case http.StatusGone:
		return "deleted"
	case http.StatusPreconditionFailed:
		return "conditionNotMet"
	case http.StatusTooManyRequests:
		return "rateLimitExceeded"
	}
	return "backendError"
}

// messageFor is the message Google usually gives with reason.
func messageFor(reason string, status int) string {
	switch reason {
	case "authError":
		return "Invalid Credentials"
	case "required":
		return "Login Required."
	case "rateLimitExceeded":
		return "Rate Limit Exceeded"
	case "userRateLimitExceeded":
		return "User Rate Limit Exceeded"
	case "quotaExceeded":
		return "Calendar usage limits exceeded."
	case "dailyLimitExceeded":
		return "Daily Limit Exceeded"
	case "forbidden":
		return "Forbidden"
	case "notFound":
		return "Not Found"
	case "duplicate":
		return "The requested identifier already exists."
	case "deleted":
		return "Resource has been deleted"
	case "backendError":
		return "Backend Error"
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Error"
}

// grpcStatus is the canonical status name Google puts beside the code.
func grpcStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound, http.StatusGone:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ALREADY_EXISTS"
	case http.StatusPreconditionFailed:
		return "FAILED_PRECONDITION"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL"
}

// writeOAuthError answers with an OAuth 2.0 error (RFC 6749, section 5.2).
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	body := map[string]string{"error": code}
	if description != "" {
		body["error_description"] = description
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

package gcal_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/gcal/gcaltest"
	"github.com/voxanne/resilience/safecall"
)

// googleError is an error answer of a Google API, as Google writes them.
func googleError(code int, status, message string, reasons ...string) []byte {
	items := make([]map[string]string, len(reasons))
	for i, r := range reasons {
		items[i] = map[string]string{"domain": "usageLimits", "reason": r, "message": message}
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": code, "message": message, "errors": items, "status": status,
	}})
	return b
}

// FuzzClassifyGoogleError: whatever status and body a Google API answers
// with, decoded by googleapi.CheckResponse, Classify does not panic and
// gives the class the status rules give the code googleapi reports (the
// HTTP status, or the body's error code when it has one): 401 Auth; 429,
// and 403 with a rate or quota reason, RateLimit; other 403 and 4xx
// Permanent; 408 and 5xx Temporary, 501 Permanent.
func FuzzClassifyGoogleError(f *testing.F) {
	for _, s := range []struct {
		status int
		body   []byte
	}{
		{403, googleError(403, "PERMISSION_DENIED", "Rate Limit Exceeded", "rateLimitExceeded")},
		{403, googleError(403, "PERMISSION_DENIED", "User Rate Limit Exceeded", "userRateLimitExceeded")},
		{403, googleError(403, "PERMISSION_DENIED", "Quota exceeded", "quotaExceeded")},
		{403, googleError(403, "PERMISSION_DENIED", "Daily Limit Exceeded", "dailyLimitExceeded")},
		{403, googleError(403, "PERMISSION_DENIED", "The caller does not have permission", "forbidden")},
		{403, googleError(403, "PERMISSION_DENIED", "two reasons", "forbidden", "rateLimitExceeded")},
		{401, googleError(401, "UNAUTHENTICATED", "Invalid Credentials", "authError")},
		{404, googleError(404, "NOT_FOUND", "Not Found", "notFound")},
		{409, googleError(409, "ALREADY_EXISTS", "The requested identifier already exists.", "duplicate")},
		{410, googleError(410, "", "Resource has been deleted", "deleted")},
		{429, googleError(429, "RESOURCE_EXHAUSTED", "Too many requests", "rateLimitExceeded")},
		{500, googleError(500, "INTERNAL", "Backend Error", "backendError")},
		{501, googleError(501, "UNIMPLEMENTED", "Not implemented")},
		{503, []byte("<html><head><title>503 Service Unavailable</title></head></html>")},
		{502, []byte(`[{"error": {"code": 502, "message": "Bad Gateway"}}]`)},
		{403, []byte(`{"error": {"errors": [{"reason": "rateLimitExceeded"}]}}`)},
		{500, []byte(`{"error": {"code": 403, "errors": [{"reason": "quotaExceeded"}]}}`)},
		{400, []byte(`{"error": "invalid_request"}`)},
		{408, nil},
		{304, nil},
		{204, []byte("{}")},
	} {
		f.Add(uint16(s.status), s.body)
	}
	f.Fuzz(func(t *testing.T, rawStatus uint16, body []byte) {
		status := int(rawStatus)
		if status < 100 || status > 599 {
			status = 100 + status%500
		}
		res := &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body))}
		err := googleapi.CheckResponse(res)
		if status >= 200 && status <= 299 {
			require.NoError(t, err)
			return
		}
		var ge *googleapi.Error
		require.ErrorAs(t, err, &ge)

		// Google's error document, read as googleapi documents it.
		var reply googleReply
		var decodeErr error
		if len(body) > 0 && body[0] == '[' {
			arr := []*googleReply{&reply}
			decodeErr = json.Unmarshal(body, &arr)
		} else {
			decodeErr = json.Unmarshal(body, &reply)
		}
		code, limited := status, false
		if decodeErr == nil && reply.Error != nil {
			if reply.Error.Code != 0 {
				code = reply.Error.Code
			}
			for _, e := range reply.Error.Errors {
				switch e.Reason {
				case "rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded":
					limited = true
				}
			}
		}
		require.Equal(t, code, ge.Code, "status %d, body %q", status, body)

		want := safecall.ClassifyStatus(code)
		switch {
		case code == http.StatusForbidden && limited:
			want = safecall.RateLimit
		case code == http.StatusForbidden:
			want = safecall.Permanent
		}
		require.Equal(t, want, gcal.Classify(err), "code %d, body %q", code, body)
		require.Equal(t, want, gcal.Classify(fmt.Errorf("gcal: book: %w", err)), "wrapped")
	})
}

// googleReply is Google's error document: an error object, or an array
// whose first element is one.
type googleReply struct {
	Error *struct {
		Code   int `json:"code"`
		Errors []struct {
			Reason string `json:"reason"`
		} `json:"errors"`
	} `json:"error"`
}

// fuzzTokenURL and fuzzCalendarURL are where a fuzzed Client's requests
// go; fuzzRoutes answers them without a network.
const (
	fuzzTokenURL    = "https://oauth2.fuzz.test/token"
	fuzzCalendarURL = "https://calendar.fuzz.test/"
)

// fuzzClient is a Client whose token requests get token's answers and
// whose Calendar requests get an empty freeBusy answer; it makes no
// retries.
func fuzzClient(t *testing.T, store gcal.TokenStore, token func(*http.Request) *http.Response, opts ...gcal.Option) *gcal.Client {
	t.Helper()
	rt := roundTrip(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host == "oauth2.fuzz.test" {
			return token(r), nil
		}
		return jsonAnswer(r, http.StatusOK, "application/json",
			[]byte(`{"kind": "calendar#freeBusy", "calendars": {"primary": {"busy": []}}}`)), nil
	})
	cfg := &oauth2.Config{
		ClientID: "client", ClientSecret: "secret", RedirectURL: redirect,
		Endpoint: oauth2.Endpoint{AuthURL: "https://accounts.fuzz.test/auth", TokenURL: fuzzTokenURL},
	}
	base := []gcal.Option{
		gcal.WithHTTPClient(&http.Client{Transport: rt}),
		gcal.WithEndpoint(fuzzCalendarURL),
		gcal.WithStateKey([]byte(stateKeyV1)),
		gcal.WithCallOptions(safecall.WithRetries(0)),
	}
	return gcal.New(cfg, store, append(base, opts...)...)
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func jsonAnswer(r *http.Request, status int, contentType string, body []byte) *http.Response {
	return &http.Response{
		StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {contentType}}, Body: io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)), Request: r,
	}
}

// FuzzTokenRefreshAnswer: whatever Google's token endpoint answers to a
// refresh, decoded by x/oauth2, a call does not panic and asks once; a
// refused grant (invalid_grant) makes the link RelinkRequired, with a
// Reason fit to show (valid UTF-8, no control characters, bounded) and no
// further token request; any other failure leaves the link as it was and
// is classified by its HTTP status; a success saves the new token.
func FuzzTokenRefreshAnswer(f *testing.F) {
	for _, s := range []struct {
		status      int
		contentType string
		body        string
	}{
		{200, "application/json", `{"access_token": "ya29.new", "expires_in": 3599, "token_type": "Bearer"}`},
		{400, "application/json", `{"error": "invalid_grant", "error_description": "Token has been expired or revoked."}`},
		{400, "application/json", `{"error": "invalid_grant", "error_description": "\u001b[31mred\u202e\ud800 ` + strings.Repeat("long ", 60) + `"}`},
		{200, "application/json", `{"error": "invalid_grant"}`},
		{401, "application/json", `{"error": "invalid_client", "error_description": "The OAuth client was not found."}`},
		{400, "application/json", `{"error": "invalid_request"}`},
		{429, "application/json", `{"error": "rate_limit_exceeded"}`},
		{503, "text/html", `<html>Service Unavailable</html>`},
		{200, "application/x-www-form-urlencoded", `access_token=ya29.form&expires_in=60`},
		{400, "text/plain", `error=invalid_grant&error_description=revoked`},
		{200, "application/json", `{"access_token": ""}`},
		{200, "application/json", `{"access_token": "ya29.x", "expires_in": -5}`},
		{200, "application/json", `not json`},
		{302, "text/html", ``},
	} {
		f.Add(uint16(s.status), s.contentType, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, rawStatus uint16, contentType string, body []byte) {
		status := int(rawStatus)
		if status < 200 || status > 599 {
			status = 200 + status%400
		}
		asked := 0
		store := &gcal.MemoryStore{}
		c := fuzzClient(t, store, func(r *http.Request) *http.Response {
			asked++
			return jsonAnswer(r, status, contentType, body)
		})
		before, err := store.Save(t.Context(), gcal.Link{
			OrgID: org, Status: gcal.Linked,
			Token: &oauth2.Token{AccessToken: "ya29.old", RefreshToken: "1//refresh", Expiry: time.Now().Add(-time.Minute)},
		})
		require.NoError(t, err)

		from := time.Now()
		_, err = c.Busy(t.Context(), org, from, from.Add(time.Hour))
		require.Equal(t, 1, asked, "one token request")
		after, loadErr := store.Load(t.Context(), org)
		require.NoError(t, loadErr)

		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re) && re.ErrorCode == "invalid_grant", errors.Is(err, gcal.ErrRelinkRequired):
			require.ErrorIs(t, err, gcal.ErrRelinkRequired)
			require.Equal(t, safecall.Auth, safecall.ClassOf(err))
			require.Equal(t, gcal.RelinkRequired, after.Status)
			require.Nil(t, after.Token, "a refused grant is forgotten")
			require.True(t, utf8.ValidString(after.Reason), "%q", after.Reason)
			require.False(t, strings.ContainsFunc(after.Reason, unicode.IsControl), "%q", after.Reason)
			require.LessOrEqual(t, len(after.Reason), 400)
			_, err = c.Busy(t.Context(), org, from, from.Add(time.Hour))
			require.ErrorIs(t, err, gcal.ErrRelinkRequired)
			require.Equal(t, 1, asked, "a refused grant is never sent again")
		case err != nil:
			require.Equal(t, before, after, "a failed refresh changed the link")
			if re != nil {
				if want := safecall.ClassifyStatus(re.Response.StatusCode); want != safecall.Unknown {
					require.Equal(t, want, gcal.Classify(err), "HTTP %d, body %q", status, body)
				}
			}
			require.NotContains(t, err.Error(), "1//refresh")
		default:
			require.Less(t, status, 300)
			require.Equal(t, gcal.Linked, after.Status)
			require.Equal(t, before.Version+1, after.Version)
			require.NotEqual(t, "ya29.old", after.Token.AccessToken)
			require.NotEmpty(t, after.Token.AccessToken)
			require.Equal(t, "1//refresh", after.Token.RefreshToken, "the grant is kept")
		}
	})
}

// stateMAC signs a link state payload as the documentation of AuthURL
// says: with the key of WithStateKey.
func stateMAC(payload []byte) []byte {
	m := hmac.New(sha256.New, []byte(stateKeyV1))
	m.Write([]byte("gcal.state/v1\x00"))
	m.Write(payload)
	return m.Sum(nil)
}

// signedByStateKey reports whether state is a payload and its MAC under
// stateKeyV1, as Exchange decodes them.
func signedByStateKey(state string) (payload []byte, ok bool) {
	p64, m64, found := strings.Cut(state, ".")
	p, err1 := base64.RawURLEncoding.DecodeString(p64)
	m, err2 := base64.RawURLEncoding.DecodeString(m64)
	if !found || err1 != nil || err2 != nil {
		return nil, false
	}
	return p, hmac.Equal(m, stateMAC(p))
}

// statePayload is the payload of a link request for orgID issued at
// issued, expiring at expires.
func statePayload(orgID string, issued, expires time.Time) []byte {
	p := []byte{1}
	p = binary.BigEndian.AppendUint64(p, uint64(issued.UnixNano()))
	p = binary.BigEndian.AppendUint64(p, uint64(expires.UnixNano()))
	p = append(p, bytes.Repeat([]byte{7}, 16)...)
	return append(p, orgID...)
}

// FuzzExchangeState: whatever state and code reach the OAuth callback,
// Exchange does not panic; a state this service did not sign is
// ErrInvalidState, Permanent, and spends no code (no token request) and
// links nothing; a signed one is refused when expired, and otherwise
// links at most the organisation it names. With sign set, the fuzzer's
// payload is signed, so that the decoding after the signature is fuzzed
// too.
func FuzzExchangeState(f *testing.F) {
	now := time.Now()
	srv := gcaltest.NewServer(gcaltest.Options{InMemory: true})
	f.Cleanup(srv.Close)
	genuine := gcal.New(srv.OAuthConfig(redirect), &gcal.MemoryStore{},
		gcal.WithHTTPClient(srv.Client()), gcal.WithStateKey([]byte(stateKeyV1)))
	authURL, err := genuine.AuthURL(org)
	require.NoError(f, err)
	code, state, err := srv.Consent(f.Context(), authURL)
	require.NoError(f, err)
	payload, mac, _ := strings.Cut(state, ".")
	for _, s := range []string{
		state, payload, payload + ".", "." + mac, payload + "." + mac + "A", payload[:len(payload)-1] + "." + mac,
		payload + "." + mac[:len(mac)-1] + "B", payload + "\n." + mac, state + "." + mac, "", ".", "..", "%2E", "A.B",
	} {
		f.Add(s, code, []byte(nil), false)
	}
	for _, p := range [][]byte{
		statePayload(org, now, now.Add(time.Hour)),
		statePayload("", now, now.Add(time.Hour)),
		statePayload("org\x00\xff\n", now, now.Add(time.Hour)),
		statePayload(org, now, now.Add(-time.Second)),
		statePayload(org, time.Unix(0, -1), time.Unix(0, 1<<63-1)),
		append([]byte{2}, statePayload(org, now, now.Add(time.Hour))[1:]...),
		statePayload(org, now, now.Add(time.Hour))[:33],
		{},
	} {
		f.Add("", "a-code", p, true)
	}
	f.Fuzz(func(t *testing.T, state, code string, payload []byte, sign bool) {
		if sign {
			state = base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(stateMAC(payload))
		}
		store := &gcal.MemoryStore{}
		c := gcal.New(srv.OAuthConfig(redirect), store, gcal.WithHTTPClient(srv.Client()),
			gcal.WithStateKey([]byte(stateKeyV1)), gcal.WithCallOptions(safecall.WithRetries(0)))
		tokens := srv.Count(gcaltest.OpToken)
		link, err := c.Exchange(t.Context(), state, code)
		spent := srv.Count(gcaltest.OpToken) - tokens

		p, signed := signedByStateKey(state)
		if !signed || len(p) <= 33 || p[0] != 1 {
			require.ErrorIs(t, err, gcal.ErrInvalidState, "%q", state)
			require.Equal(t, safecall.Permanent, safecall.ClassOf(err))
			require.Zero(t, spent, "a code spent on a state we did not sign")
			_, err := store.Load(t.Context(), org)
			require.ErrorIs(t, err, gcal.ErrNotLinked)
			return
		}
		orgID := string(p[33:])
		expires := time.Unix(0, int64(binary.BigEndian.Uint64(p[9:17])))
		if !time.Now().Before(expires) {
			require.ErrorIs(t, err, gcal.ErrStateExpired)
			require.Zero(t, spent)
			return
		}
		require.LessOrEqual(t, spent, 1)
		if code == "" {
			require.ErrorIs(t, err, gcal.ErrInvalidState)
			require.Zero(t, spent, "no code, no request")
		}
		if err != nil {
			_, err := store.Load(t.Context(), orgID)
			require.ErrorIs(t, err, gcal.ErrNotLinked, "a failed exchange linked")
			return
		}
		require.Equal(t, orgID, link.OrgID)
		require.Equal(t, gcal.Linked, link.Status)
		require.Equal(t, 1, spent)
		stored, err := store.Load(t.Context(), orgID)
		require.NoError(t, err)
		require.Equal(t, link.Version, stored.Version)
		require.True(t, slices.Equal([]byte(orgID), p[33:]))
	})
}

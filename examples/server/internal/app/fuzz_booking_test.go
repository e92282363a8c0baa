package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/examples/server/internal/store"
)

// FuzzBookingBody sends any body to POST /api/appointments, as a signed-in
// clinic with a linked calendar, and checks what the strict reader and the
// whole handler make of it:
//   - nothing panics and nothing is answered 5xx: a body is refused with
//     400 (or 413), a JSON error that names its code and reads as a
//     sentence, the same refusal decodeStrict gives;
//   - an accepted body is one JSON object (nothing after it) whose keys
//     are the request's field names exactly, once each: no case variant
//     ("START") and no unknown key gets through;
//   - an accepted body round-trips: the request it decodes to, encoded
//     and read again, is the same request and asks for the same
//     appointment;
//   - a body that decodes and validates books (201) or finds its slot
//     taken (409); any other refusal is its validation's.
func FuzzBookingBody(f *testing.F) {
	for _, s := range []string{
		`{"start":"2099-01-15T09:00:00Z","patient":"Ada Lovelace","phone":"+15551234567"}`,
		`{"start":"2099-01-15T10:00:00+01:00","minutes":45,"patient":"Ada"}`,
		`{"start":"2099-01-15T09:00:00Z","patient":"Ada","phone":"+1 (555) 123-4567"}`,
		`{"START":"2099-01-15T09:00:00Z","patient":"Ada"}`,
		`{"Start":"2099-01-15T09:00:00Z","patient":"Ada"}`,
		`{"st\u0061rt":"2099-01-15T09:00:00Z","patient":"Ada"}`,
		`{"start":"2099-01-15T09:00:00Z","start":"2099-01-16T09:00:00Z","patient":"Ada"}`,
		`{"start":"2099-01-15T09:00:00Z","patient":"Ada","extra":1}`,
		`{"start":"2099-01-15T09:00:00Z","patient":"Ada"}{}`,
		`{"start":"2099-01-15T09:00:00Z","patient":"Ada"} x`,
		`{"start":"2099-01-15T09:00:00Z","patient":"Ada"}` + "\x00",
		`{"minutes":"30","patient":"Ada","start":"2099-01-15T09:00:00Z"}`,
		`{"minutes":1e400}`,
		`{"minutes":30.5,"patient":"Ada","start":"2099-01-15T09:00:00Z"}`,
		`{"patient":"\u0000","start":"2099-01-15T09:00:00Z"}`,
		`{"patient":"Ada","start":"2001-01-15T09:00:00Z"}`,
		`{"patient":"Ada","start":"tomorrow"}`,
		`{"patient":"Ada","start":"2099-01-15T09:00:00Z","phone":"555"}`,
		`{"patient":null,"start":null}`,
		`[]`, `null`, ``, `{`, `{}`, `"start"`, ` {"patient":"Ada"} `,
	} {
		f.Add([]byte(s))
	}
	h, token := bookingServer(f)
	var keys atomic.Int64
	f.Fuzz(func(t *testing.T, body []byte) {
		var req bookRequest
		decErr := decodeStrict(httptest.NewRecorder(), httptest.NewRequest("POST", "/api/appointments", bytes.NewReader(body)), &req)
		var want *badRequest
		if decErr != nil {
			require.ErrorAs(t, decErr, &want)
			require.Contains(t, []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge}, want.status)
		} else {
			requireStrictObject(t, body)
			requireRoundTrip(t, req)
			if _, err := req.parse(time.Now()); err != nil {
				require.ErrorAs(t, err, &want, "a validation error is a badRequest")
				require.NotEmpty(t, want.field, "a validation error names its field")
			}
		}

		key := "fuzz-" + strconv.FormatInt(keys.Add(1), 10)
		r := httptest.NewRequest("POST", "/api/appointments", bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		r.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		require.Less(t, rec.Code, 500, "never 5xx: %s", rec.Body)
		require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		if want == nil {
			require.Contains(t, []int{http.StatusCreated, http.StatusConflict}, rec.Code, "a valid booking books: %s", rec.Body)
			return
		}
		var got apiError
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got), rec.Body.String())
		require.Equal(t, want.status, rec.Code, rec.Body.String())
		require.Equal(t, want.code, got.Code)
		require.Equal(t, want.field, got.Field)
		requireSentence(t, got.Message)
	})
}

// requireStrictObject checks that an accepted body is one JSON object with
// nothing after it and that its keys are exactly field names of
// bookRequest, each once.
func requireStrictObject(t *testing.T, body []byte) {
	t.Helper()
	require.True(t, json.Valid(body), "an accepted body is valid JSON with nothing after it: %q", body)
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok, "an accepted body is an object")
	names := fieldNames(&bookRequest{})
	var seen []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		key := tok.(string)
		require.Contains(t, names, key, "an accepted key is a field name exactly")
		require.NotContains(t, seen, key, "an accepted key appears once")
		seen = append(seen, key)
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
	}
}

// requireRoundTrip checks that req, encoded and read again, is req, and
// that both ask for the same appointment.
func requireRoundTrip(t *testing.T, req bookRequest) {
	t.Helper()
	b, err := json.Marshal(req)
	require.NoError(t, err)
	var again bookRequest
	require.NoError(t, decodeStrict(httptest.NewRecorder(), httptest.NewRequest("POST", "/", bytes.NewReader(b)), &again), "%s", b)
	require.Equal(t, req, again)
	now := time.Now()
	a1, err1 := req.parse(now)
	a2, err2 := again.parse(now)
	require.Equal(t, err1, err2)
	require.Equal(t, a1, a2)
}

// requireSentence checks that an error message is one plain sentence: a
// capital letter first, a full stop last, printable, short.
func requireSentence(t *testing.T, msg string) {
	t.Helper()
	require.NotEmpty(t, msg)
	first, _ := utf8.DecodeRuneInString(msg)
	require.True(t, unicode.IsUpper(first), "starts with a capital: %q", msg)
	require.Contains(t, []byte(".?!"), msg[len(msg)-1], "ends a sentence: %q", msg)
}

// bookingServer is an App of the fuzz target's own: development mode,
// SQLite, the sandbox with no text lifecycle, a clinic signed up with its
// calendar linked. It returns the App's handler (the App is not Run: the
// handler needs no listener) and the clinic's token.
func bookingServer(f *testing.F) (http.Handler, string) {
	a, err := New(context.Background(), Config{
		Addr:           "127.0.0.1:0",
		DatabaseURL:    store.SQLiteDSN(filepath.Join(f.TempDir(), "fuzz.db")),
		JWTSecret:      []byte("fuzz-secret-of-sufficient-length-0123456789"),
		Dev:            true,
		SandboxOptions: sandbox.Options{NoSMSLifecycle: true},
	})
	require.NoError(f, err)
	f.Cleanup(func() { require.NoError(f, a.Close()) })
	token, err := a.DevToken("fuzz-clinic", "fuzz@clinic.example", "authenticated", 365*24*time.Hour)
	require.NoError(f, err)
	h := a.Handler()
	do := func(method, target, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, bytes.NewReader([]byte(body)))
		r.Header.Set("Authorization", "Bearer "+token)
		r.Header.Set("Accept", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	rec := do("PUT", "/api/clinic", `{"name":"Fuzz Clinic","phone":"+15550001111"}`)
	require.Equal(f, http.StatusOK, rec.Code, rec.Body.String())
	rec = do("GET", "/api/calendar/link", "")
	require.Equal(f, http.StatusOK, rec.Code, rec.Body.String())
	var link struct{ URL string }
	require.NoError(f, json.Unmarshal(rec.Body.Bytes(), &link))
	code, state, err := a.Sandbox().Calendar.Consent(context.Background(), link.URL)
	require.NoError(f, err)
	rec = do("GET", "/oauth/google/callback?"+url.Values{"code": {code}, "state": {state}}.Encode(), "")
	require.Equal(f, http.StatusOK, rec.Code, rec.Body.String())
	require.Contains(f, do("GET", "/api/calendar/status", "").Body.String(), `"linked"`)
	return h, token
}

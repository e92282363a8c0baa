package gcal_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/gcal/gcaltest"
	"github.com/voxanne/resilience/safecall"
)

// consent plays the clinic admin's browser: AuthURL, then Google's
// consent page; it returns the state and code the callback receives.
func (e *env) consent(client *gcal.Client, orgID string) (state, code string) {
	e.t.Helper()
	authURL, err := client.AuthURL(orgID)
	require.NoError(e.t, err)
	code, state, err = e.srv.Consent(context.Background(), authURL)
	require.NoError(e.t, err)
	return state, code
}

func TestAuthURL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		raw, err := e.client.AuthURL(org)
		require.NoError(t, err)
		u, err := url.Parse(raw)
		require.NoError(t, err)
		assert.Equal(t, e.srv.AuthURL(), u.Scheme+"://"+u.Host+u.Path)
		q := u.Query()
		assert.Equal(t, "offline", q.Get("access_type"))
		assert.Equal(t, "consent", q.Get("prompt"))
		assert.Equal(t, "S256", q.Get("code_challenge_method"))
		assert.Len(t, q.Get("code_challenge"), 43)
		assert.Equal(t, redirect, q.Get("redirect_uri"))
		assert.Equal(t, "code", q.Get("response_type"))
		assert.NotEmpty(t, q.Get("state"))

		again, err := e.client.AuthURL(org)
		require.NoError(t, err)
		u2, _ := url.Parse(again)
		assert.NotEqual(t, q.Get("state"), u2.Query().Get("state"), "a nonce per request")
		assert.NotEqual(t, q.Get("code_challenge"), u2.Query().Get("code_challenge"))
	})
}

// TestExchangeOnAnotherInstance: the callback lands on an instance other
// than the one that made the URL; the shared key is all it needs.
func TestExchangeOnAnotherInstance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		state, code := e.consent(e.client, org)
		other := e.newClient(e.store)

		l, err := other.Exchange(t.Context(), state, code)
		require.NoError(t, err)
		assert.Equal(t, gcal.Linked, l.Status)
		assert.Equal(t, org, l.OrgID)
		assert.NotEmpty(t, l.Token.RefreshToken)
		assert.Equal(t, int64(1), l.Version)
		assert.Equal(t, l, e.stored(org))
		assert.Equal(t, []gcal.AuditEvent{gcal.AuditSaved, gcal.AuditLoaded, gcal.AuditLinked}, e.audit.events(org))

		_, err = e.client.Book(t.Context(), org, booking("a"))
		require.NoError(t, err)
	})
}

func TestExchangeRefusesBadState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		state, code := e.consent(e.client, org)
		payload, mac, _ := strings.Cut(state, ".")
		flip := func(s string, i int) string {
			b := []byte(s)
			b[i] ^= 1
			return string(b)
		}
		otherKey := e.newClient(e.store, gcal.WithStateKey([]byte("another key of at least 32 bytes!!")))
		otherState, _ := e.consent(otherKey, "clinic-2")
		otherPayload, _, _ := strings.Cut(otherState, ".")

		for name, bad := range map[string]string{
			"empty":            "",
			"no signature":     payload,
			"tampered payload": flip(payload, len(payload)-1),
			"tampered mac":     payload + "." + flip(mac, 3),
			"other payload":    otherPayload + "." + mac,
			"other key":        otherState,
			"not base64":       "!!!." + mac,
		} {
			_, err := e.client.Exchange(t.Context(), bad, code)
			require.ErrorIs(t, err, gcal.ErrInvalidState, name)
			assert.Equal(t, safecall.Permanent, safecall.ClassOf(err), name)
		}
		assert.Zero(t, e.srv.Count(gcaltest.OpToken), "no code is spent on a bad state")
		_, err := e.store.Load(t.Context(), org)
		require.ErrorIs(t, err, gcal.ErrNotLinked)

		_, err = e.client.Exchange(t.Context(), state, code)
		require.NoError(t, err, "the genuine state still works")
	})
}

func TestExchangeRefusesExpiredState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		state, code := e.consent(e.client, org)
		time.Sleep(gcal.DefaultStateTTL)

		_, err := e.client.Exchange(t.Context(), state, code)
		require.ErrorIs(t, err, gcal.ErrStateExpired)
		assert.Equal(t, safecall.Permanent, safecall.ClassOf(err))
		assert.Zero(t, e.srv.Count(gcaltest.OpToken))
		assert.Equal(t, []gcal.AuditEvent{gcal.AuditRefused}, e.audit.events(org))

		short := e.newClient(e.store, gcal.WithStateTTL(time.Minute))
		state, code = e.consent(short, org)
		time.Sleep(time.Minute - time.Nanosecond)
		_, err = short.Exchange(t.Context(), state, code)
		require.NoError(t, err)
	})
}

// TestExchangeRefusesReusedState: a state links once, on any instance, and
// a request older than the link in place is refused too.
func TestExchangeRefusesReusedState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		older, olderCode := e.consent(e.client, org)
		time.Sleep(time.Second)
		used, err := e.client.AuthURL(org)
		require.NoError(t, err)
		code, state, err := e.srv.Consent(t.Context(), used)
		require.NoError(t, err)
		time.Sleep(time.Second)
		authURL, err := e.client.AuthURL(org) // made, not yet completed
		require.NoError(t, err)

		linked, err := e.client.Exchange(t.Context(), state, code)
		require.NoError(t, err)

		// The same state with a fresh code from the same consent URL, on
		// another instance.
		code2, _, err := e.srv.Consent(t.Context(), used)
		require.NoError(t, err)
		_, err = e.newClient(e.store).Exchange(t.Context(), state, code2)
		require.ErrorIs(t, err, gcal.ErrStateUsed)
		assert.Equal(t, safecall.Permanent, safecall.ClassOf(err))

		_, err = e.client.Exchange(t.Context(), older, olderCode)
		require.ErrorIs(t, err, gcal.ErrStateUsed, "older than the link in place")
		assert.Equal(t, linked, e.stored(org), "the link is untouched")
		assert.Equal(t, 1, e.srv.Count(gcaltest.OpToken), "no code spent on a used state")

		code3, state3, err := e.srv.Consent(t.Context(), authURL)
		require.NoError(t, err)
		_, err = e.client.Exchange(t.Context(), state3, code3)
		require.NoError(t, err, "a newer request replaces the link")
	})
}

func TestExchangeWithoutRefreshToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.srv.IssueToken(account) // the account consented before
		authURL, err := e.client.AuthURL(org)
		require.NoError(t, err)
		u, _ := url.Parse(authURL)
		q := u.Query()
		q.Del("prompt") // Google then issues no new refresh token
		u.RawQuery = q.Encode()
		code, state, err := e.srv.Consent(t.Context(), u.String())
		require.NoError(t, err)

		_, err = e.client.Exchange(t.Context(), state, code)
		require.ErrorIs(t, err, gcal.ErrNoRefreshToken)
		_, err = e.store.Load(t.Context(), org)
		require.ErrorIs(t, err, gcal.ErrNotLinked, "a link that would die within the hour is not saved")
	})
}

func TestExchangeRefusedCode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		state, code := e.consent(e.client, org)
		_, err := e.client.Exchange(t.Context(), state, code+"x")
		require.Error(t, err)
		assert.Equal(t, safecall.Auth, safecall.ClassOf(err))
		assert.Equal(t, 1, e.srv.Count(gcaltest.OpToken), "a code exchange is not retried")
		assert.Contains(t, e.audit.events(org), gcal.AuditRefused)
	})
}

// TestExchangeLostAnswerNotRetried: the code may have been redeemed, so a
// lost answer is final.
func TestExchangeLostAnswerNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		state, code := e.consent(e.client, org)
		e.srv.Fail(gcaltest.Fault{Op: gcaltest.OpToken, Status: 503})
		_, err := e.client.Exchange(t.Context(), state, code)
		require.Error(t, err)
		assert.Equal(t, 1, e.srv.Count(gcaltest.OpToken))
	})
}

func TestConsentDenied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.srv.Fail(gcaltest.Fault{Op: gcaltest.OpConsent, Reason: "access_denied"})
		authURL, err := e.client.AuthURL(org)
		require.NoError(t, err)
		_, state, err := e.srv.Consent(t.Context(), authURL)
		var ce *gcaltest.ConsentError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "access_denied", ce.Code)
		assert.NotEmpty(t, state, "the state comes back with the error")
	})
}

// TestExchangeReadsBack: a store that loses the write makes Exchange fail.
func TestExchangeReadsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		lossy := &storeFunc{TokenStore: e.store, save: func(_ context.Context, l gcal.Link) (gcal.Link, error) {
			l.Version++
			return l, nil // claims success, stores nothing
		}}
		client := e.newClient(lossy)
		state, code := e.consent(client, org)
		_, err := client.Exchange(t.Context(), state, code)
		require.Error(t, err)
		assert.NotEqual(t, safecall.Permanent, safecall.ClassOf(err))
	})
}

func TestRelinkKeepsCalendar(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		l := e.link(org)
		l.CalendarID = "front-desk@clinic.example"
		_, err := e.store.Save(t.Context(), l)
		require.NoError(t, err)
		state, code := e.consent(e.client, org)
		got, err := e.client.Exchange(t.Context(), state, code)
		require.NoError(t, err)
		assert.Equal(t, "front-desk@clinic.example", got.CalendarID)
		assert.Equal(t, int64(3), got.Version)
		assert.Contains(t, e.audit.events(org), gcal.AuditRelinked)
	})
}

func TestNoStateKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		for name, client := range map[string]*gcal.Client{
			"none":  gcal.New(e.srv.OAuthConfig(redirect), e.store),
			"short": gcal.New(e.srv.OAuthConfig(redirect), e.store, gcal.WithStateKey([]byte("short"))),
		} {
			_, err := client.AuthURL(org)
			require.ErrorIs(t, err, gcal.ErrNoStateKey, name)
			_, err = client.Exchange(t.Context(), "s", "c")
			require.ErrorIs(t, err, gcal.ErrNoStateKey, name)
		}
		_, err := e.client.AuthURL("")
		require.Error(t, err)
	})
}

func TestUnlink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		l := e.link(org)
		require.NoError(t, e.client.Unlink(t.Context(), org))

		stored := e.stored(org)
		assert.Equal(t, gcal.NotLinked, stored.Status)
		assert.Nil(t, stored.Token)
		assert.Equal(t, 1, e.srv.Count(gcaltest.OpRevoke))
		status, err := e.client.Status(t.Context(), org)
		require.NoError(t, err)
		assert.Equal(t, gcal.NotLinked, status)
		_, err = e.client.Book(t.Context(), org, booking("a"))
		require.ErrorIs(t, err, gcal.ErrNotLinked)
		assert.Contains(t, e.audit.events(org), gcal.AuditUnlinked)

		require.NoError(t, e.client.Unlink(t.Context(), org), "idempotent")
		require.NoError(t, e.client.Unlink(t.Context(), "never-linked"))
		assert.Equal(t, 1, e.srv.Count(gcaltest.OpRevoke))

		// The grant is gone at Google: its refresh token is refused.
		e.link("clinic-2")
		l2 := e.stored("clinic-2")
		l2.Token.RefreshToken = l.Token.RefreshToken
		l2.Token.Expiry = time.Now()
		_, err = e.store.Save(t.Context(), l2)
		require.NoError(t, err)
		_, err = e.client.Book(t.Context(), "clinic-2", booking("b"))
		require.ErrorIs(t, err, gcal.ErrRelinkRequired)
	})
}

func TestUnlinkWithoutRevocation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.link(org)
		client := e.newClient(e.store, gcal.WithRevokeURL(""))
		require.NoError(t, client.Unlink(t.Context(), org))
		assert.Zero(t, e.srv.Count(gcaltest.OpRevoke))
		assert.Equal(t, gcal.NotLinked, e.stored(org).Status)
	})
}

func TestStateTTLOption(t *testing.T) {
	for name, tt := range map[string]struct {
		opt gcal.Option
		ttl time.Duration
	}{
		"one minute":      {gcal.WithStateTTL(time.Minute), time.Minute},
		"zero is default": {gcal.WithStateTTL(0), gcal.DefaultStateTTL},
		"negative":        {gcal.WithStateTTL(-time.Minute), gcal.DefaultStateTTL},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				client := e.newClient(e.store, tt.opt)
				state, code := e.consent(client, org)
				time.Sleep(tt.ttl - time.Nanosecond)
				late, lateCode := e.consent(client, org) // completed after the first
				_, err := client.Exchange(t.Context(), state, code)
				require.NoError(t, err, "just in time")
				time.Sleep(tt.ttl)
				_, err = client.Exchange(t.Context(), late, lateCode)
				require.ErrorIs(t, err, gcal.ErrStateExpired, "at its TTL")
			})
		})
	}
}

// TestAutoDetectAuthStyleOneRequest: with x/oauth2's auto-detected
// client authentication a refused refresh would be sent twice (header, then
// body); the Client sends Google's style at once.
func TestAutoDetectAuthStyleOneRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		l := e.link(org)
		cfg := e.srv.OAuthConfig(redirect)
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleAutoDetect
		client := gcal.New(cfg, e.store, gcal.WithEndpoint(e.srv.URL()), gcal.WithHTTPClient(e.srv.Client()))
		e.srv.Revoke(l.Token.RefreshToken)
		time.Sleep(time.Hour)
		_, err := client.Book(t.Context(), org, booking("a"))
		require.ErrorIs(t, err, gcal.ErrRelinkRequired)
		assert.Equal(t, 1, e.srv.Count(gcaltest.OpToken))
		assert.Equal(t, oauth2.AuthStyleAutoDetect, cfg.Endpoint.AuthStyle, "the caller's config is not changed")
	})
}

func TestUnlinkRevocationOutcomeAudited(t *testing.T) {
	for name, tt := range map[string]struct {
		fault  *gcaltest.Fault
		detail string
	}{
		"revoked":        {nil, "tokens forgotten; grant revoked at Google"},
		"already gone":   {&gcaltest.Fault{Op: gcaltest.OpRevoke, Status: 400, Reason: "invalid_token"}, "tokens forgotten; grant revoked at Google"},
		"revoke down":    {&gcaltest.Fault{Op: gcaltest.OpRevoke, Status: 503}, "tokens forgotten; revocation at Google failed"},
		"connection cut": {&gcaltest.Fault{Op: gcaltest.OpRevoke, Drop: true}, "tokens forgotten; revocation at Google failed"},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				e.link(org)
				if tt.fault != nil {
					e.srv.Fail(*tt.fault)
				}
				require.NoError(t, e.client.Unlink(t.Context(), org), "the tokens are gone either way")
				assert.Equal(t, gcal.NotLinked, e.stored(org).Status)
				entries := e.audit.all()
				last := entries[len(entries)-1]
				assert.Equal(t, gcal.AuditUnlinked, last.Event)
				assert.Equal(t, tt.detail, last.Detail)
			})
		})
	}
}

// forgeState signs payload with the test's state key, in the format of
// AuthURL: base64url(payload) "." base64url(HMAC-SHA256(key, purpose 0 payload)).
func forgeState(payload []byte) string {
	m := hmac.New(sha256.New, []byte(stateKeyV1))
	m.Write([]byte("gcal.state/v1\x00"))
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TestExchangeRefusesMalformedSignedState: even a state signed with the
// right key is refused when its payload is not one AuthURL makes.
func TestExchangeRefusesMalformedSignedState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		state, code := e.consent(e.client, org)
		p64, _, _ := strings.Cut(state, ".")
		good, err := base64.RawURLEncoding.DecodeString(p64)
		require.NoError(t, err)
		_, err = e.client.Exchange(t.Context(), forgeState(good), code)
		require.NoError(t, err, "the forger reproduces the genuine signature")

		otherVersion := bytes.Clone(good)
		otherVersion[0] = 2
		for name, p := range map[string][]byte{
			"no organisation": good[:33],
			"short":           good[:20],
			"empty":           {},
			"other version":   otherVersion,
		} {
			_, err := e.client.Exchange(t.Context(), forgeState(p), code)
			require.ErrorIs(t, err, gcal.ErrInvalidState, name)
		}
	})
}

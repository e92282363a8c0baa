package twilioguard_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/health"
	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

func TestNewRefusesABadConfigNamingTheField(t *testing.T) {
	good := twilioguard.Config{
		AccountSID: twiliotest.DefaultAccountSID,
		AuthToken:  twiliotest.DefaultAuthToken,
		From:       clinic,
	}
	tests := []struct {
		field string
		edit  func(*twilioguard.Config)
	}{
		{"AccountSID", func(c *twilioguard.Config) { c.AccountSID = "" }},
		{"AccountSID", func(c *twilioguard.Config) { c.AccountSID = "SK00000000000000000000000000000001" }},
		{"AuthToken", func(c *twilioguard.Config) { c.AuthToken = "" }},
		{"AuthToken", func(c *twilioguard.Config) { c.AuthToken = "has spaces" }},
		{"From", func(c *twilioguard.Config) { c.From = "" }},
		{"From", func(c *twilioguard.Config) { c.From = "555-1234" }},
		{"MessagingServiceSID", func(c *twilioguard.Config) { c.MessagingServiceSID = "MG123" }},
		{"StatusCallback", func(c *twilioguard.Config) { c.StatusCallback = "/twilio/status" }},
		{"StatusCallback", func(c *twilioguard.Config) { c.StatusCallback = "https://x.example/#frag" }},
		{"BaseURL", func(c *twilioguard.Config) { c.BaseURL = "ftp://twilio" }},
	}
	for _, tt := range tests {
		cfg := good
		tt.edit(&cfg)
		g, err := twilioguard.New(cfg)
		assert.Nil(t, g)
		var ce *twilioguard.ConfigError
		require.ErrorAs(t, err, &ce, tt.field)
		assert.Equal(t, tt.field, ce.Field)
		assert.True(t, strings.HasPrefix(err.Error(), "twilioguard: Config."+tt.field+": "), err.Error())
		assert.NotContains(t, err.Error(), twiliotest.DefaultAuthToken)
	}

	svc := good
	svc.From, svc.MessagingServiceSID = "", "MG00000000000000000000000000000001"
	_, err := twilioguard.New(svc)
	require.NoError(t, err, "a Messaging Service needs no From")
	_, err = twilioguard.New(good)
	require.NoError(t, err)
}

func TestMessagingServiceSendsWithoutFrom(t *testing.T) {
	e := newEnv(t)
	e.cfg.From, e.cfg.MessagingServiceSID = "", "MG00000000000000000000000000000001"
	g := e.newGuard()
	e.fake.Script(e.cfg.MessagingServiceSID, twiliotest.Fault{Accept: true, Status: 502})
	d, err := g.Send(t.Context(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	e.requireOneMessage(d)
	assert.Equal(t, twilioguard.Accepted, d.Status)
	assert.Empty(t, d.From)
	m := e.fake.Messages()[0]
	assert.Equal(t, e.cfg.MessagingServiceSID, m.MessagingServiceSID)
	assert.Equal(t, []twilioguard.AuditEvent{attempt, lost, reconciled}, e.audit.events("appt-1"))
}

func TestBaseURLWithAPathPrefix(t *testing.T) {
	fake := twiliotest.NewServer()
	t.Cleanup(fake.Close)
	proxy := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if !strings.HasPrefix(r.URL.Path, "/twilio/") {
			return nil, errors.New("missing prefix " + r.URL.Path)
		}
		out := r.Clone(r.Context())
		out.URL.Path = strings.TrimPrefix(r.URL.Path, "/twilio")
		return fake.Client().Transport.RoundTrip(out)
	})}
	g, err := twilioguard.New(twilioguard.Config{
		AccountSID: fake.AccountSID, AuthToken: fake.AuthToken, From: clinic,
		BaseURL: "https://egress.internal/twilio/",
	}, twilioguard.WithHTTPClient(proxy))
	require.NoError(t, err)
	d, err := g.Send(context.Background(), msg("org-1", "appt-1"))
	require.NoError(t, err)
	assert.NotEmpty(t, d.SID)
}

func TestMask(t *testing.T) {
	assert.Equal(t, "+1******4567", twilioguard.Mask("+15551234567"))
	assert.Equal(t, "+4*******3456", twilioguard.Mask("+447911123456"))
	assert.Equal(t, "+4**4567", twilioguard.Mask("+4914567"))
	assert.Equal(t, "*******", twilioguard.Mask("+123456"))
	assert.Equal(t, "***********", twilioguard.Mask("15551234567"))
	assert.Equal(t, "*", twilioguard.Mask(""))
}

func TestValidateE164(t *testing.T) {
	for _, ok := range []string{"+15551234567", "+4479111234", "+1234567", "+123456789012345"} {
		assert.NoError(t, twilioguard.ValidateE164(ok), ok)
	}
	for _, bad := range []string{"", "+", "15551234567", "+0123456789", "+123456", "+1234567890123456", "+1 555 123", "+1555123456a"} {
		err := twilioguard.ValidateE164(bad)
		assert.ErrorIs(t, err, twilioguard.ErrInvalidNumber, bad)
		if len(bad) > 4 {
			assert.NotContains(t, err.Error(), bad[1:])
		}
	}
}

// Out-of-range option values keep the defaults.
func TestOptionsOutOfRangeKeepDefaults(t *testing.T) {
	store := &flakyStore{}
	e := newEnv(t, twilioguard.WithStore(store), twilioguard.WithConcurrency(0), twilioguard.WithLease(0),
		twilioguard.WithFailureThreshold(0), twilioguard.WithFailureThreshold(1.5), twilioguard.WithClock(nil))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res := e.guard.SendBatch(ctx, []twilioguard.Message{msg("org-1", "a"), msg("org-1", "b")})
	for _, r := range res {
		require.NoError(t, r.Err, "a batch with concurrency 0 would never send")
	}
	require.NotEmpty(t, store.created)
	c := store.created[0]
	assert.Equal(t, twilioguard.DefaultLease, c.LeaseUntil.Sub(c.CreatedAt))

	for i := range 8 {
		_, err := e.guard.Send(t.Context(), msg("org-1", fmt.Sprint("ok-", i)))
		require.NoError(t, err)
	}
	for i := range 3 { // 3 of 13: 23%, above the default 20%
		m := msg("org-1", fmt.Sprint("bad-", i))
		m.To = twiliotest.ToBlocked
		_, _ = e.guard.Send(t.Context(), m)
	}
	assert.Equal(t, health.Degraded, e.guard.Check("SMS").Func(t.Context()).Status)
}

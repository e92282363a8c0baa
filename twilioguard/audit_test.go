package twilioguard_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

func logLine(e twilioguard.AuditEntry) string {
	var b bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	l.Info("x", slog.Any("sms", e))
	return strings.TrimSpace(b.String())
}

func TestAuditEntryLogsOnlyWhatItHas(t *testing.T) {
	assert.Equal(t, `{"level":"INFO","msg":"x","sms":{"org":"o","key":"k","to":"+1******4567"}}`,
		logLine(twilioguard.AuditEntry{OrgID: "o", Key: "k", To: "+1******4567"}))
	assert.Equal(t, `{"level":"INFO","msg":"x","sms":{"org":"o","key":"k","event":"lost","to":"+1******4567",`+
		`"attempt":2,"class":"temporary","code":20500,"http_status":500,"sid":"SM1","status":"queued"}}`,
		logLine(twilioguard.AuditEntry{At: time.Now(), OrgID: "o", Key: "k", Event: twilioguard.EventLost,
			To: "+1******4567", Attempt: 2, Class: "temporary", Code: 20500, HTTPStatus: 500, SID: "SM1",
			Status: twilioguard.Queued}))
}

// An audit sink gets every entry without a logger, and a logger logs
// every entry without a sink.
func TestAuditNeedsOnlyASinkOrALogger(t *testing.T) {
	fake := twiliotest.NewServer()
	t.Cleanup(fake.Close)
	cfg := twilioguard.Config{AccountSID: fake.AccountSID, AuthToken: fake.AuthToken, From: clinic, BaseURL: fake.URL}
	send := func(opts ...twilioguard.Option) {
		g, err := twilioguard.New(cfg, opts...)
		require.NoError(t, err)
		t.Cleanup(g.CloseIdleConnections)
		_, err = g.Send(t.Context(), msg("org-1", "appt-1"))
		require.NoError(t, err)
	}

	sink := &auditLog{}
	send(twilioguard.WithAudit(sink))
	assert.Equal(t, []twilioguard.AuditEvent{attempt, accepted}, sink.events("appt-1"))

	var logs syncBuffer
	send(twilioguard.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	assert.Contains(t, logs.String(), `"msg":"twilioguard: attempt"`)
	assert.Contains(t, logs.String(), `"msg":"twilioguard: accepted"`)
}

package sandbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/option"

	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/safecall"
	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

func TestClinicIdentities(t *testing.T) {
	a, b := "0b9d2c3e-1111-4a5b-9c2d-000000000001", "0b9d2c3e-1111-4a5b-9c2d-000000000002"
	require.NoError(t, twilioguard.ValidateE164(sandbox.Sender(a)))
	assert.Equal(t, sandbox.Sender(a), sandbox.Sender(a), "stable")
	assert.NotEqual(t, sandbox.Sender(a), sandbox.Sender(b))
	assert.Equal(t, "clinic-"+a+"@sandbox.example", sandbox.Account(a))
}

func TestScriptIsPerClinic(t *testing.T) {
	sb := sandbox.Start(sandbox.Options{NoSMSLifecycle: true})
	defer sb.Close()
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, sb.Calendar.Client())
	list := func(org string) error {
		tok := sb.Calendar.IssueToken(sandbox.Account(org))
		svc, err := calendar.NewService(ctx, option.WithEndpoint(sb.Calendar.URL()),
			option.WithHTTPClient(oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok))))
		require.NoError(t, err)
		_, err = svc.Events.List("primary").Do()
		return err
	}
	guard, err := twilioguard.New(twilioguard.Config{AccountSID: sb.SMS.AccountSID, AuthToken: sb.SMS.AuthToken,
		From: twiliotest.FromValid, BaseURL: sb.SMS.URL}, twilioguard.WithCallOptions(safecall.WithRetries(0)))
	require.NoError(t, err)
	send := func(org string) error {
		_, err := guard.Send(t.Context(), twilioguard.Message{OrgID: org + time.Now().String(), Key: "k", To: "+15551234567",
			From: sandbox.Sender(org), Body: "hi"})
		return err
	}

	require.NoError(t, sb.Script("a", sandbox.Fault{Vendor: sandbox.Calendar, Kind: sandbox.Outage}))
	require.NoError(t, sb.Script("a", sandbox.Fault{Vendor: sandbox.SMS, Kind: sandbox.Outage}))
	require.NoError(t, sb.Script("b", sandbox.Fault{Vendor: sandbox.Calendar, Kind: sandbox.RateLimit, Times: 1}))
	assert.Error(t, list("a"))
	assert.Error(t, list("a"), "until cleared")
	assert.Error(t, send("a"))
	assert.NoError(t, send("b"), "b's texts are untouched")
	assert.NoError(t, list("c"), "c is untouched")

	require.NoError(t, sb.Script("a", sandbox.Fault{Vendor: sandbox.Calendar, Kind: sandbox.Clear}))
	require.NoError(t, sb.Script("a", sandbox.Fault{Vendor: sandbox.SMS, Kind: sandbox.Clear}))
	assert.NoError(t, list("a"))
	assert.NoError(t, send("a"))
	assert.Error(t, list("b"), "b's fault stays after a's clear")
	assert.NoError(t, list("b"), "spent")

	require.NoError(t, sb.Script("a", sandbox.Fault{Vendor: sandbox.Calendar, Kind: sandbox.Outage, Times: 1}))
	assert.Error(t, list("a"))
	assert.NoError(t, list("a"), "Times bounds it")

	for _, f := range []sandbox.Fault{{Vendor: "fax", Kind: sandbox.Outage}, {Vendor: sandbox.Calendar, Kind: "flood"}, {Vendor: sandbox.SMS, Kind: "flood"}} {
		assert.ErrorIs(t, sb.Script("a", f), sandbox.ErrUnknownFault)
	}
}

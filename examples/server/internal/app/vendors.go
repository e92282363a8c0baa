package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/endpoints"
	"google.golang.org/api/calendar/v3"

	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/safecall"
	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

// vendors builds the Google Calendar client and the Twilio guard, pointed
// at the real vendors when configured and at the sandbox otherwise.
func (a *App) vendors() error {
	realGoogle, realTwilio := a.cfg.Google.ClientID != "", a.cfg.Twilio.AccountSID != ""
	if (!realGoogle || !realTwilio) && a.sandbox == nil {
		a.sandbox = a.cfg.Sandbox
		if a.sandbox == nil {
			a.sandbox, a.ownSandbox = sandbox.Start(a.cfg.SandboxOptions), true
		}
	}

	redirect := a.cfg.Google.RedirectURL
	if redirect == "" {
		redirect = a.url + "/oauth/google/callback"
	}
	calOpts := []gcal.Option{
		gcal.WithBreakers(a.calBreakers),
		gcal.WithStateKey(a.stateKey()),
		gcal.WithAudit(linkAudit{next: a.links, m: a.metrics}),
		gcal.WithLogger(a.log.With("vendor", "calendar")),
		gcal.WithCallOptions(append([]safecall.Option{a.metrics.onRetry("calendar")}, a.cfg.CallOptions...)...),
	}
	var oauthCfg *oauth2.Config
	if realGoogle {
		oauthCfg = &oauth2.Config{
			ClientID: a.cfg.Google.ClientID, ClientSecret: a.cfg.Google.ClientSecret,
			Endpoint: endpoints.Google, RedirectURL: redirect, Scopes: []string{calendar.CalendarEventsScope},
		}
		calOpts = append(calOpts, gcal.WithHTTPClient(&http.Client{
			Transport: a.metrics.transport("calendar", http.DefaultTransport), Timeout: gcal.DefaultHTTPTimeout}))
	} else {
		oauthCfg = a.sandbox.Calendar.OAuthConfig(redirect)
		calOpts = append(calOpts, gcal.WithEndpoint(a.sandbox.Calendar.URL()), gcal.WithHTTPClient(&http.Client{
			Transport: a.metrics.transport("calendar", a.sandbox.Calendar.Client().Transport), Timeout: gcal.DefaultHTTPTimeout}))
	}
	a.calendar = gcal.New(oauthCfg, a.links, calOpts...)

	tw := twilioguard.Config{
		AccountSID: a.cfg.Twilio.AccountSID, AuthToken: a.cfg.Twilio.AuthToken,
		From: a.cfg.Twilio.From, MessagingServiceSID: a.cfg.Twilio.MessagingServiceSID,
		StatusCallback: a.url + "/api/sms/status",
	}
	inner := http.DefaultTransport
	if !realTwilio {
		tw = twilioguard.Config{
			AccountSID: a.sandbox.SMS.AccountSID, AuthToken: a.sandbox.SMS.AuthToken,
			From: twiliotest.FromValid, StatusCallback: tw.StatusCallback, BaseURL: a.sandbox.SMS.URL,
		}
		inner = a.sandbox.SMS.Client().Transport
	}
	guard, err := twilioguard.New(tw,
		twilioguard.WithHTTPClient(&http.Client{Transport: a.metrics.transport("sms", inner), Timeout: twilioguard.DefaultTimeout}),
		twilioguard.WithBreakers(a.smsBreakers),
		twilioguard.WithStore(a.deliveries),
		twilioguard.WithAudit(smsAudit{next: a.deliveries, a: a}),
		twilioguard.WithClock(a.now),
		twilioguard.WithLogger(a.log.With("vendor", "sms")),
		twilioguard.WithCallOptions(append([]safecall.Option{a.metrics.onRetry("sms")}, a.cfg.CallOptions...)...),
	)
	var ce *twilioguard.ConfigError
	if errors.As(err, &ce) {
		return fmt.Errorf("%s: %s", twilioSetting[ce.Field], ce.Reason)
	}
	if err != nil {
		return err
	}
	a.sms = guard
	return nil
}

// twilioSetting names the setting of each field of twilioguard.Config.
var twilioSetting = map[string]string{
	"AccountSID":          "TWILIO_ACCOUNT_SID",
	"AuthToken":           "TWILIO_AUTH_TOKEN",
	"From":                "TWILIO_FROM",
	"MessagingServiceSID": "TWILIO_MESSAGING_SERVICE_SID",
	"StatusCallback":      "PUBLIC_URL",
	"BaseURL":             "TWILIO_BASE_URL",
}

// sender is the number org's texts are sent from: the clinic's own if it
// has one, its sandbox number in the sandbox, else the account's.
func (a *App) sender(org, own string) string {
	switch {
	case own != "":
		return own
	case a.cfg.Twilio.AccountSID == "":
		return sandbox.Sender(org)
	}
	return ""
}

// linkAudit records gcal's credential accesses in the links store and
// counts token refreshes.
type linkAudit struct {
	next gcal.AuditSink
	m    *metrics
}

func (l linkAudit) Audit(ctx context.Context, e gcal.AuditEntry) error {
	switch e.Event {
	case gcal.AuditRefreshed:
		l.m.tokenRefreshes.WithLabelValues("refreshed").Inc()
	case gcal.AuditRefused:
		l.m.tokenRefreshes.WithLabelValues("refused").Inc()
	}
	return l.next.Audit(ctx, e)
}

// smsAudit records twilioguard's audit trail and counts texts by status
// and their time to delivery.
type smsAudit struct {
	next twilioguard.AuditSink
	a    *App
}

func (s smsAudit) Audit(ctx context.Context, e twilioguard.AuditEntry) error {
	err := s.next.Audit(ctx, e)
	switch e.Event {
	case twilioguard.EventAccepted, twilioguard.EventReconciled, twilioguard.EventRejected, twilioguard.EventStatus:
		if e.Status != "" {
			s.a.metrics.smsStatus.WithLabelValues(string(e.Status)).Inc()
		}
	}
	if e.Event == twilioguard.EventStatus && e.Status == twilioguard.Delivered {
		if d, derr := s.a.deliveries.Get(ctx, e.OrgID, e.Key); derr == nil && !d.CreatedAt.IsZero() {
			s.a.metrics.smsDelivery.Observe(max(e.At.Sub(d.CreatedAt), 0).Seconds())
		}
	}
	return err
}

// callTimeout bounds the vendor calls of one request.
func (a *App) callTimeout() time.Duration { return a.cfg.CallTimeout }

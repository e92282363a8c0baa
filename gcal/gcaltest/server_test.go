package gcaltest_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/voxanne/resilience/gcal/gcaltest"
)

const account = gcaltest.DefaultAccount

// fixture is a server with a Calendar service authorised as account.
type fixture struct {
	srv *gcaltest.Server
	svc *calendar.Service
	tok *oauth2.Token
}

func newFixture(t *testing.T, opts gcaltest.Options) *fixture {
	t.Helper()
	srv := gcaltest.NewServer(opts)
	t.Cleanup(srv.Close)
	tok := srv.IssueToken(account)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	hc := srv.OAuthConfig("https://app.example/cb").Client(ctx, tok)
	svc, err := calendar.NewService(ctx, option.WithEndpoint(srv.URL()), option.WithHTTPClient(hc))
	require.NoError(t, err)
	return &fixture{srv: srv, svc: svc, tok: tok}
}

func event(id string, start time.Time, d time.Duration) *calendar.Event {
	return &calendar.Event{
		Id:      id,
		Summary: "Check-up",
		Start:   &calendar.EventDateTime{DateTime: start.Format(time.RFC3339)},
		End:     &calendar.EventDateTime{DateTime: start.Add(d).Format(time.RFC3339)},
	}
}

// googleErr returns the *googleapi.Error in err.
func googleErr(t *testing.T, err error) *googleapi.Error {
	t.Helper()
	var ge *googleapi.Error
	require.ErrorAs(t, err, &ge)
	return ge
}

var day = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func TestEventsLifeCycle(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	ev, err := f.svc.Events.Insert("primary", event("booking00001", day.Add(9*time.Hour), time.Hour)).Do()
	require.NoError(t, err)
	assert.Equal(t, "booking00001", ev.Id)
	assert.Equal(t, "confirmed", ev.Status)
	assert.Equal(t, account, ev.Organizer.Email)
	assert.NotEmpty(t, ev.HtmlLink)

	_, err = f.svc.Events.Insert("primary", event("booking00001", day, time.Hour)).Do()
	ge := googleErr(t, err)
	assert.Equal(t, http.StatusConflict, ge.Code)
	assert.Equal(t, "duplicate", ge.Errors[0].Reason)
	assert.Equal(t, "The requested identifier already exists.", ge.Message)

	got, err := f.svc.Events.Get("primary", "booking00001").Do()
	require.NoError(t, err)
	assert.Equal(t, ev.Id, got.Id)

	require.NoError(t, f.svc.Events.Delete("primary", "booking00001").Do())
	err = f.svc.Events.Delete("primary", "booking00001").Do()
	assert.Equal(t, http.StatusGone, googleErr(t, err).Code)
	got, err = f.svc.Events.Get("primary", "booking00001").Do()
	require.NoError(t, err)
	assert.Equal(t, "cancelled", got.Status, "a deleted event stays readable")
	_, err = f.svc.Events.Insert("primary", event("booking00001", day, time.Hour)).Do()
	assert.Equal(t, http.StatusConflict, googleErr(t, err).Code, "its id stays taken")

	_, err = f.svc.Events.Get("primary", "nosuchevent").Do()
	ge = googleErr(t, err)
	assert.Equal(t, http.StatusNotFound, ge.Code)
	assert.Equal(t, "notFound", ge.Errors[0].Reason)
	err = f.svc.Events.Delete("primary", "nosuchevent").Do()
	assert.Equal(t, http.StatusNotFound, googleErr(t, err).Code)

	// "primary" is the account's calendar.
	assert.Len(t, f.srv.Events(account), 1)
	assert.Len(t, f.srv.Events("primary"), 1)
}

func TestInsertValidates(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	for name, tt := range map[string]struct {
		ev     *calendar.Event
		reason string
	}{
		"id too short":     {event("abcd", day, time.Hour), "invalid"},
		"id out of base32": {event("booking-0001", day, time.Hour), "invalid"},
		"id upper case":    {event("BOOKING00001", day, time.Hour), "invalid"},
		"no end":           {&calendar.Event{Start: &calendar.EventDateTime{DateTime: day.Format(time.RFC3339)}}, "required"},
		"empty range":      {event("", day, 0), "timeRangeEmpty"},
	} {
		_, err := f.svc.Events.Insert("primary", tt.ev).Do()
		ge := googleErr(t, err)
		assert.Equal(t, http.StatusBadRequest, ge.Code, name)
		assert.Equal(t, tt.reason, ge.Errors[0].Reason, name)
	}
	assert.Empty(t, f.srv.Events("primary"))

	ev, err := f.svc.Events.Insert("primary", event("", day, time.Hour)).Do()
	require.NoError(t, err)
	assert.Regexp(t, `^[a-v0-9]{26}$`, ev.Id, "the server picks an id")
}

func TestListEvents(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	for h := range 5 {
		_, err := f.svc.Events.Insert("primary", event("", day.Add(time.Duration(8+h)*time.Hour), time.Hour)).Do()
		require.NoError(t, err)
	}
	gone, err := f.svc.Events.Insert("primary", event("", day.Add(20*time.Hour), time.Hour)).Do()
	require.NoError(t, err)
	require.NoError(t, f.svc.Events.Delete("primary", gone.Id).Do())

	page, err := f.svc.Events.List("primary").TimeMin(day.Add(9 * time.Hour).Format(time.RFC3339)).
		TimeMax(day.Add(12 * time.Hour).Format(time.RFC3339)).MaxResults(2).Do()
	require.NoError(t, err)
	require.Len(t, page.Items, 2)
	assert.Equal(t, day.Add(9*time.Hour).Format(time.RFC3339), page.Items[0].Start.DateTime)
	require.NotEmpty(t, page.NextPageToken)
	next, err := f.svc.Events.List("primary").TimeMin(day.Add(9 * time.Hour).Format(time.RFC3339)).
		TimeMax(day.Add(12 * time.Hour).Format(time.RFC3339)).MaxResults(2).PageToken(page.NextPageToken).Do()
	require.NoError(t, err)
	assert.Len(t, next.Items, 1)
	assert.Empty(t, next.NextPageToken)

	all, err := f.svc.Events.List("primary").Do()
	require.NoError(t, err)
	assert.Len(t, all.Items, 5, "cancelled events only with showDeleted")
	all, err = f.svc.Events.List("primary").ShowDeleted(true).Do()
	require.NoError(t, err)
	assert.Len(t, all.Items, 6)
}

func TestFreeBusy(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	f.srv.AddEvent("primary", event("", day.Add(9*time.Hour), time.Hour))
	f.srv.AddEvent("primary", event("", day.Add(16*time.Hour), 2*time.Hour))
	free := event("", day.Add(12*time.Hour), time.Hour)
	free.Transparency = "transparent"
	f.srv.AddEvent("primary", free)
	f.srv.AddEvent("other@clinic.example", event("", day.Add(10*time.Hour), time.Hour))

	resp, err := f.svc.Freebusy.Query(&calendar.FreeBusyRequest{
		TimeMin: day.Add(8 * time.Hour).Format(time.RFC3339),
		TimeMax: day.Add(17 * time.Hour).Format(time.RFC3339),
		Items:   []*calendar.FreeBusyRequestItem{{Id: "primary"}, {Id: "other@clinic.example"}},
	}).Do()
	require.NoError(t, err)
	primary := resp.Calendars["primary"].Busy
	require.Len(t, primary, 2)
	assert.Equal(t, "2026-12-01T09:00:00Z", primary[0].Start)
	assert.Equal(t, "2026-12-01T17:00:00Z", primary[1].End, "clipped to the query")
	assert.Len(t, resp.Calendars["other@clinic.example"].Busy, 1)
}

func TestAccessTokens(t *testing.T) {
	now := day
	f := newFixture(t, gcaltest.Options{TokenLifetime: 10 * time.Minute, Now: func() time.Time { return now }})
	assert.Equal(t, int64(600), f.tok.ExpiresIn)
	assert.Equal(t, day.Add(10*time.Minute), f.tok.Expiry)

	// A request without a token, or with an expired one, is 401.
	plain, err := calendar.NewService(t.Context(), option.WithEndpoint(f.srv.URL()), option.WithHTTPClient(f.srv.Client()))
	require.NoError(t, err)
	_, err = plain.Events.List("primary").Do()
	ge := googleErr(t, err)
	assert.Equal(t, http.StatusUnauthorized, ge.Code)
	assert.Equal(t, "required", ge.Errors[0].Reason)

	call := plain.Events.List("primary")
	call.Header().Set("Authorization", "Bearer "+f.tok.AccessToken)
	_, err = call.Do()
	require.NoError(t, err)
	now = now.Add(10 * time.Minute)
	call = plain.Events.List("primary")
	call.Header().Set("Authorization", "Bearer "+f.tok.AccessToken)
	_, err = call.Do()
	ge = googleErr(t, err)
	assert.Equal(t, http.StatusUnauthorized, ge.Code)
	assert.Equal(t, "authError", ge.Errors[0].Reason)
	assert.Contains(t, ge.Header.Get("WWW-Authenticate"), "invalid_token")

	fresh := f.srv.IssueToken(account)
	f.srv.ExpireAccessTokens()
	call = plain.Events.List("primary")
	call.Header().Set("Authorization", "Bearer "+fresh.AccessToken)
	_, err = call.Do()
	assert.Equal(t, http.StatusUnauthorized, googleErr(t, err).Code)
}

func TestFaults(t *testing.T) {
	f := newFixture(t, gcaltest.Options{})
	insert := func(id string) error {
		_, err := f.svc.Events.Insert("primary", event(id, day, time.Hour)).Do()
		return err
	}
	f.srv.Fail(gcaltest.Fault{Status: 503, Times: 2})
	f.srv.Fail(gcaltest.Fault{Op: gcaltest.OpInsert, Status: 403, Reason: "rateLimitExceeded", RetryAfter: "30"})

	for range 2 {
		ge := googleErr(t, insert(""))
		assert.Equal(t, 503, ge.Code)
		assert.Equal(t, "backendError", ge.Errors[0].Reason)
	}
	ge := googleErr(t, insert(""))
	assert.Equal(t, 403, ge.Code)
	assert.Equal(t, "rateLimitExceeded", ge.Errors[0].Reason)
	assert.Equal(t, "30", ge.Header.Get("Retry-After"))
	require.NoError(t, insert(""))
	assert.Len(t, f.srv.Events("primary"), 1, "failed requests did nothing")

	// Commit then fail: the event exists, the client never heard.
	f.srv.Fail(gcaltest.Fault{Op: gcaltest.OpInsert, Status: 502, Commit: true})
	assert.Equal(t, 502, googleErr(t, insert("committed01")).Code)
	_, ok := f.srv.Event("primary", "committed01")
	assert.True(t, ok)

	f.srv.Fail(gcaltest.Fault{Op: gcaltest.OpInsert, Drop: true, Commit: true})
	err := insert("committed02")
	require.Error(t, err)
	var ue *url.Error
	assert.ErrorAs(t, err, &ue, "a dropped connection is a transport error")
	_, ok = f.srv.Event("primary", "committed02")
	assert.True(t, ok)

	f.srv.Fail(gcaltest.Fault{Op: gcaltest.OpList, Status: 500, Times: -1})
	for range 3 {
		_, err := f.svc.Events.List("primary").Do()
		assert.Equal(t, 500, googleErr(t, err).Code)
	}
	f.srv.ClearFaults()
	_, err = f.svc.Events.List("primary").Do()
	require.NoError(t, err)

	var faulted []int
	for _, r := range f.srv.Requests() {
		if r.Faulted {
			faulted = append(faulted, r.Status)
		}
	}
	assert.Equal(t, []int{503, 503, 403, 502, 0, 500, 500, 500}, faulted)
}

func TestInMemoryUnderSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, gcaltest.Options{InMemory: true})
		assert.True(t, strings.HasPrefix(f.srv.URL(), "http://gcaltest.invalid/"))
		f.srv.Fail(gcaltest.Fault{Op: gcaltest.OpInsert, Delay: 90 * time.Second})
		start := time.Now()
		_, err := f.svc.Events.Insert("primary", event("", day, time.Hour)).Do()
		require.NoError(t, err)
		assert.Equal(t, 90*time.Second, time.Since(start), "the delay runs on the bubble's clock")

		// The client gives up; the server stops waiting too.
		f.srv.Fail(gcaltest.Fault{Op: gcaltest.OpInsert, Delay: time.Hour})
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err = f.svc.Events.Insert("primary", event("", day, time.Hour)).Context(ctx).Do()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		synctest.Wait()
		assert.Len(t, f.srv.Events("primary"), 2, "the abandoned request was served when the client left")

		f.srv.Close()
		_, err = f.svc.Events.List("primary").Do()
		assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "a closed server refuses connections: %v", err)
	})
}

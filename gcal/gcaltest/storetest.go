package gcaltest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/voxanne/resilience/gcal"
)

// TestTokenStore checks that a gcal.TokenStore keeps the contract gcal
// relies on: Load of an unknown organisation is gcal.ErrNotLinked, links
// come back as saved, Save is a compare-and-swap on Version (also under
// concurrent Saves), and invalid links are refused. open returns an empty
// store; it is called once per subtest.
func TestTokenStore(t *testing.T, open func(t *testing.T) gcal.TokenStore) {
	t.Run("LoadUnknown", func(t *testing.T) {
		_, err := open(t).Load(t.Context(), "nobody")
		if !errors.Is(err, gcal.ErrNotLinked) {
			t.Fatalf("Load of an unknown org: got %v, want ErrNotLinked", err)
		}
	})
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("CompareAndSwap", func(t *testing.T) { testCompareAndSwap(t, open(t)) })
	t.Run("ConcurrentSaves", func(t *testing.T) { testConcurrentSaves(t, open(t)) })
	t.Run("Invalid", func(t *testing.T) { testInvalid(t, open(t)) })
}

func sampleLink(orgID string) gcal.Link {
	return gcal.Link{
		OrgID: orgID,
		Token: &oauth2.Token{
			AccessToken:  "ya29.access-" + orgID,
			TokenType:    "Bearer",
			RefreshToken: "1//refresh-" + orgID,
			Expiry:       time.Date(2026, 12, 1, 9, 30, 15, 123456789, time.UTC),
		},
		CalendarID: "front-desk@clinic.example",
		Status:     gcal.Linked,
		RequestID:  "0000018c2a3b4c5d0123456789abcdef0123456789abcdef",
	}
}

func testRoundTrip(t *testing.T, s gcal.TokenStore) {
	ctx := t.Context()
	links := []gcal.Link{
		sampleLink("clinic/ä 1"),
		{OrgID: "clinic-2", Status: gcal.RelinkRequired, Reason: "Google no longer accepts this link: «revoked». Link again."},
		{OrgID: "clinic-3", Status: gcal.NotLinked},
		{OrgID: "clinic-4", Status: gcal.Linked, Token: &oauth2.Token{AccessToken: "a", RefreshToken: "r"}},
	}
	for _, l := range links {
		saved, err := s.Save(ctx, l)
		if err != nil {
			t.Fatalf("Save %s: %v", l.OrgID, err)
		}
		if saved.Version != 1 || saved.UpdatedAt.IsZero() {
			t.Errorf("Save %s: version %d, updated %v; want 1 and a time", l.OrgID, saved.Version, saved.UpdatedAt)
		}
		got, err := s.Load(ctx, l.OrgID)
		if err != nil {
			t.Fatalf("Load %s: %v", l.OrgID, err)
		}
		want := l
		want.Version, want.UpdatedAt = saved.Version, saved.UpdatedAt
		if msg := diffLinks(got, want); msg != "" {
			t.Errorf("Load %s: %s", l.OrgID, msg)
		}
		if msg := diffLinks(saved, want); msg != "" {
			t.Errorf("Save %s returned: %s", l.OrgID, msg)
		}
	}
}

func testCompareAndSwap(t *testing.T, s gcal.TokenStore) {
	ctx := t.Context()
	v1, err := s.Save(ctx, sampleLink("org"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, sampleLink("org")); !errors.Is(err, gcal.ErrConflict) {
		t.Errorf("second Save at version 0: got %v, want ErrConflict", err)
	}
	next := v1
	next.Token = &oauth2.Token{AccessToken: "new", RefreshToken: "1//refresh-org", Expiry: v1.Token.Expiry.Add(time.Hour)}
	v2, err := s.Save(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	if v2.Version != 2 || v2.UpdatedAt.Before(v1.UpdatedAt) {
		t.Errorf("Save at version 1: version %d, updated %v after %v", v2.Version, v2.UpdatedAt, v1.UpdatedAt)
	}
	for _, stale := range []int64{1, 3, 7} {
		l := v1
		l.Version = stale
		l.Token = &oauth2.Token{AccessToken: "stale", RefreshToken: "r"}
		if _, err := s.Save(ctx, l); !errors.Is(err, gcal.ErrConflict) {
			t.Errorf("Save at version %d over 2: got %v, want ErrConflict", stale, err)
		}
	}
	got, err := s.Load(ctx, "org")
	if err != nil {
		t.Fatal(err)
	}
	if msg := diffLinks(got, v2); msg != "" {
		t.Errorf("after refused saves: %s", msg)
	}
	if _, err := s.Load(ctx, "other"); !errors.Is(err, gcal.ErrNotLinked) {
		t.Errorf("orgs are independent: Load other: %v", err)
	}
}

func testConcurrentSaves(t *testing.T, s gcal.TokenStore) {
	ctx := t.Context()
	base, err := s.Save(ctx, sampleLink("org"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			l := base
			l.Token = &oauth2.Token{AccessToken: "writer", RefreshToken: "r"}
			_, errs[i] = s.Save(ctx, l)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, gcal.ErrConflict):
			t.Errorf("concurrent Save: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent Saves at one version won; want 1", won, n)
	}
	got, err := s.Load(ctx, "org")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != base.Version+1 {
		t.Errorf("version %d after concurrent saves, want %d", got.Version, base.Version+1)
	}
}

func testInvalid(t *testing.T, s gcal.TokenStore) {
	ctx := context.Background()
	noRefresh := sampleLink("org")
	noRefresh.Token.RefreshToken = ""
	for name, l := range map[string]gcal.Link{
		"no org":           {Status: gcal.NotLinked},
		"unknown status":   {OrgID: "org", Status: "maybe"},
		"linked, no token": {OrgID: "org", Status: gcal.Linked},
		"no refresh token": noRefresh,
		"negative version": {OrgID: "org", Status: gcal.NotLinked, Version: -1},
	} {
		if _, err := s.Save(ctx, l); !errors.Is(err, gcal.ErrInvalidLink) {
			t.Errorf("Save %s: got %v, want ErrInvalidLink", name, err)
		}
	}
	if _, err := s.Load(ctx, "org"); !errors.Is(err, gcal.ErrNotLinked) {
		t.Errorf("an invalid link was stored: %v", err)
	}
}

// diffLinks describes how got differs from want, or returns "".
func diffLinks(got, want gcal.Link) string {
	switch {
	case got.OrgID != want.OrgID, got.CalendarID != want.CalendarID, got.Status != want.Status,
		got.Reason != want.Reason, got.RequestID != want.RequestID, got.Version != want.Version:
		return "got " + linkString(got) + ", want " + linkString(want)
	case !got.UpdatedAt.Equal(want.UpdatedAt):
		return "UpdatedAt " + got.UpdatedAt.String() + ", want " + want.UpdatedAt.String()
	case (got.Token == nil) != (want.Token == nil):
		return "token presence differs"
	case got.Token == nil:
		return ""
	case got.Token.AccessToken != want.Token.AccessToken, got.Token.RefreshToken != want.Token.RefreshToken,
		got.Token.TokenType != want.Token.TokenType:
		return "token differs"
	case !got.Token.Expiry.Equal(want.Token.Expiry):
		return "token expiry " + got.Token.Expiry.String() + ", want " + want.Token.Expiry.String()
	}
	return ""
}

// linkString shows the fields of l that are not secret.
func linkString(l gcal.Link) string {
	return "{" + l.OrgID + " " + string(l.Status) + " " + l.CalendarID + " " + l.Reason + " " + l.RequestID +
		" v" + strconv.FormatInt(l.Version, 10) + "}"
}

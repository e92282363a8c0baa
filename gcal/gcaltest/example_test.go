package gcaltest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/voxanne/resilience/gcal/gcaltest"
)

// The real Calendar SDK against the fake, with a scripted rate limit.
func Example() {
	srv := gcaltest.NewServer(gcaltest.Options{})
	defer srv.Close()

	// An OAuth client as the application has one, on the fake's endpoints.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	tok := srv.IssueToken("owner@clinic.example")
	hc := srv.OAuthConfig("https://app.example/oauth/callback").Client(ctx, tok)
	svc, err := calendar.NewService(ctx, option.WithEndpoint(srv.URL()), option.WithHTTPClient(hc))
	if err != nil {
		panic(err)
	}

	srv.Fail(gcaltest.Fault{Op: gcaltest.OpInsert, Status: 403, Reason: "rateLimitExceeded", RetryAfter: "5"})
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ev := &calendar.Event{
		Id:      "appointment0001",
		Summary: "Check-up",
		Start:   &calendar.EventDateTime{DateTime: start.Format(time.RFC3339)},
		End:     &calendar.EventDateTime{DateTime: start.Add(30 * time.Minute).Format(time.RFC3339)},
	}
	_, err = svc.Events.Insert("primary", ev).Do()
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		fmt.Println(ge.Code, ge.Errors[0].Reason, "retry after", ge.Header.Get("Retry-After"))
	}

	_, err = svc.Events.Insert("primary", ev).Do()
	fmt.Println("retry:", err)
	_, err = svc.Events.Insert("primary", ev).Do()
	if errors.As(err, &ge) {
		fmt.Println("again:", ge.Code, ge.Errors[0].Reason)
	}
	fmt.Println(len(srv.Events("primary")), "event,", srv.Count(gcaltest.OpInsert), "inserts")
	// Output:
	// 403 rateLimitExceeded retry after 5
	// retry: <nil>
	// again: 409 duplicate
	// 1 event, 3 inserts
}

// A booking whose answer is lost: Google created the event, the client saw
// a 503.
func ExampleFault_commit() {
	srv := gcaltest.NewServer(gcaltest.Options{})
	defer srv.Close()
	svc, err := calendar.NewService(context.Background(),
		option.WithEndpoint(srv.URL()), option.WithHTTPClient(srv.Client()))
	if err != nil {
		panic(err)
	}
	srv.Fail(gcaltest.Fault{Op: gcaltest.OpInsert, Commit: true, Status: 503})

	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	call := svc.Events.Insert("primary", &calendar.Event{
		Id:    "appointment0002",
		Start: &calendar.EventDateTime{DateTime: start.Format(time.RFC3339)},
		End:   &calendar.EventDateTime{DateTime: start.Add(time.Hour).Format(time.RFC3339)},
	})
	call.Header().Set("Authorization", "Bearer "+srv.IssueToken(gcaltest.DefaultAccount).AccessToken)
	_, err = call.Do()
	var ge *googleapi.Error
	errors.As(err, &ge)
	_, stored := srv.Event("primary", "appointment0002")
	fmt.Println(ge.Code, stored)
	// Output: 503 true
}

// Linking an account: the consent page approves, and the code is exchanged
// with its PKCE verifier.
func ExampleServer_Consent() {
	srv := gcaltest.NewServer(gcaltest.Options{})
	defer srv.Close()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	cfg := srv.OAuthConfig("https://app.example/oauth/callback")

	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("state-123", oauth2.AccessTypeOffline, oauth2.S256ChallengeOption(verifier))
	code, state, err := srv.Consent(ctx, authURL) // what the callback would receive
	if err != nil {
		panic(err)
	}
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	fmt.Println(state, tok.RefreshToken != "", err)

	srv.Revoke(tok.RefreshToken) // the user removes the app's access
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	errors.As(err, &re)
	fmt.Println(re.ErrorCode)
	// Output:
	// state-123 true <nil>
	// invalid_grant
}

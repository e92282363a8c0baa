package safecall_test

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

func ExampleCall() {
	ctx := context.Background()
	b := breaker.New(breaker.Settings{}) // usually breakers.Get(orgID)

	attempts := 0
	book := func(ctx context.Context) (string, error) {
		attempts++
		if attempts == 1 {
			return "", syscall.ECONNRESET // retried at once
		}
		return "event-123", nil
	}

	id, err := safecall.Call(ctx, "gcal.book", book,
		safecall.WithBreaker(b),
		safecall.WithOnRetry(func(ev safecall.RetryEvent) {
			fmt.Printf("%s: attempt %d failed (%s), retrying in %v\n", ev.Op, ev.Attempt, ev.Class, ev.Wait)
		}))
	fmt.Println(id, err)
	// Output:
	// gcal.book: attempt 1 failed (network), retrying in 0s
	// event-123 <nil>
}

func ExampleUserMessage() {
	ctx := context.Background()
	err := safecall.Run(ctx, "sms.send", func(ctx context.Context) error {
		return safecall.Mark(errors.New("twilio 21211: invalid 'To' phone number"), safecall.Permanent)
	})
	fmt.Println(safecall.UserMessage(err))

	err = safecall.Run(ctx, "sms.send", func(ctx context.Context) error {
		return safecall.Mark(errors.New("twilio 21211: invalid 'To' phone number"), safecall.Permanent)
	}, safecall.WithUserMessage(safecall.Permanent, "That number doesn't look right. Could you say it again?"))
	fmt.Println(safecall.UserMessage(err))
	// Output:
	// I wasn't able to complete that request. Could you check the details and try again?
	// That number doesn't look right. Could you say it again?
}

func ExampleRefresher() {
	ctx := context.Background()
	token := "expired"
	// One Refresher per credential, shared by every call that uses it.
	r := safecall.NewRefresher(func(ctx context.Context) error {
		token = "fresh" // exchange the refresh token here
		return nil
	})
	v, err := safecall.Call(ctx, "gcal.list", func(ctx context.Context) (string, error) {
		if token != "fresh" {
			return "", safecall.Mark(errors.New("401 Unauthorized"), safecall.Auth)
		}
		return "3 events", nil
	}, safecall.WithTokenRefresh(r.Refresh))
	fmt.Println(v, err)
	// Output:
	// 3 events <nil>
}

func ExampleError() {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := safecall.Call(ctx, "sms.send", func(ctx context.Context) (string, error) {
		return "", safecall.Mark(errors.New("queue full"), safecall.RateLimit)
	}) // the first wait (about 1s) would cross the deadline: give up at once

	var e *safecall.Error
	if errors.As(err, &e) {
		fmt.Println(e.Op, e.Class, e.Attempts)
	}
	fmt.Println(err)
	// Output:
	// sms.send rate-limit 1
	// safecall: sms.send: rate-limit: queue full
}

func ExampleMark() {
	ctx := context.Background()
	fast := safecall.WithBackoff(time.Millisecond, time.Millisecond) // keeps the example quick

	attempts := 0
	err := safecall.Run(ctx, "sms.send", func(ctx context.Context) error {
		attempts++
		return errors.New("invalid phone number") // Unknown: retried like Temporary
	}, fast)
	fmt.Println(attempts, safecall.ClassOf(err))

	attempts = 0
	err = safecall.Run(ctx, "sms.send", func(ctx context.Context) error {
		attempts++
		return safecall.Mark(errors.New("invalid phone number"), safecall.Permanent)
	}, fast)
	fmt.Println(attempts, safecall.ClassOf(err))
	// Output:
	// 4 unknown
	// 1 permanent
}

func ExampleWithBreaker() {
	ctx := context.Background()
	b := breaker.New(breaker.Settings{}) // opens after 3 failures in a row
	unavailable := func(ctx context.Context) error {
		return safecall.Mark(errors.New("503 Service Unavailable"), safecall.Temporary)
	}
	fast := safecall.WithBackoff(time.Millisecond, time.Millisecond) // keeps the example quick

	// One call whose attempts all fail opens the breaker at its third attempt.
	err := safecall.Run(ctx, "gcal.book", unavailable, safecall.WithBreaker(b), fast)
	var e *safecall.Error
	errors.As(err, &e)
	fmt.Println(e.Class, e.Attempts, b.State())

	// The next caller fails at once, without calling the vendor.
	err = safecall.Run(ctx, "gcal.book", unavailable, safecall.WithBreaker(b), fast)
	errors.As(err, &e)
	fmt.Println(e.Class, e.Attempts)
	fmt.Println(safecall.UserMessage(err))
	// Output:
	// circuit-open 3 open
	// circuit-open 0
	// That service is temporarily unavailable. Please try again in a few minutes.
}

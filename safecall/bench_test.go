package safecall_test

import (
	"context"
	"testing"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

// nopBreaker admits every call, with a done made once.
type nopBreaker struct{ done func(error) }

func (b *nopBreaker) Allow() (func(error), error) { return b.done, nil }

func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = safecall.Call(ctx, "op", fn)
		}
	})
	b.Run("nop-breaker", func(b *testing.B) {
		nb := &nopBreaker{done: func(error) {}}
		b.ReportAllocs()
		for b.Loop() {
			_, _ = safecall.Call(ctx, "op", fn, safecall.WithBreaker(nb))
		}
	})
	b.Run("breaker", func(b *testing.B) {
		br := breaker.New(breaker.Settings{})
		b.ReportAllocs()
		for b.Loop() {
			_, _ = safecall.Call(ctx, "op", fn, safecall.WithBreaker(br))
		}
	})
	b.Run("run", func(b *testing.B) {
		nb := &nopBreaker{done: func(error) {}}
		b.ReportAllocs()
		for b.Loop() {
			_ = safecall.Run(ctx, "op", func(context.Context) error { return nil }, safecall.WithBreaker(nb), safecall.WithRetries(2))
		}
	})
}

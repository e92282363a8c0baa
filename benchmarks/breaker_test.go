package benchmarks

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/eapache/go-resiliency/breaker"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/sony/gobreaker/v2"

	ours "github.com/voxanne/resilience/breaker"
)

func ok() (struct{}, error) { return struct{}{}, nil }

// allowLoop measures one successful call through br, closed.
func allowLoop(b *testing.B, br *ours.Breaker) {
	b.ReportAllocs()
	for b.Loop() {
		done, err := br.Allow()
		if err != nil {
			b.Fatal(err)
		}
		done(nil)
	}
}

// BenchmarkBreaker measures one successful call through a closed breaker.
func BenchmarkBreaker(b *testing.B) {
	b.Run("impl=resilience/api=allow", func(b *testing.B) {
		allowLoop(b, ours.New(ours.Settings{}))
	})
	b.Run("impl=resilience/api=do", func(b *testing.B) {
		br := ours.New(ours.Settings{})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ours.Do(br, ok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=gobreaker/api=execute", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Name: "bench"})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cb.Execute(ok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=gobreaker/api=allow", func(b *testing.B) {
		cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{Name: "bench"})
		b.ReportAllocs()
		for b.Loop() {
			done, err := cb.Allow()
			if err != nil {
				b.Fatal(err)
			}
			done(nil)
		}
	})
	b.Run("impl=failsafe/api=get", func(b *testing.B) {
		cb := circuitbreaker.NewBuilder[struct{}]().Build()
		ex := failsafe.With[struct{}](cb)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ex.Get(ok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=eapache/api=run", func(b *testing.B) {
		cb := breaker.New(3, 1, 30_000_000_000)
		b.ReportAllocs()
		for b.Loop() {
			if err := cb.Run(func() error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBreakerParallel is BenchmarkBreaker under b.RunParallel.
func BenchmarkBreakerParallel(b *testing.B) {
	b.Run("impl=resilience/api=allow", func(b *testing.B) {
		br := ours.New(ours.Settings{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				done, err := br.Allow()
				if err != nil {
					b.Error(err)
					return
				}
				done(nil)
			}
		})
	})
	b.Run("impl=gobreaker/api=execute", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Name: "bench"})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := cb.Execute(ok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("impl=failsafe/api=get", func(b *testing.B) {
		ex := failsafe.With[struct{}](circuitbreaker.NewBuilder[struct{}]().Build())
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := ex.Get(ok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("impl=eapache/api=run", func(b *testing.B) {
		cb := breaker.New(3, 1, 30_000_000_000)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := cb.Run(func() error { return nil }); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func tenantKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "org-" + strconv.Itoa(i)
	}
	return keys
}

// BenchmarkRegistryGet measures looking up an existing tenant's breaker.
func BenchmarkRegistryGet(b *testing.B) {
	keys := tenantKeys(4096)
	r := ours.NewRegistry[string](ours.Settings{})
	for _, k := range keys {
		r.Get(k)
	}
	b.Run("mode=serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r.Get(keys[i&4095])
			i++
		}
	})
	b.Run("mode=parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				r.Get(keys[i&4095])
				i++
			}
		})
	})
}

// BenchmarkRegistryMemory reports the heap bytes per tracked key with
// 1,000,000 keys (the key strings themselves are the caller's and not
// counted).
func BenchmarkRegistryMemory(b *testing.B) {
	const n = 1_000_000
	keys := tenantKeys(n)
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := ours.NewRegistry[string](ours.Settings{}, ours.WithMaxKeys(n))
		for _, k := range keys {
			r.Get(k)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if r.Len() != n {
			b.Fatalf("tracked %d keys, want %d", r.Len(), n)
		}
		perKey := float64(after.HeapAlloc-before.HeapAlloc) / n
		b.ReportMetric(perKey, "B/key")
		if perKey > 300 {
			b.Errorf("%.0f bytes per key, target 300", perKey)
		}
		runtime.KeepAlive(r)
	}
}

// BenchmarkRegistryChurn streams 10,000,000 distinct keys through a
// registry bounded to 10,000 and reports the most it ever tracked.
func BenchmarkRegistryChurn(b *testing.B) {
	const stream, bound = 10_000_000, 10_000
	var buf []byte
	for b.Loop() {
		r := ours.NewRegistry[string](ours.Settings{}, ours.WithMaxKeys(bound))
		most := 0
		for i := range stream {
			buf = strconv.AppendInt(append(buf[:0], "tenant-"...), int64(i), 10)
			r.Get(string(buf))
			most = max(most, r.Len())
		}
		b.ReportMetric(float64(most), "max-keys")
		if most > bound {
			b.Errorf("registry grew to %d keys, bound %d", most, bound)
		}
	}
}

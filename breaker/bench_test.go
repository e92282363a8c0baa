package breaker

import (
	"errors"
	"runtime"
	"strconv"
	"testing"
)

func BenchmarkAllowDone(b *testing.B) {
	br := New(Settings{})
	b.ReportAllocs()
	for b.Loop() {
		done, err := br.Allow()
		if err != nil {
			b.Fatal(err)
		}
		done(nil)
	}
}

func BenchmarkAllowDoneParallel(b *testing.B) {
	br := New(Settings{})
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
}

func BenchmarkRegistryGet(b *testing.B) {
	r := NewRegistry[string](Settings{})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "org-" + strconv.Itoa(i)
		r.Get(keys[i])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Get(keys[i&1023])
		i++
	}
}

func BenchmarkRegistryGetParallel(b *testing.B) {
	r := NewRegistry[string](Settings{})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "org-" + strconv.Itoa(i)
		r.Get(keys[i])
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.Get(keys[i&1023])
			i++
		}
	})
}

// BenchmarkRegistryMemory reports the heap cost of tracked keys.
func BenchmarkRegistryMemory(b *testing.B) {
	const n = 1_000_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "org-" + strconv.Itoa(i)
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := NewRegistry[string](Settings{}, WithMaxKeys(2*n))
		for _, k := range keys {
			r.Get(k)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if r.Len() != n {
			b.Fatal(r.Len())
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/key")
		runtime.KeepAlive(r)
	}
}

var errBench = errors.New("x")

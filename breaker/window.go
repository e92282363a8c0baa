package breaker

// window is a ring of the outcomes of the most recent calls, for the
// failure-ratio rule. It is guarded by its breaker's mutex.
type window struct {
	ring     []bool // true: failure
	next     int
	calls    int
	failures int
}

func newWindow(n int) *window { return &window{ring: make([]bool, n)} }

func (w *window) add(failed bool) {
	if w.calls == len(w.ring) {
		if w.ring[w.next] {
			w.failures--
		}
	} else {
		w.calls++
	}
	w.ring[w.next] = failed
	if failed {
		w.failures++
	}
	w.next++
	if w.next == len(w.ring) {
		w.next = 0
	}
}

func (w *window) reset() {
	clear(w.ring)
	w.next, w.calls, w.failures = 0, 0, 0
}

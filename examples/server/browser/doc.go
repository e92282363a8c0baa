// Package browser tests the reference server's status page in headless
// Chromium, driven by chromedp. It is a module of its own so that chromedp
// stays out of the resilience module's dependency graph, as the benchmarks
// module keeps the peer libraries out.
//
//	cd examples/server/browser && go test ./...
//
// The test needs Chromium (Debian's chromium; CHROMIUM names another
// binary) and is skipped without it, unless
// RESILIENCE_TEST_REQUIRE_BROWSER=1. It saves a screenshot of the page
// showing an outage to RESILIENCE_SCREENSHOT (default
// $TMPDIR/resilience-status-page.png) and prints the path.
package browser

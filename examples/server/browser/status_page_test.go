package browser

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/examples/server/internal/app"
	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/examples/server/internal/store"
	"github.com/voxanne/resilience/safecall"
)

// chromium finds the browser: CHROMIUM, or Debian's chromium.
func chromium(t *testing.T) string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("RESILIENCE_TEST_REQUIRE_BROWSER") == "1" {
		t.Fatal("no Chromium (apt-get install chromium, or set CHROMIUM) and RESILIENCE_TEST_REQUIRE_BROWSER=1")
	}
	t.Skip("no Chromium: apt-get install chromium, or set CHROMIUM")
	return ""
}

// browse starts headless Chromium with a fresh profile and every
// background service off (the machine may have no network), and returns a
// tab's context.
func browse(t *testing.T, path string) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	return ctx
}

// call sends a request to the server and returns its status and body.
func call(t *testing.T, method, url, token, body string, hdr ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestStatusPage opens the status page in headless Chromium: it renders
// the health of every integration, shows a clinic's calendar outage once
// one is scripted (with the advice and the open breaker), and writes no
// error to the console.
func TestStatusPage(t *testing.T) {
	path := chromium(t)
	ctx, stop := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Config{
		Addr:           "127.0.0.1:0",
		DatabaseURL:    store.SQLiteDSN(filepath.Join(t.TempDir(), "server.db")),
		Dev:            true,
		SandboxOptions: sandbox.Options{SMSStep: 50 * time.Millisecond},
		CallOptions:    []safecall.Option{safecall.WithBackoff(time.Millisecond, 2*time.Millisecond), safecall.WithJitter(0)},
	})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		stop()
		require.NoError(t, <-done)
	})
	base := a.URL()
	user, err := a.DevToken("clinic-user", "front-desk@sunrise.example", "authenticated", time.Hour)
	require.NoError(t, err)
	staff, err := a.DevToken("operator", "ops@example.com", app.DefaultStaffRole, time.Hour)
	require.NoError(t, err)

	// A clinic signs up, links its calendar and books: one text goes out.
	code, body := call(t, "PUT", base+"/api/clinic", user, `{"name":"Sunrise Dental","phone":"+15550001111"}`)
	require.Equal(t, http.StatusOK, code, body)
	code, body = call(t, "GET", base+"/api/calendar/link", user, "")
	require.Equal(t, http.StatusOK, code, body)
	start := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Hour).Format(time.RFC3339)
	code, body = call(t, "POST", base+"/api/appointments", user, `{"start":"`+start+`","patient":"Ada","phone":"+15551234567"}`, "Idempotency-Key", "call-1")
	require.Equal(t, http.StatusCreated, code, body)

	tab := browse(t, path)
	var mu sync.Mutex
	var console []chromedp.ConsoleMessage
	messages := chromedp.Console(tab)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, m)
			mu.Unlock()
		}
	}()

	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(base+"/#token="+staff)))
	waitFor(t, tab, `document.getElementById("overall").textContent === "healthy"`)
	waitFor(t, tab, `document.getElementById("deliveries").textContent.includes("+1******4567")`)
	hash, err := chromedp.Run(tab, chromedp.Evaluate[string](`location.hash`))
	require.NoError(t, err)
	assert.Empty(t, hash, "the token leaves the address bar")
	viewer, err := chromedp.Run(tab, chromedp.Text("#viewer"))
	require.NoError(t, err)
	assert.Equal(t, "operator view", viewer)
	rows, err := chromedp.Run(tab, chromedp.Text("#integrations"))
	require.NoError(t, err)
	for _, name := range []string{"Database", "Google Calendar", "Calendar circuit breakers", "Twilio SMS", "SMS circuit breakers"} {
		assert.Contains(t, rows, name)
	}

	// The clinic's calendar goes down: a booking fails calmly, its breaker opens.
	code, body = call(t, "POST", base+"/api/dev/faults", user, `{"vendor":"calendar","kind":"outage"}`)
	require.Equal(t, http.StatusAccepted, code, body)
	later := time.Now().UTC().Add(72 * time.Hour).Truncate(time.Hour).Format(time.RFC3339)
	code, body = call(t, "POST", base+"/api/appointments", user, `{"start":"`+later+`","patient":"Bea"}`, "Idempotency-Key", "call-2")
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	waitFor(t, tab, `document.getElementById("overall").textContent === "degraded" &&
		document.getElementById("open-breakers").textContent.includes("calendar")`)
	rows, err = chromedp.Run(tab, chromedp.Text("#integrations"))
	require.NoError(t, err)
	assert.Contains(t, rows, "reset a clinic's breaker", "the advice is shown")
	title, err := chromedp.Run(tab, chromedp.Title())
	require.NoError(t, err)
	assert.Equal(t, "Receptionist status: degraded", title)

	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.Greater(t, len(png), 1000)
	require.Equal(t, "\x89PNG", string(png[:4]))
	shot := os.Getenv("RESILIENCE_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(os.TempDir(), "resilience-status-page.png")
	}
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	fmt.Println("status page screenshot:", shot)
	t.Logf("status page screenshot: %s", shot)

	// The public view: no clinic, no texts.
	public := browse(t, path)
	require.NoError(t, chromedp.Do(public, chromedp.Navigate(base+"/")))
	waitFor(t, public, `document.getElementById("overall").textContent === "degraded"`)
	hidden, err := chromedp.Run(public, chromedp.Evaluate[bool](`document.getElementById("open-breakers-section").hidden &&
		document.getElementById("deliveries-section").hidden`))
	require.NoError(t, err)
	assert.True(t, hidden)

	mu.Lock()
	defer mu.Unlock()
	for _, m := range console {
		assert.NotContains(t, []chromedp.ConsoleType{chromedp.ConsoleError, chromedp.ConsoleException, chromedp.ConsoleWarning}, m.Type,
			"console: %s", m)
	}
}

// waitFor polls a JavaScript condition in the page for up to 10s.
func waitFor(t *testing.T, ctx context.Context, condition string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](condition, chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err, "waiting for %s", condition)
}

package health

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestRedact(t *testing.T) {
	tests := []struct{ name, in, want string }{
		// Texts with nothing to hide stay as they are.
		{"plain", "Google Calendar token expiring soon", "Google Calendar token expiring soon"},
		{"oauth2 prefix", `oauth2: cannot fetch token: 400 Bad Request`, `oauth2: cannot fetch token: 400 Bad Request`},
		{"time", "last success at 20:15:30, 3 failures", "last success at 20:15:30, 3 failures"},
		{"go names", "runtime error: index out of range [5] with length 3", "runtime error: index out of range [5] with length 3"},
		{"relation", `relation "appointments" does not exist (SQLSTATE 42P01)`, `relation "appointments" does not exist (SQLSTATE 42P01)`},
		{"localhost", "dial tcp localhost:5432: connect: connection refused", "dial tcp localhost:5432: connect: connection refused"},
		{"pkg::func", "panic in pkg::Func", "panic in pkg::Func"},
		{"glued to words", "x::1 g::1_ é::1 [::1]z 0[::1]", "x::1 g::1_ é::1 [::1]z 0[::1]"},
		{"word characters only", "0.0.0.0", "[ip]"},
		{"empty", "", ""},

		// Addresses and host names.
		{"ipv4 with port", "dial tcp 10.0.0.5:5432: connect: connection refused", "dial tcp [ip]:5432: connect: connection refused"},
		{"ipv6 in brackets", "dial tcp [fe80::1%eth0]:5432: i/o timeout", "dial tcp [ip]:5432: i/o timeout"},
		{"ipv6 bare", "no route to ::1 or 2001:db8::7", "no route to [ip] or [ip]"},
		{"host with port", "dial tcp db-1.prod.internal:5432: i/o timeout", "dial tcp [host]:5432: i/o timeout"},
		{"lookup", "dial tcp: lookup db.internal on [ip]:53: no such host", "dial tcp: lookup [host] on [ip]:53: no such host"},

		// Driver errors: user names, databases, DSNs.
		{"pgx connect", "failed to connect to `user=app database=clinic_acme`: 10.0.0.5:5432 (10.0.0.5): dial error: timeout",
			"failed to connect to `user=[redacted] database=[redacted]`: [ip]:5432 ([ip]): dial error: timeout"},
		{"pq auth", `pq: password authentication failed for user "alice"`, `pq: password authentication failed for user "[redacted]"`},
		{"role", `FATAL: role 'bob' does not exist`, `FATAL: role "[redacted]" does not exist`},
		{"mysql", `Error 1045: Access denied for user 'bob'@'10.0.0.5' (using password: YES)`,
			`Error 1045: Access denied for user "[redacted]"@'[ip]' (using password: [redacted])`},
		{"dsn", "cannot open host=db.internal port=5432 user=app password=s3cret dbname=clinic sslmode=disable",
			"cannot open host=[redacted] port=5432 user=[redacted] password=[redacted] dbname=[redacted] sslmode=disable"},
		{"mysql dsn", "bad dsn app:s3cret@tcp(db:3306)/clinic", "bad dsn [redacted]@tcp(db:3306)/clinic"},

		// URLs keep scheme, host and path.
		{"url with key", `Get "https://maps.example.com/v1/geo?key=AIzaSyD&q=clinic#frag": 403 Forbidden`,
			`Get "https://maps.example.com/v1/geo?key=[redacted]&q=[redacted]": 403 Forbidden`},
		{"url with user info", "connect postgres://app:s3cret@10.0.0.5:5432/clinic?sslmode=disable: refused",
			"connect postgres://[redacted]@[ip]:5432/clinic?sslmode=[redacted]: refused"},
		{"unparsable url", "dial http://[::1/x: bad", "dial [url]: bad"},
		{"url token in path", "POST https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json.",
			"POST https://api.twilio.com/2010-04-01/Accounts/[redacted]/Messages.json."},

		// Credentials and personal data.
		{"jwt", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl refused", "token [token] refused"},
		{"jwt without digits", "token eyJhbGciOiJub25lIn.eyJzdWIiOiJhIn. refused", "token [token] refused"},
		{"bearer", "sent Authorization: Bearer abc.def", "sent Authorization: [redacted]"},
		{"bearer alone", "bearer xyz rejected", "bearer [redacted] rejected"},
		{"lookup alone", "lookup db.internal failed", "lookup [host] failed"},
		{"api key header", "X-Api-Key: k-123 invalid", "X-Api-Key: [redacted] invalid"},
		{"json secret", `{"client_secret":"abc","name":"x"}`, `{"client_secret":[redacted],"name":"x"}`},
		{"email", "no calendar for dr.jones@clinic.example.org", "no calendar for [email]"},
		{"phone", "Twilio 21211: invalid To +15551234567", "Twilio 21211: invalid To [phone]"},
		{"phone alone", "+19999999999", "[phone]"},
		{"uuid", "org 123e4567-e89b-12d3-a456-426614174000 not found", "org [redacted] not found"},
		{"api key", "key sk_live_4eC39HqLyjWDarjtT1zdp7dc rejected", "key [redacted] rejected"},

		// Shape.
		{"control characters", "line one\nline two\ttab", "line one line two tab"},
		{"C1 control character", "line one\u0085line two", "line one line two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, redact(tt.in))
		})
	}
}

func TestRedactTruncates(t *testing.T) {
	long := strings.Repeat("é", 400) // two bytes each
	got := redact(long)
	assert.LessOrEqual(t, len(got), maxTextLen)
	assert.True(t, strings.HasSuffix(got, "…"), got)
	assert.True(t, strings.HasPrefix(long, strings.TrimSuffix(got, "…")))
	assert.True(t, utf8.ValidString(got), "cut on a rune boundary")

	// A text with nothing to redact is cut too.
	assert.Equal(t, strings.Repeat("ab ", 99)+"…", redact(strings.Repeat("ab ", 200)))

	exact := strings.Repeat("ab ", maxTextLen/3-1) + "1ab"
	assert.Len(t, exact, maxTextLen)
	assert.Equal(t, exact, redact(exact), "a text of maxTextLen bytes is kept whole")
	assert.Equal(t, exact[:maxTextLen-len("…")]+"…", redact(exact+"c"))
}

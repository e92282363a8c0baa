package twilioguard

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of a Message.
const (
	// MaxBody is Twilio's limit on a message body, in characters (not bytes).
	MaxBody = 1600
	// MaxKeyLen bounds OrgID and Key, in bytes, so that they fit any
	// database index.
	MaxKeyLen = 255
)

// Message is one SMS to send.
type Message struct {
	// OrgID is the tenant (clinic) the message is sent for; its breaker,
	// its audit trail. Required.
	OrgID string
	// Key identifies the message within the org, such as "appt-42/confirm":
	// one SMS per (OrgID, Key), ever. Required.
	Key string
	// To is the recipient's number in E.164 form; spaces, dashes, dots and
	// parentheses, which people type, are removed first.
	To string
	// From is the sender; "" means Config.From (or the Messaging Service).
	From string
	// Body is the text, at most MaxBody characters.
	Body string
}

// ValidateE164 returns nil if s is a phone number in E.164 form: '+', a
// digit from 1 to 9, then 6 to 14 digits. Otherwise it returns an error
// matching ErrInvalidNumber that does not repeat s.
func ValidateE164(s string) error {
	switch {
	case s == "":
		return invalid(ErrInvalidNumber, "empty")
	case s[0] != '+':
		return invalid(ErrInvalidNumber, "does not start with '+'")
	case len(s) < 8:
		return invalid(ErrInvalidNumber, "too short")
	case len(s) > 16:
		return invalid(ErrInvalidNumber, "too long")
	case s[1] == '0':
		return invalid(ErrInvalidNumber, "country code starts with 0")
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return invalid(ErrInvalidNumber, "not only digits after '+'")
		}
	}
	return nil
}

// normalizeNumber removes the spaces, dashes, dots and parentheses people
// type in phone numbers. It does not allocate when there are none.
func normalizeNumber(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '-', '.', '(', ')':
			return -1
		}
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// validate checks m and returns it normalized, with From filled from the
// configuration.
func (g *Guard) validate(m Message) (Message, error) {
	switch {
	case m.OrgID == "":
		return m, invalid(ErrInvalidMessage, "no OrgID")
	case m.Key == "":
		return m, invalid(ErrInvalidMessage, "no Key")
	case len(m.OrgID) > MaxKeyLen || len(m.Key) > MaxKeyLen:
		return m, invalid(ErrInvalidMessage, "OrgID or Key longer than 255 bytes")
	case !utf8.ValidString(m.Body):
		return m, invalid(ErrInvalidMessage, "body is not valid UTF-8")
	case strings.TrimSpace(m.Body) == "":
		return m, invalid(ErrInvalidMessage, "empty body")
	case utf8.RuneCountInString(m.Body) > MaxBody:
		return m, invalid(ErrInvalidMessage, "body longer than 1600 characters")
	}
	m.To = normalizeNumber(m.To)
	if err := ValidateE164(m.To); err != nil {
		return m, err
	}
	if m.From == "" {
		m.From = g.cfg.From
	} else {
		m.From = normalizeNumber(m.From)
		if err := ValidateE164(m.From); err != nil {
			return m, err
		}
	}
	return m, nil
}

// Mask hides the middle of a phone number for logs and audit entries,
// keeping the '+', the first digit and the last four: "+15551234567"
// becomes "+1******4567". Anything too short to keep a secret is masked
// whole.
func Mask(number string) string {
	n := len(number)
	if n < 8 || number[0] != '+' {
		return strings.Repeat("*", max(n, 1))
	}
	return number[:2] + strings.Repeat("*", n-6) + number[n-4:]
}

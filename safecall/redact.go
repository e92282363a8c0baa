package safecall

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// redacted replaces what the excerpt of a body must not show.
const redacted = "[redacted]"

// excerpt returns the start of a body, b, as StatusError.Body shows it: on
// one line, redacted, "" unless it is UTF-8 text. more says the body goes on
// after b (b may end inside a character or a word).
func excerpt(b []byte, more bool) string {
	if more {
		// Drop a character cut in the middle, at most UTFMax-1 bytes.
		for i := 1; i < utf8.UTFMax && len(b) > 0 && !utf8.Valid(b); i++ {
			b = b[:len(b)-1]
		}
	}
	if !utf8.Valid(b) {
		return ""
	}
	s := redact(string(b), more)
	if more && s != "" {
		s += "…"
	}
	return s
}

// sensitiveNames are parts of field names whose values are redacted, such
// as "access_token": "..." or password=....
var sensitiveNames = [...]string{
	"token", "secret", "passw", "pwd", "key", "auth", "bearer", "cookie",
	"session", "signature", "credential", "card",
}

// span is a run of word characters (word) or of other characters.
type span struct {
	s    string
	word bool
	red  bool
}

// redact returns s on one line (every run of spaces and unprintable
// characters becomes one space) with anything that looks like a secret or
// a personal detail replaced by "[redacted]":
//   - a word of 16 characters or more with a digit, or of 24 or more (keys,
//     tokens, JWTs, SIDs, UUIDs);
//   - a word with an '@' (e-mail addresses);
//   - 7 or more digits in a row, possibly split by spaces, dashes, dots,
//     parentheses or a leading '+' (phone and card numbers), unless it is
//     a date such as 2026-11-25, and a word with 7 digits in a row
//     (To=%2B15551234567);
//   - the value after a name containing token, secret, key, auth,
//     password, cookie, session, signature, credential or card, followed by
//     ':' or '=' ("api_key": "...", password=...); a quoted value is
//     redacted up to its closing quote;
//   - the word after "Bearer" or "Basic".
//
// A word is a run of letters, digits and -_.+/~%@ (which covers base64
// and URL-safe tokens). When cut is true, s was cut short and its last word
// (the start of a word that goes on) is dropped.
func redact(s string, cut bool) string {
	spans := split(oneLine(s))
	if cut && len(spans) > 0 && spans[len(spans)-1].word {
		spans = spans[:len(spans)-1]
	}
	markWords(spans)
	markValues(spans)
	markNumbers(spans)
	var b strings.Builder
	for i := 0; i < len(spans); i++ {
		if !spans[i].red {
			b.WriteString(spans[i].s)
			continue
		}
		b.WriteString(redacted)
		// One marker for a run of redacted spans and the spaces between them.
		for i+1 < len(spans) && (spans[i+1].red ||
			spans[i+1].s == " " && i+2 < len(spans) && spans[i+2].red) {
			i++
		}
	}
	return strings.TrimSpace(b.String())
}

// oneLine replaces every run of spaces and unprintable characters (line
// breaks, tabs, bidi controls) with one space.
func oneLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	if space {
		b.WriteByte(' ') // a word at the end is whole
	}
	return b.String()
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_.+/~%@", r)
}

// split cuts s into alternating word and non-word spans.
func split(s string) []span {
	var spans []span
	start := 0
	for i, r := range s {
		if w := isWordRune(r); i == 0 || w != spans[len(spans)-1].word {
			if i > 0 {
				spans[len(spans)-1].s = s[start:i]
			}
			spans = append(spans, span{word: w})
			start = i
		}
	}
	if len(spans) > 0 {
		spans[len(spans)-1].s = s[start:]
	}
	return spans
}

// markWords marks the words that look like secrets on their own.
func markWords(spans []span) {
	for i := range spans {
		sp := &spans[i]
		if !sp.word {
			continue
		}
		n := utf8.RuneCountInString(sp.s)
		hasDigit := strings.ContainsAny(sp.s, "0123456789")
		if n >= 24 || n >= 16 && hasDigit || strings.ContainsRune(sp.s, '@') || digitRun(sp.s) >= 7 {
			sp.red = true
		}
	}
}

// markValues marks the values of sensitive names and what follows Bearer or
// Basic.
func markValues(spans []span) {
	for i := 0; i+2 < len(spans); i++ {
		name, sep := spans[i], spans[i+1]
		if !name.word {
			continue
		}
		lower := strings.ToLower(name.s)
		if (lower == "bearer" || lower == "basic") && sep.s == " " {
			spans[i+2].red = true
			continue
		}
		if !sensitive(lower) || !strings.ContainsAny(sep.s, ":=") ||
			strings.Trim(sep.s, ` :="'`) != "" {
			continue
		}
		// A quoted value runs to the closing quote; another, to a separator
		// other than ':' or '=' (sid=42 in "Cookie: sid=42; lang=en").
		quote := sep.s[len(sep.s)-1]
		quoted := quote == '"' || quote == '\''
		for j := i + 2; j < len(spans); j++ {
			if sp := spans[j].s; !spans[j].word &&
				(quoted && strings.IndexByte(sp, quote) >= 0 || !quoted && strings.Trim(sp, ":=") != "") {
				break
			}
			spans[j].red = true
		}
	}
}

func sensitive(lower string) bool {
	for _, name := range sensitiveNames {
		if strings.Contains(lower, name) {
			return true
		}
	}
	return false
}

// markNumbers marks runs of 7 or more digits that may be split by spaces and
// parentheses between words made of digits, dashes, dots and '+'.
func markNumbers(spans []span) {
	for i := 0; i < len(spans); i++ {
		if !numeric(spans[i]) {
			continue
		}
		digits, end := countDigits(spans[i].s), i
		for j := i + 2; j < len(spans) && numeric(spans[j]) &&
			strings.Trim(spans[j-1].s, " ()") == ""; j += 2 {
			digits += countDigits(spans[j].s)
			end = j
		}
		if digits >= 7 && !(end == i && isDate(spans[i].s)) {
			for j := i; j <= end; j++ { // the words and what joins them
				spans[j].red = true
			}
		}
		i = end
	}
}

// numeric reports whether sp is a word of digits, dashes, dots and '+'
// with at least one digit.
func numeric(sp span) bool {
	return sp.word && strings.Trim(sp.s, "0123456789+-.") == "" && countDigits(sp.s) > 0
}

// digitRun returns the length of the longest run of ASCII digits in s.
func digitRun(s string) int {
	longest, n := 0, 0
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			n++
			longest = max(longest, n)
		} else {
			n = 0
		}
	}
	return longest
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			n++
		}
	}
	return n
}

// isDate reports whether s has the form 2026-11-25.
func isDate(s string) bool {
	if len(s) != len("2026-11-25") || s[4] != '-' || s[7] != '-' {
		return false
	}
	return countDigits(s) == 8
}

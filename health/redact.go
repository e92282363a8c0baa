package health

import (
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxTextLen bounds a redacted text, in bytes: a panic value or an error can
// be arbitrarily long, and a report line need not be.
const maxTextLen = 300

// The patterns of redact, compiled once and never modified.
var (
	urlPattern = regexp.MustCompile("(?i)\\b[a-z][a-z0-9+.-]*://[^\\s\"'<>`]+")
	// credentials written as user:password@ outside a URL (MySQL DSNs).
	userinfoPattern = regexp.MustCompile(`[^\s:@/"'(\x60]+:[^\s@/"'\x60]*@`)
	jwtPattern      = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?`)
	authPattern     = regexp.MustCompile(`(?i)\b(authorization\s*[:=]\s*)(?:[a-z]+\s+)?[^\s,;"'\x60]+|\b(bearer\s+)[^\s,;"'\x60]+`)
	// secret=value and secret: value for names that always hold secrets.
	secretPattern = regexp.MustCompile(`(?i)((?:^|[^a-z0-9_-])[a-z0-9_-]*(?:password|passwd|pwd|passphrase|secret|api[_-]?key|access[_-]?key|private[_-]?key|auth[_-]?token|access[_-]?token|refresh[_-]?token|id[_-]?token)["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s&,;"'\x60)]+)`)
	// name=value (and "name": value) for names that hold identities,
	// addresses and credentials in key=value texts such as DSNs.
	fieldPattern = regexp.MustCompile(`(?i)((?:^|[^a-z0-9_-])(?:user|username|usr|login|uid|role|host|hostname|server|addr|address|dbname|database|db|account|email|phone|key|token|auth|sig|signature|credentials?|session|cookie)(?:=|"\s*:\s*))("[^"]*"|'[^']*'|[^\s&,;"'\x60)]+)`)
	// quoted identities in driver errors: for user "alice", role 'bob'.
	identityPattern = regexp.MustCompile(`(?i)\b(user|role|login|database)(\s+)(?:"[^"]*"|'[^']*')`)
	emailPattern    = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)
	phonePattern    = regexp.MustCompile(`\+[1-9][0-9]{6,14}\b`)
	ipv4Pattern     = regexp.MustCompile(`\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b`)
	ipv6Pattern     = regexp.MustCompile(`\[?[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:%[A-Za-z0-9_.-]+)?\]?`)
	hostPortPattern = regexp.MustCompile(`(?i)\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z][a-z0-9-]*(:[0-9]{1,5})\b`)
	lookupPattern   = regexp.MustCompile(`(?i)\b(lookup\s+)[^\s:]+`)
	tokenPattern    = regexp.MustCompile(`[A-Za-z0-9_+=-]{20,}`)
)

// redact returns s fit for a health report, which leaves the process and
// may be read by anyone: an error's or a panic's text names user names,
// hosts and URLs with keys. It replaces, keeping the rest of the text:
//
//   - in URLs, the user info ([redacted]@), every query value ([redacted])
//     and the fragment; scheme, host and path stay;
//   - credentials: JWTs ([token]), Authorization and Bearer values,
//     values of secret names (password, secret, api_key, access_token,
//     ...) after = or :, and user:password@ prefixes;
//   - identities and addresses in key=value texts such as DSNs (user=,
//     host=, dbname=, key=, ...), quoted user, role and database names,
//     e-mail addresses ([email]) and E.164 phone numbers ([phone]);
//   - IP addresses ([ip]), host names given with a port ([host]:5432) or
//     looked up (lookup [host]);
//   - token-like runs of 20 or more letters and digits, such as API keys
//     and UUIDs ([redacted]).
//
// Control characters become spaces and the result is cut to maxTextLen
// bytes.
func redact(s string) string {
	if plain(s) {
		return truncate(s, maxTextLen)
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = urlPattern.ReplaceAllStringFunc(s, redactURL)
	s = userinfoPattern.ReplaceAllString(s, "[redacted]@")
	s = jwtPattern.ReplaceAllString(s, "[token]")
	s = authPattern.ReplaceAllString(s, "${1}${2}[redacted]")
	s = secretPattern.ReplaceAllString(s, "${1}[redacted]")
	s = fieldPattern.ReplaceAllString(s, "${1}[redacted]")
	s = identityPattern.ReplaceAllString(s, `${1}${2}"[redacted]"`)
	s = emailPattern.ReplaceAllString(s, "[email]")
	s = phonePattern.ReplaceAllString(s, "[phone]")
	s = ipv4Pattern.ReplaceAllString(s, "[ip]")
	s = replaceIPv6(s)
	s = hostPortPattern.ReplaceAllString(s, "[host]${1}")
	s = lookupPattern.ReplaceAllString(s, "${1}[host]")
	s = tokenPattern.ReplaceAllStringFunc(s, func(run string) string {
		if strings.ContainsAny(run, "0123456789") && strings.IndexFunc(run, unicode.IsLetter) >= 0 {
			return "[redacted]"
		}
		return run
	})
	return truncate(s, maxTextLen)
}

// plainBytes are the bytes that no pattern of redact needs: letters, space
// and punctuation other than @ = : " ' + (and no digits, which addresses,
// phone numbers and tokens have).
const plainBytes = " abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,;!?()[]{}<>/\\|-_*&^%$#~`"

// plain reports whether s has nothing redact replaces: only plain bytes,
// and none of the words that start a bearer token, a JWT or a host lookup.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(plainBytes, s[i]) < 0 {
			return false
		}
	}
	lower := strings.ToLower(s)
	return !strings.Contains(lower, "lookup") && !strings.Contains(lower, "bearer") && !strings.Contains(s, "eyJ")
}

// redactURL keeps the scheme, host and path of a URL, and the names of its
// query parameters.
func redactURL(raw string) string {
	trail := len(raw) - len(strings.TrimRight(raw, ".,;:)]}"))
	raw, tail := raw[:len(raw)-trail], raw[len(raw)-trail:]
	u, err := url.Parse(raw)
	if err != nil {
		return "[url]" + tail
	}
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteString("://")
	if u.User != nil {
		b.WriteString("[redacted]@")
	}
	b.WriteString(u.Host)
	b.WriteString(u.EscapedPath())
	if u.RawQuery != "" {
		for i, param := range strings.Split(u.RawQuery, "&") {
			if i == 0 {
				b.WriteByte('?')
			} else {
				b.WriteByte('&')
			}
			name, _, hasValue := strings.Cut(param, "=")
			b.WriteString(name)
			if hasValue {
				b.WriteString("=[redacted]")
			}
		}
	}
	b.WriteString(tail)
	return b.String()
}

// replaceIPv6 replaces IPv6 addresses, bare or in brackets, with [ip].
// Candidates are checked by netip and must stand alone, so that times such
// as 20:15:30 and names such as pkg::Func stay.
func replaceIPv6(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range ipv6Pattern.FindAllStringIndex(s, -1) {
		start, end := m[0], m[1]
		addr := strings.TrimSuffix(strings.TrimPrefix(s[start:end], "["), "]")
		before, _ := utf8.DecodeLastRuneInString(s[:start])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if _, err := netip.ParseAddr(addr); err != nil || wordRune(before) || wordRune(after) {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString("[ip]")
		last = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// wordRune reports whether r is a letter, a digit or '_'.
func wordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// truncate cuts s to at most n bytes on a rune boundary, marking the cut
// with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

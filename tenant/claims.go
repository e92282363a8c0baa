package tenant

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Causes of refused tokens, wrapped in a *TokenError.
var (
	errCrit          = errors.New("crit header names an extension that is not understood")
	errNoAlg         = errors.New("alg header missing")
	errDuplicate     = errors.New("duplicate member")
	errClaimType     = errors.New("claim of the wrong type")
	errDateType      = errors.New("date claim is not a number of seconds")
	errOrgClaimType  = errors.New("org claim is not a string")
	errControl       = errors.New("claim holds control characters or invalid UTF-8")
	errSubMissing    = errors.New("sub claim is required")
	errExpMissing    = errors.New("exp claim is required")
	errAudMissing    = errors.New("aud claim is required")
	errIssMissing    = errors.New("iss claim is required")
	errUsedEarly     = errors.New("iat claim is in the future")
	errNotBefore     = errors.New("nbf claim is in the future")
	errAlgNotAllowed = errors.New("alg not accepted")
	errBadSignature  = errors.New("signature does not match")
)

// maxDateSeconds bounds NumericDate values (about 285 million years), so
// that adding the leeway cannot overflow.
const maxDateSeconds = 1 << 53

// header is what verifiers read of a JWS protected header.
type header struct {
	alg string
	kid string
}

// parseHeader reads a JOSE header. A crit member is refused whatever it
// lists (RFC 7515 §4.1.11): no extension is understood.
func parseHeader(s string) (header, error) {
	var h header
	var seenAlg, seenKid bool
	r := jsonReader{s: s}
	if err := r.object(); err != nil {
		return h, err
	}
	for first := true; ; first = false {
		name, more, err := r.member(first)
		if err != nil {
			return h, err
		}
		if !more {
			break
		}
		raw, err := r.value()
		if err != nil {
			return h, err
		}
		switch name {
		case "alg":
			if seenAlg {
				return h, errDuplicate
			}
			seenAlg = true
			if h.alg, err = jsonString(raw); err != nil {
				return h, errClaimType
			}
		case "kid":
			if seenKid {
				return h, errDuplicate
			}
			seenKid = true
			if raw != "null" {
				if h.kid, err = jsonString(raw); err != nil {
					return h, errClaimType
				}
			}
		case "crit":
			return h, errCrit
		}
	}
	if err := r.end(); err != nil {
		return h, err
	}
	if h.alg == "" {
		return h, errNoAlg
	}
	return h, nil
}

// tokenClaims holds the claims read from a payload.
type tokenClaims struct {
	sub, email, role, iss, org string
	exp, nbf, iat              time.Time
	hasExp, hasNbf, hasIat     bool
	audSeen, audMatch          bool
	anonymous                  bool
	strayOrg                   string // where an org was found instead of the org claim
}

// Bits of the registered claims seen, to refuse duplicates.
const (
	seenSub = 1 << iota
	seenEmail
	seenRole
	seenIss
	seenAud
	seenExp
	seenNbf
	seenIat
	seenAnon
	seenOrg
)

// The places where a misconfigured org claim is looked for (WithOrgClaim).
const (
	strayTopLevel = "org_id"
	strayAppMeta  = "app_metadata.org_id"
)

// parseClaims reads the claims of a payload. Names match exactly; a claim
// read twice, of the wrong type or holding control characters is an error.
func (v *validator) parseClaims(s string) (tokenClaims, error) {
	var c tokenClaims
	var seen uint16
	var stray string
	r := jsonReader{s: s}
	if err := r.object(); err != nil {
		return c, err
	}
	for first := true; ; first = false {
		name, more, err := r.member(first)
		if err != nil {
			return c, err
		}
		if !more {
			break
		}
		raw, err := r.value()
		if err != nil {
			return c, err
		}
		bit := claimBit(name)
		if v.orgPath != nil && name == v.orgPath[0] {
			bit |= seenOrg
		}
		if seen&bit != 0 {
			return c, errDuplicate
		}
		seen |= bit
		if err := v.readClaim(&c, bit, raw); err != nil {
			return c, err
		}
		if v.orgPath != nil && stray == "" {
			stray = v.strayOrg(name, raw)
		}
	}
	if err := r.end(); err != nil {
		return c, err
	}
	if c.org == "" {
		c.strayOrg = stray
	}
	return c, nil
}

func claimBit(name string) uint16 {
	switch name {
	case "sub":
		return seenSub
	case "email":
		return seenEmail
	case "role":
		return seenRole
	case "iss":
		return seenIss
	case "aud":
		return seenAud
	case "exp":
		return seenExp
	case "nbf":
		return seenNbf
	case "iat":
		return seenIat
	case "is_anonymous":
		return seenAnon
	}
	return 0
}

// readClaim stores the claims named by bit from their JSON text raw.
func (v *validator) readClaim(c *tokenClaims, bit uint16, raw string) (err error) {
	switch {
	case bit&seenSub != 0:
		c.sub, err = optionalText(raw)
	case bit&seenEmail != 0:
		c.email, err = optionalText(raw)
	case bit&seenRole != 0:
		c.role, err = optionalText(raw)
	case bit&seenIss != 0:
		c.iss, err = optionalText(raw)
	case bit&seenAud != 0:
		c.audSeen, c.audMatch, err = audience(raw, v.audience)
	case bit&seenExp != 0:
		c.exp, c.hasExp, err = numericDate(raw)
	case bit&seenNbf != 0:
		c.nbf, c.hasNbf, err = numericDate(raw)
	case bit&seenIat != 0:
		c.iat, c.hasIat, err = numericDate(raw)
	case bit&seenAnon != 0:
		switch raw {
		case "true":
			c.anonymous = true
		case "false", "null":
		default:
			err = errClaimType
		}
	}
	if err == nil && bit&seenOrg != 0 {
		c.org, err = orgAt(raw, v.orgPath[1:])
	}
	return err
}

// strayOrg returns where the member name holds an organisation ID that the
// configured org claim does not read, or "".
func (v *validator) strayOrg(name, raw string) string {
	switch {
	case name == "org_id" && !(len(v.orgPath) == 1 && v.orgPath[0] == "org_id"):
		if org, err := orgAt(raw, nil); err == nil && org != "" {
			return strayTopLevel
		}
	case name == "app_metadata" && v.orgPath[0] != "app_metadata":
		if org, err := orgAt(raw, []string{"org_id"}); err == nil && org != "" {
			return strayAppMeta
		}
	}
	return ""
}

// optionalText decodes a JSON string claim; null is "".
func optionalText(raw string) (string, error) {
	if raw == "null" {
		return "", nil
	}
	s, err := jsonString(raw)
	if err != nil {
		return "", errClaimType
	}
	return s, checkText(s)
}

// checkText refuses invalid UTF-8 and control characters (C0, DEL, C1):
// a NUL in a user ID is refused by PostgreSQL, a newline forges log lines.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errControl
	}
	for _, r := range s {
		if r < 0x20 || (0x7f <= r && r <= 0x9f) {
			return errControl
		}
	}
	return nil
}

// audience reads aud, a string or an array of strings, and reports whether
// it is present and whether it holds want.
func audience(raw, want string) (seen, match bool, err error) {
	switch {
	case raw == "null":
		return false, false, nil
	case raw[0] == '"':
		s, err := jsonString(raw)
		if err != nil {
			return false, false, errClaimType
		}
		return true, s == want, nil
	case raw[0] != '[':
		return false, false, errClaimType
	}
	r := jsonReader{s: raw, i: 1}
	for first := true; ; first = false {
		c := r.space()
		switch {
		case c == ']':
			return seen, match, nil
		case !first && c == ',':
			r.i++
			c = r.space()
		case !first:
			return false, false, errJSONSyntax
		}
		if c != '"' {
			return false, false, errClaimType
		}
		s, err := r.str()
		if err != nil {
			return false, false, err
		}
		seen, match = true, match || s == want
	}
}

// numericDate reads a NumericDate (RFC 7519 §2): a JSON number of seconds
// since the epoch, not a string. null means absent.
func numericDate(raw string) (t time.Time, ok bool, err error) {
	switch {
	case raw == "null":
		return time.Time{}, false, nil
	case raw[0] != '-' && (raw[0] < '0' || raw[0] > '9'):
		return time.Time{}, false, errDateType
	case !strings.ContainsAny(raw, ".eE"):
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n > maxDateSeconds || n < -maxDateSeconds {
			return time.Time{}, false, errDateType
		}
		return time.Unix(n, 0), true, nil
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.Abs(f) > maxDateSeconds {
		return time.Time{}, false, errDateType
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// orgAt returns the string at path inside the JSON value raw: "" when a step
// is missing or null; errOrgClaimType when a step is not an object or the
// leaf is not a string.
func orgAt(raw string, path []string) (string, error) {
	for _, key := range path {
		if raw == "null" {
			return "", nil
		}
		r := jsonReader{s: raw}
		if err := r.object(); err != nil {
			return "", errOrgClaimType
		}
		next, found := "", false
		for first := true; ; first = false {
			name, more, err := r.member(first)
			if err != nil {
				return "", err
			}
			if !more {
				break
			}
			val, err := r.value()
			if err != nil {
				return "", err
			}
			if name == key {
				if found {
					return "", errDuplicate
				}
				next, found = val, true
			}
		}
		if !found {
			return "", nil
		}
		raw = next
	}
	if raw == "null" {
		return "", nil
	}
	s, err := jsonString(raw)
	if err != nil {
		return "", errOrgClaimType
	}
	return s, checkText(s)
}

// validate applies the time, audience, issuer, subject and role checks at now.
func (v *validator) validate(c *tokenClaims, now time.Time) error {
	switch {
	case !c.hasExp:
		return tokenError(ErrTokenClaimMissing, errExpMissing)
	case !now.Before(c.exp.Add(v.leeway)):
		return tokenError(ErrTokenExpired, nil)
	case c.hasIat && now.Before(c.iat.Add(-v.leeway)):
		return tokenError(ErrTokenNotYetValid, errUsedEarly)
	case c.hasNbf && now.Before(c.nbf.Add(-v.leeway)):
		return tokenError(ErrTokenNotYetValid, errNotBefore)
	case v.audience != "" && !c.audSeen:
		return tokenError(ErrTokenClaimMissing, errAudMissing)
	case v.audience != "" && !c.audMatch:
		return tokenError(ErrTokenAudience, nil)
	case v.issuer != "" && c.iss == "":
		return tokenError(ErrTokenClaimMissing, errIssMissing)
	case v.issuer != "" && c.iss != v.issuer:
		return tokenError(ErrTokenIssuer, nil)
	case c.sub == "":
		return tokenError(ErrTokenClaimMissing, errSubMissing)
	case len(v.roles) > 0 && !slices.Contains(v.roles, c.role):
		return tokenError(ErrTokenRole, nil)
	}
	return nil
}

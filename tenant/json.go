package tenant

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Errors of jsonReader; each makes the token malformed.
var (
	errJSONSyntax    = errors.New("invalid JSON")
	errJSONDepth     = errors.New("JSON nested too deeply")
	errJSONSurrogate = errors.New("JSON string with an unpaired surrogate")
)

// maxJSONDepth bounds the nesting of objects and arrays in a token.
const maxJSONDepth = 32

// jsonReader reads one JSON text (RFC 8259) held in a string, strictly: no
// trailing data, no raw control characters in strings, no unpaired
// surrogate escapes. Names are compared as decoded, byte for byte: unlike
// encoding/json, "APP_METADATA" is not "app_metadata".
type jsonReader struct {
	s     string
	i     int
	depth int
}

// space skips white space and returns the next byte, 0 at the end.
func (r *jsonReader) space() byte {
	for ; r.i < len(r.s); r.i++ {
		switch c := r.s[r.i]; c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}

// end checks that nothing but white space is left (space returns 0 for a
// NUL byte too: the position tells).
func (r *jsonReader) end() error {
	if r.space(); r.i != len(r.s) {
		return errJSONSyntax
	}
	return nil
}

// object reads the opening brace of an object.
func (r *jsonReader) object() error {
	if r.space() != '{' {
		return errJSONSyntax
	}
	r.i++
	return nil
}

// member reads the name of the next member of the object being read and the
// colon after it; more is false at the closing brace, which it consumes.
// first says whether no member was read yet.
func (r *jsonReader) member(first bool) (name string, more bool, err error) {
	c := r.space()
	switch {
	case c == '}':
		r.i++
		return "", false, nil
	case !first && c == ',':
		r.i++
		c = r.space()
	case !first:
		return "", false, errJSONSyntax
	}
	if c != '"' {
		return "", false, errJSONSyntax
	}
	if name, err = r.str(); err != nil {
		return "", false, err
	}
	if r.space() != ':' {
		return "", false, errJSONSyntax
	}
	r.i++
	return name, true, nil
}

// value reads the next value and returns its text, without the white space
// around it.
func (r *jsonReader) value() (string, error) {
	start := r.i
	if err := r.skip(); err != nil {
		return "", err
	}
	for start < r.i && isSpace(r.s[start]) {
		start++
	}
	return r.s[start:r.i], nil
}

// skip reads one value of any kind.
func (r *jsonReader) skip() error {
	switch c := r.space(); {
	case c == '"':
		_, err := r.str()
		return err
	case c == '{':
		return r.composite('}')
	case c == '[':
		return r.composite(']')
	case c == '-' || ('0' <= c && c <= '9'):
		return r.number()
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	}
	return errJSONSyntax
}

// composite reads an object or an array whose opening byte is next.
func (r *jsonReader) composite(closing byte) error {
	if r.depth++; r.depth > maxJSONDepth {
		return errJSONDepth
	}
	defer func() { r.depth-- }()
	r.i++
	for first := true; ; first = false {
		c := r.space()
		switch {
		case c == closing:
			r.i++
			return nil
		case !first && c == ',':
			r.i++
		case !first:
			return errJSONSyntax
		}
		if closing == '}' {
			if r.space() != '"' {
				return errJSONSyntax
			}
			if _, err := r.str(); err != nil {
				return err
			}
			if r.space() != ':' {
				return errJSONSyntax
			}
			r.i++
		}
		if err := r.skip(); err != nil {
			return err
		}
	}
}

func (r *jsonReader) literal(lit string) error {
	if !strings.HasPrefix(r.s[r.i:], lit) {
		return errJSONSyntax
	}
	r.i += len(lit)
	return nil
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.
func (r *jsonReader) number() error {
	s, i := r.s, r.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		i = digits(s, i)
	default:
		return errJSONSyntax
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return errJSONSyntax
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return errJSONSyntax
		}
		i = j
	}
	r.i = i
	return nil
}

func digits(s string, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// str reads a string whose opening quote is next and returns it decoded.
// A string without escapes is returned as a substring of the input.
func (r *jsonReader) str() (string, error) {
	start := r.i + 1
	for i := start; i < len(r.s); i++ {
		switch c := r.s[i]; {
		case c == '"':
			r.i = i + 1
			return r.s[start:i], nil
		case c == '\\':
			return r.escaped(start, i)
		case c < 0x20:
			return "", errJSONSyntax
		}
	}
	return "", errJSONSyntax
}

// escaped decodes a string from start whose first escape is at i.
func (r *jsonReader) escaped(start, i int) (string, error) {
	var b strings.Builder
	b.Grow(i - start + 16)
	b.WriteString(r.s[start:i])
	s := r.s
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			r.i = i + 1
			return b.String(), nil
		case c < 0x20:
			return "", errJSONSyntax
		case c != '\\':
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", errJSONSyntax
		}
		i += 2
		switch s[i-1] {
		case '"', '\\', '/':
			b.WriteByte(s[i-1])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r1, ok := hex4(s, i)
			if !ok {
				return "", errJSONSyntax
			}
			i += 4
			if utf16.IsSurrogate(r1) {
				r2, ok := rune(0), false
				if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2, ok = hex4(s, i+2)
				}
				r1 = utf16.DecodeRune(r1, r2)
				if !ok || r1 == utf8.RuneError {
					return "", errJSONSurrogate
				}
				i += 6
			}
			b.WriteRune(r1)
		default:
			return "", errJSONSyntax
		}
	}
	return "", errJSONSyntax
}

// hex4 decodes the four hex digits at s[i:].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// jsonString decodes the JSON string raw (as returned by value).
func jsonString(raw string) (string, error) {
	if raw == "" || raw[0] != '"' {
		return "", errJSONSyntax
	}
	r := jsonReader{s: raw}
	s, err := r.str()
	if err != nil {
		return "", err
	}
	return s, r.end()
}

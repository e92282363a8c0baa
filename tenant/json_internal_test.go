package tenant

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// jsonDocs are JSON texts, valid and not, on which jsonReader must agree
// with encoding/json, except where strictDiffers says it is stricter.
var jsonDocs = []string{
	// numbers
	"0", "-0", "7", "-12", "10", "01", "-", "--1", "+1", "1.", "1.5", ".5", "0.25", "1e", "1e+", "1e-", "1e5", "1E-5", "-1.5e+10",
	"2.e3", "1.e5", "0e0", "1ee2", "1.2.3", "00", "-01", "9007199254740993",
	// literals
	"true", "tru", "false", "fals", "null", "nul", "nulll", "True", "NULL",
	// strings
	`""`, `"a"`, `"\u0041"`, `"\u00e9"`, `"\u00E9"`, `"\uABcd"`, `"\ud83d\ude00"`, `"\x"`, `"\u12"`, `"\u12G4"`, `"\u"`,
	`"abc`, `"a\"b"`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, "\"a\tb\"", "\"a\x1fb\"", `"é☃"`, `"\"`, `"a\`, `"\u0000"`, `"x\ny"`,
	`"\ud83d\ude00tail"`, `"head\u0041\u0042"`, `"\uD83D\uDE00"`, `"\ud83d\`, `"\ud83d`, `"\u0041`,
	// objects and arrays
	`{}`, `{ }`, `{"a":1}`, `{"a":1,}`, `{,"a":1}`, `{"a" 1}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`, `{"a":1,"b":2}`,
	`{"a":[1,2,{"b":null}]}`, `{"a":1`, `{"a"`, `{"a":{"b":{"c":[true,false]}}}`, `{"\u0061":1}`, `{"a":1}}`,
	`[]`, `[ ]`, `[1,]`, `[,1]`, `[1 2]`, `[[[]]]`, `[1,2,3]`, `[`, `]`, `[1`, `["a","b"]`, `[{}]`,
	// white space and trailing data
	" 1 ", "\t{\n}\r", "1 2", "{}x", "[] []", "", " ", "\v1", "\u00a01",
	// unpaired surrogates (see strictDiffers)
	`"\ud83d"`, `"\ude00"`, `"\ud83dx"`, `"\ud83d\u0041"`,
}

// strictDiffers: valid JSON that jsonReader refuses on purpose.
var strictDiffers = map[string]bool{
	`"\ud83d"`: true, `"\ude00"`: true, `"\ud83dx"`: true, `"\ud83d\u0041"`: true,
}

func TestJSONReaderAgreesWithEncodingJSON(t *testing.T) {
	for _, doc := range jsonDocs {
		t.Run(doc, func(t *testing.T) {
			r := jsonReader{s: doc}
			raw, err := r.value()
			if err == nil {
				err = r.end()
			}
			want := json.Valid([]byte(doc)) && !strictDiffers[doc]
			require.Equal(t, want, err == nil, "err %v", err)
			if !want {
				return
			}
			require.Equal(t, strings.TrimSpace(doc), raw)
			if raw[0] == '"' {
				var s string
				require.NoError(t, json.Unmarshal([]byte(doc), &s))
				got, err := jsonString(raw)
				require.NoError(t, err)
				require.Equal(t, s, got)
			}
		})
	}
}

func TestJSONObjectsAgreeWithEncodingJSON(t *testing.T) {
	var v validator
	v.init(newVerifyConfig(nil))
	for _, doc := range jsonDocs {
		if !strings.HasPrefix(strings.TrimSpace(doc), "{") {
			continue
		}
		t.Run(doc, func(t *testing.T) {
			_, err := v.parseClaims(doc)
			_, herr := parseHeader(doc)
			require.Equal(t, json.Valid([]byte(doc)), err == nil, "claims: %v", err)
			require.Equal(t, json.Valid([]byte(doc)), herr == nil || herr == errNoAlg, "header: %v", herr)
		})
	}
}

func TestJSONDepth(t *testing.T) {
	for depth, ok := range map[int]bool{1: true, maxJSONDepth: true, maxJSONDepth + 1: false} {
		doc := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		r := jsonReader{s: doc}
		err := r.skip()
		require.Equal(t, ok, err == nil, "depth %d: %v", depth, err)
		if !ok {
			require.ErrorIs(t, err, errJSONDepth)
		}
		// The depth is given back on the way out: siblings do not add up.
		r = jsonReader{s: "[" + strings.Repeat(strings.Repeat("[", maxJSONDepth-1)+strings.Repeat("]", maxJSONDepth-1)+",", 3) + "1]"}
		require.NoError(t, r.skip())
		require.Zero(t, r.depth)
	}
}

func TestJSONStringErrors(t *testing.T) {
	for _, raw := range []string{``, `a`, `"a"b`, `"\ud800"`} {
		_, err := jsonString(raw)
		require.Error(t, err, raw)
	}
}

package tenant

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzJSONReader: jsonReader reads a JSON text exactly when encoding/json
// finds it valid, except the valid texts it refuses on purpose (unpaired
// surrogate escapes, nesting deeper than maxJSONDepth); what it reads is
// the text without the white space around it, and a string decodes as
// encoding/json decodes it (which writes U+FFFD for bytes that are not
// UTF-8, and which checkText refuses in claims).
func FuzzJSONReader(f *testing.F) {
	for _, doc := range jsonDocs {
		f.Add(doc)
	}
	f.Add(strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1))
	f.Add(`{"sub":"\u00e9\ud83d\ude00","app_metadata":{"org_id":"org-1"}}`)
	f.Add("\"\xff\xfe\"")
	f.Fuzz(func(t *testing.T, doc string) {
		r := jsonReader{s: doc}
		raw, err := r.value()
		if err == nil {
			err = r.end()
		}
		valid := json.Valid([]byte(doc))
		if err != nil {
			if valid {
				require.True(t, errors.Is(err, errJSONSurrogate) || errors.Is(err, errJSONDepth), "%q refused: %v", doc, err)
			}
			return
		}
		require.True(t, valid, "%q read, but it is not JSON", doc)
		require.Equal(t, strings.Trim(doc, " \t\r\n"), raw)
		require.Zero(t, r.depth)
		if raw[0] != '"' {
			return
		}
		got, err := jsonString(raw)
		require.NoError(t, err)
		var want string
		require.NoError(t, json.Unmarshal([]byte(raw), &want))
		require.Equal(t, want, string([]rune(got)), "%q", raw)
	})
}

package tenant

import (
	"bytes"
	"encoding/json"
	"errors"
)

// pathClaims reads the org ID from a configured dotted claim path
// (WithOrgClaim other than the default).
type pathClaims struct {
	tokenClaims
	path []string
	org  string
}

var errOrgClaimType = errors.New("org claim is not a string")

// UnmarshalJSON decodes the registered claims, then walks path. A missing
// or null step means no org; a step that is not an object, or a leaf that is
// not a string, is an error (the token is refused as malformed).
func (c *pathClaims) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &c.tokenClaims); err != nil {
		return err
	}
	raw := json.RawMessage(b)
	for _, key := range c.path {
		if isNull(raw) {
			return nil
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return errOrgClaimType
		}
		var ok bool
		if raw, ok = obj[key]; !ok {
			return nil
		}
	}
	if isNull(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, &c.org); err != nil {
		return errOrgClaimType
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

package tenant_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
)

// Found by FuzzJSONReader: the reader took a NUL byte for the end of the
// text, so a payload (or header) followed by NUL and anything else was
// read as the JSON before it, where every other parser refuses the token.
func TestVerifyRefusesAPayloadWithDataAfterANUL(t *testing.T) {
	v := hs256(t)
	_, err := v.Verify(t.Context(), signRawHS(hsHeader, rawPayload(), testSecret))
	require.NoError(t, err, "the token without the tail is good")
	for name, tok := range map[string]string{
		"payload":                         signRawHS(hsHeader, rawPayload()+"\x00", testSecret),
		"payload with more after the NUL": signRawHS(hsHeader, rawPayload()+"\x00{\"sub\":\"admin\"}", testSecret),
		"header":                          signRawHS(hsHeader+"\x00 junk", rawPayload(), testSecret),
	} {
		_, err := v.Verify(t.Context(), tok)
		require.ErrorIs(t, err, tenant.ErrTokenMalformed, name)
	}
}

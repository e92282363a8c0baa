package tenant_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/tenant"
)

// A fixed RSA and EC P-256 public key, each with a token it signed for
// user-1 in org-1 (kid "rsa-1" and "ec-1", expiring in 2100), so that
// every fuzzing process checks documents against the same keys. The
// private keys were thrown away.
const (
	fuzzRSAN = "wKXHv2IB-qizTPZQo5kKRejrP90AcC5nbPrB2GtfteYG1Hv9xgY84pCufKbDD_MfESf24i-Vv-GHG_B2n9n5jUtoVKP3pQ4hAjHJ" +
		"_FxT3vzNcEAL9qswxW2Km_SE768mt6uSNrO8nEwvj6MovBiS487tDXubwAqZWbZ_RIdtAlQdWWtBsx1GVYDTdplEnqy_J74eA5X5" +
		"tZ6Yl6rNrOccK7DJ8HUW8K5jhasWFtuw-8s4l2_qjZu0rqvuEdwkaMnWwEPCvGY1yC2LuOBNcTSFmp07_hqD7i7wuQGP1ox04eHI" +
		"jRjJFknChfRgxT7a2XPXEMZLQoGA20efHEDhoRUePQ"
	fuzzRSAToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIiwidHlwIjoiSldUIn0.eyJhcHBfbWV0YWRhdGEiOnsib3JnX2lkIjoib3JnLTEi" +
		"LCJwcm92aWRlciI6ImVtYWlsIn0sImF1ZCI6ImF1dGhlbnRpY2F0ZWQiLCJlbWFpbCI6ImFkYUBleGFtcGxlLmNvbSIsImV4cCI6" +
		"NDEwMjQ0NDgwMCwiaWF0IjoxNzY3MjI1NjAwLCJyb2xlIjoiYXV0aGVudGljYXRlZCIsInN1YiI6InVzZXItMSJ9.MImWdbKyqYv" +
		"NRLmkdVhMFQ-TjLudUhHQRWelF8Zw_QbJMFbk8LrVWXZY-QojnsLviI1cZ1DKHuJuEwPN4FAm_-L_jE26IxZ1k9egEgmPC_cSDaW" +
		"7lu38VbVmSFGQweYmu0KdJpIHLdU2T6iXEmEoyQPOmnPkjsyoGTkX6_AeYssIH3uHj3jrOTr6zU0MHdjs8zjxHNA3BSYFWMj8H7C" +
		"VEofNQnuizTFMvgFk8LcSTj3SSLzoEiwGewtMqSDcEnnZwEYnnmuBIM4mOW-G5AANNxIcKjSC_U676zOB4_1ROQlO_e-Pn4G0_gT" +
		"nbxqKhlm-R57MBgsr2PtiKBIZmsRBmQ"
	fuzzECX     = "j_G77JO0joxuSWE-LCGJNLK3qeX56a-OECx499GUdrc"
	fuzzECY     = "VOA-3-dUqwYT39_Z0UUEushPD9L7RILwejR75cADYrg"
	fuzzECToken = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJhcHBfbWV0YWRhdGEiOnsib3JnX2lkIjoib3JnLTEiL" +
		"CJwcm92aWRlciI6ImVtYWlsIn0sImF1ZCI6ImF1dGhlbnRpY2F0ZWQiLCJlbWFpbCI6ImFkYUBleGFtcGxlLmNvbSIsImV4cCI6N" +
		"DEwMjQ0NDgwMCwiaWF0IjoxNzY3MjI1NjAwLCJyb2xlIjoiYXV0aGVudGljYXRlZCIsInN1YiI6InVzZXItMSJ9.cRg3V3hcVrYw" +
		"G9rxoBA86w2JjNHpYYHioyXvBVZVERH7OlVbad4PrzliXYLyp3s1lhosBKMDdaHkKZrBWVXFZw"
)

// fuzzJWK is a JSON Web Key as a key set document holds it.
type fuzzJWK struct {
	Kty, Kid, Use, Alg, Crv, N, E, X, Y string
}

// matches reports whether k is a signing key for alg with kid whose
// public key is the fixed one of alg, as RFC 7517 and 7518 describe it
// (base64url without padding; trailing padding tolerated).
func (k fuzzJWK) matches(alg, kid string) bool {
	if k.Kid != kid || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != alg) {
		return false
	}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil {
			return nil
		}
		return b
	}
	switch alg {
	case "RS256":
		n, e := dec(k.N), dec(k.E)
		return k.Kty == "RSA" && n != nil && new(big.Int).SetBytes(n).Cmp(new(big.Int).SetBytes(dec(fuzzRSAN))) == 0 &&
			e != nil && new(big.Int).SetBytes(e).Int64() == 65537
	case "ES256":
		return k.Kty == "EC" && k.Crv == "P-256" && bytes.Equal(dec(k.X), dec(fuzzECX)) && bytes.Equal(dec(k.Y), dec(fuzzECY))
	}
	return false
}

// FuzzStaticJWKS: whatever key set document it is given, StaticJWKS does
// not panic; a document that encoding/json cannot read is refused; a
// verifier it returns accepts the fixed RS256 (ES256) token only if the
// document holds that key under its kid, usable for signatures, refuses
// it otherwise with an error matching ErrInvalidToken, and accepts it
// when that key is the document's only one.
func FuzzStaticJWKS(f *testing.F) {
	rsaKey := map[string]any{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": fuzzRSAN, "e": "AQAB"}
	ecKey := map[string]any{"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256", "x": fuzzECX, "y": fuzzECY}
	with := func(k map[string]any, name string, v any) map[string]any {
		out := map[string]any{}
		for n, x := range k {
			out[n] = x
		}
		if v == nil {
			delete(out, name)
		} else {
			out[name] = v
		}
		return out
	}
	for _, doc := range [][]byte{
		jwkSet(rsaKey, ecKey),
		jwkSet(rsaKey),
		jwkSet(ecKey),
		jwkSet(with(rsaKey, "kid", nil), with(ecKey, "alg", nil)),
		jwkSet(with(rsaKey, "use", "enc"), with(ecKey, "crv", "P-384")),
		jwkSet(with(rsaKey, "alg", "RS512"), with(ecKey, "kty", "OKP")),
		jwkSet(with(rsaKey, "n", fuzzRSAN[:40]), with(ecKey, "x", fuzzECY)),
		jwkSet(with(rsaKey, "e", "AAEAAQ"), with(rsaKey, "e", "Aw")),
		jwkSet(with(rsaKey, "e", "AAAAAAEAAQ"), with(ecKey, "y", fuzzECY+"==")),
		jwkSet(with(ecKey, "kid", "rsa-1"), rsaKey),
		jwkSet(with(rsaKey, "n", "AAAA"+fuzzRSAN), with(rsaKey, "kid", "rsa-2")),
		jwkSet(map[string]any{"kty": "oct", "k": "c2VjcmV0", "kid": "rsa-1"}),
		[]byte(`{"keys": null}`), []byte(`{"keys": [{}]}`), []byte(`{"KEYS": [{"KTY": "EC"}]}`), []byte(`[]`), []byte(`{`), nil,
	} {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		v, err := tenant.StaticJWKS(doc)
		var parsed struct{ Keys []fuzzJWK }
		if json.Unmarshal(doc, &parsed) != nil {
			require.Error(t, err, "%q", doc)
			return
		}
		if err != nil {
			return
		}
		for _, tc := range []struct{ alg, kid, token string }{
			{"RS256", "rsa-1", fuzzRSAToken},
			{"ES256", "ec-1", fuzzECToken},
		} {
			held := false
			for _, k := range parsed.Keys {
				held = held || k.matches(tc.alg, tc.kid)
			}
			c, err := v.Verify(t.Context(), tc.token)
			if err != nil {
				require.ErrorIs(t, err, tenant.ErrInvalidToken)
				require.False(t, held && len(parsed.Keys) == 1, "%s refused by its own key: %v\n%s", tc.alg, err, doc)
				continue
			}
			require.True(t, held, "%s accepted without its key in %s", tc.alg, doc)
			require.Equal(t, "user-1", c.Subject)
			require.Equal(t, "org-1", c.OrgID)
		}
	})
}

package tenant

import (
	"bytes"
	"context"
	"errors"

	"github.com/golang-jwt/jwt/v5"
)

var errEmptySecret = errors.New("verifier has an empty HS256 secret")

// HS256 returns a Verifier for tokens signed with HMAC-SHA256 under secret
// (Supabase's legacy "JWT secret"). Only HS256 is accepted: alg "none",
// RS256/ES256 and every other algorithm are refused. secret is copied; an
// empty secret refuses every token. See VerifyOption for the claim checks.
// It panics if WithOrgClaim points into user_metadata.
func HS256(secret []byte, opts ...VerifyOption) Verifier {
	cfg := newVerifyConfig(opts)
	if err := checkOrgClaim(cfg.orgClaim); err != nil {
		panic(err)
	}
	v := &hs256Verifier{validator: newValidator(cfg, []string{jwt.SigningMethodHS256.Alg()})}
	key := bytes.Clone(secret)
	v.keyFunc = func(t *jwt.Token) (any, error) {
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok {
			return nil, jwt.ErrTokenSignatureInvalid
		}
		if len(key) == 0 {
			return nil, errEmptySecret
		}
		return key, nil
	}
	return v
}

type hs256Verifier struct {
	validator
	keyFunc jwt.Keyfunc
}

// Verify implements Verifier.
func (v *hs256Verifier) Verify(_ context.Context, token string) (Claims, error) {
	return v.verify(token, v.keyFunc)
}

package tenant

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// MinHS256SecretSize is the shortest secret HS256 accepts, in bytes: the
// size of the hash (RFC 7518 §3.2).
const MinHS256SecretSize = 32

// ErrShortSecret is returned by HS256 for a secret shorter than
// MinHS256SecretSize.
var ErrShortSecret = errors.New("tenant: HS256 secret too short")

// HS256 returns a Verifier for tokens signed with HMAC-SHA256 under secret
// (Supabase's legacy "JWT secret"). Only HS256 is accepted: alg "none",
// RS256/ES256 and every other algorithm are refused. secret is copied. See
// VerifyOption for the claim checks.
//
// It returns an error matching ErrShortSecret for a secret shorter than 32
// bytes, and an error for a WithOrgClaim path into user_metadata.
func HS256(secret []byte, opts ...VerifyOption) (Verifier, error) {
	if len(secret) < MinHS256SecretSize {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d (RFC 7518 §3.2)", ErrShortSecret, len(secret), MinHS256SecretSize)
	}
	cfg := newVerifyConfig(opts)
	if err := checkOrgClaim(cfg.orgClaim); err != nil {
		return nil, err
	}
	v := &hs256Verifier{}
	v.validator.init(cfg)
	key := bytes.Clone(secret)
	v.macs.New = func() any {
		return &mac{h: hmac.New(sha256.New, key)}
	}
	return v, nil
}

type hs256Verifier struct {
	validator
	macs sync.Pool // of *mac, keyed with the secret
}

// mac is a keyed HMAC-SHA256 and room for its sum.
type mac struct {
	h   hash.Hash
	sum []byte
}

// Verify implements Verifier.
func (v *hs256Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	return v.verify(ctx, token, v)
}

// checkSignature implements signatureChecker.
func (v *hs256Verifier) checkSignature(_ context.Context, h header, input, sig []byte) error {
	if h.alg != "HS256" {
		return tokenError(ErrTokenSignature, errAlgNotAllowed)
	}
	m := v.macs.Get().(*mac)
	m.h.Reset()
	m.h.Write(input)
	m.sum = m.h.Sum(m.sum[:0])
	ok := hmac.Equal(m.sum, sig)
	v.macs.Put(m)
	if !ok {
		return tokenError(ErrTokenSignature, errBadSignature)
	}
	return nil
}

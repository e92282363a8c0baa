package tenant

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// minRSABits is the smallest RSA modulus accepted in a key set.
const minRSABits = 2048

// jwk holds the members of a JSON Web Key (RFC 7517) that we read. Private
// members (d, p, q...) are never read.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// verifyKey is a public key usable for one algorithm.
type verifyKey struct {
	kid string
	alg string // "RS256" or "ES256"
	key crypto.PublicKey
}

// keySet is an immutable parsed JWK set.
type keySet struct {
	all     []verifyKey
	byKid   map[string]int // index in all
	fetched time.Time
}

// parseKeySet parses a JWK set document. Keys of other types, curves or
// uses (kty "oct", "OKP", P-384, "enc"...) are skipped; a set without any
// usable key is an error, as is an RSA key below 2048 bits or an EC point
// off the curve (which are skipped too, but reported if nothing is left).
func parseKeySet(data []byte) (*keySet, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwks: decode: %w", err)
	}
	ks := &keySet{byKid: make(map[string]int, len(doc.Keys))}
	var errs []error
	for i, k := range doc.Keys {
		vk, err := k.verifyKey()
		if err != nil {
			errs = append(errs, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err))
			continue
		}
		if vk.key == nil {
			continue // not a signing key we use
		}
		if vk.kid != "" {
			if _, dup := ks.byKid[vk.kid]; dup {
				continue // first one wins
			}
			ks.byKid[vk.kid] = len(ks.all)
		}
		ks.all = append(ks.all, vk)
	}
	if len(ks.all) == 0 {
		errs = append(errs, errors.New("no usable RS256 or ES256 key"))
		return nil, fmt.Errorf("jwks: %w", errors.Join(errs...))
	}
	return ks, nil
}

// find returns the key of kid if it is for alg or, without a kid, every
// key for alg, to be tried in turn.
func (ks *keySet) find(kid, alg string) []verifyKey {
	if ks == nil {
		return nil
	}
	if kid != "" {
		i, ok := ks.byKid[kid]
		if !ok || ks.all[i].alg != alg {
			return nil
		}
		return ks.all[i : i+1]
	}
	var keys []verifyKey
	for i, k := range ks.all {
		if k.alg != alg {
			continue
		}
		if keys == nil { // most sets hold one key per algorithm: no copy
			keys = ks.all[i : i+1 : i+1]
			continue
		}
		keys = append(keys, k)
	}
	return keys
}

// verify reports whether sig is k's signature of the SHA-256 digest.
func (k verifyKey) verify(digest, sig []byte) bool {
	switch pub := k.key.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig) == nil
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub, digest, r, s)
	}
	return false
}

// checkKeys checks sig against keys, the candidates of a token's header.
func checkKeys(keys []verifyKey, input, sig []byte) error {
	digest := sha256.Sum256(input)
	for _, k := range keys {
		if k.verify(digest[:], sig) {
			return nil
		}
	}
	return tokenError(ErrTokenSignature, errBadSignature)
}

// verifyKey converts k; a nil key with a nil error means "skip".
func (k jwk) verifyKey() (verifyKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return verifyKey{}, nil
	}
	switch k.Kty {
	case "RSA":
		if k.Alg != "" && k.Alg != "RS256" {
			return verifyKey{}, nil
		}
		pub, err := rsaKey(k.N, k.E)
		if err != nil {
			return verifyKey{}, err
		}
		return verifyKey{kid: k.Kid, alg: "RS256", key: pub}, nil
	case "EC":
		if k.Crv != "P-256" || (k.Alg != "" && k.Alg != "ES256") {
			return verifyKey{}, nil
		}
		pub, err := p256Key(k.X, k.Y)
		if err != nil {
			return verifyKey{}, err
		}
		return verifyKey{kid: k.Kid, alg: "ES256", key: pub}, nil
	}
	return verifyKey{}, nil
}

func rsaKey(n64, e64 string) (*rsa.PublicKey, error) {
	nb, err := b64(n64)
	if err != nil {
		return nil, fmt.Errorf("rsa n: %w", err)
	}
	eb, err := b64(e64)
	if err != nil {
		return nil, fmt.Errorf("rsa e: %w", err)
	}
	n := new(big.Int).SetBytes(nb)
	if n.BitLen() < minRSABits {
		return nil, fmt.Errorf("rsa modulus of %d bits, want at least %d", n.BitLen(), minRSABits)
	}
	if len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("rsa exponent out of range")
	}
	var e uint64
	for _, c := range eb {
		e = e<<8 | uint64(c)
	}
	if e < 3 || e > 1<<31-1 || e%2 == 0 {
		return nil, errors.New("rsa exponent out of range")
	}
	return &rsa.PublicKey{N: n, E: int(e)}, nil
}

func p256Key(x64, y64 string) (*ecdsa.PublicKey, error) {
	x, err := b64(x64)
	if err != nil {
		return nil, fmt.Errorf("ec x: %w", err)
	}
	y, err := b64(y64)
	if err != nil {
		return nil, fmt.Errorf("ec y: %w", err)
	}
	if len(x) != 32 || len(y) != 32 {
		return nil, errors.New("ec P-256 coordinates must be 32 bytes")
	}
	point := make([]byte, 0, 65)
	point = append(point, 4)
	point = append(point, x...)
	point = append(point, y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("ec point: %w", err)
	}
	return pub, nil
}

// b64 decodes base64url without padding, tolerating trailing padding.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

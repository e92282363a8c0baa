package tenant

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Verifier checks a token's signature and claims and returns the claims.
// Implementations must be safe for concurrent use. Errors should be
// *TokenError (the token is refused) or *UnavailableError (the verifier could
// not decide, e.g. its key set is unreachable).
type Verifier interface {
	Verify(ctx context.Context, token string) (Claims, error)
}

// Defaults of the verifiers built by HS256, JWKS and StaticJWKS.
const (
	// DefaultAudience is the audience required unless WithAudience says otherwise
	// (Supabase's user tokens carry aud "authenticated").
	DefaultAudience = "authenticated"
	// DefaultRole is the only role accepted unless WithRoles says otherwise.
	DefaultRole = "authenticated"
	// DefaultOrgClaim is the claim path of the organisation ID.
	DefaultOrgClaim = "app_metadata.org_id"
	// DefaultLeeway is the clock skew tolerated on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// maxVerifyToken bounds what a verifier parses at all, whoever calls it.
	// Middleware applies its own, smaller cap (WithMaxTokenSize) first.
	maxVerifyToken = 64 << 10
)

// VerifyOption configures HS256, JWKS and StaticJWKS. Options that concern
// only key sets (WithHTTPClient, WithRefreshInterval, WithKeySetTTL) are
// ignored by HS256.
type VerifyOption func(*verifyConfig)

type verifyConfig struct {
	audience   string
	issuer     string
	leeway     time.Duration
	orgClaim   string
	roles      []string
	client     *http.Client
	minRefresh time.Duration
	keySetTTL  time.Duration
}

// WithAudience sets the audience the token's aud must contain
// (default DefaultAudience). "" disables the audience check.
func WithAudience(aud string) VerifyOption {
	return func(c *verifyConfig) { c.audience = aud }
}

// WithIssuer requires the token's iss to equal iss, e.g.
// "https://<project>.supabase.co/auth/v1". By default iss is not checked.
func WithIssuer(iss string) VerifyOption {
	return func(c *verifyConfig) { c.issuer = iss }
}

// WithLeeway sets the clock skew tolerated on exp, nbf and iat
// (default DefaultLeeway). Negative values count as 0.
func WithLeeway(d time.Duration) VerifyOption {
	return func(c *verifyConfig) { c.leeway = max(d, 0) }
}

// WithOrgClaim sets the dotted path of the organisation ID in the verified
// claims (default DefaultOrgClaim, "app_metadata.org_id"). The value must be
// a JSON string; a token whose value there is of another type is refused.
// Names match exactly, case included. "" reads no org from tokens
// (Middleware then always asks its Directory). The path must be one the
// user cannot write: a path into user_metadata is a configuration error
// (HS256, JWKS and StaticJWKS return it).
//
// A Supabase custom access token hook that adds the organisation at the
// top level of the token (claims.org_id) needs WithOrgClaim("org_id").
// Middleware logs once, with WithLogger, when a verified token carries an
// organisation at org_id or app_metadata.org_id but not at the configured
// path: left as it is, such users are resolved through the Directory or
// given a second organisation by the Provisioner.
func WithOrgClaim(path string) VerifyOption {
	return func(c *verifyConfig) { c.orgClaim = path }
}

// WithRoles sets the accepted values of the role claim (default
// DefaultRole only, which refuses Supabase's anon and service_role keys).
// WithRoles() with no role disables the check, for issuers without roles.
func WithRoles(roles ...string) VerifyOption {
	return func(c *verifyConfig) { c.roles = slices.Clone(roles) }
}

func newVerifyConfig(opts []VerifyOption) verifyConfig {
	c := verifyConfig{
		audience:   DefaultAudience,
		leeway:     DefaultLeeway,
		orgClaim:   DefaultOrgClaim,
		roles:      []string{DefaultRole},
		minRefresh: DefaultRefreshInterval,
		keySetTTL:  DefaultKeySetTTL,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.client == nil {
		c.client = http.DefaultClient
	}
	return c
}

// validator is the part shared by all verifiers: the compact JWS
// decoding, the claim checks and the buffers they reuse.
type validator struct {
	audience string
	issuer   string
	leeway   time.Duration
	orgPath  []string // nil: WithOrgClaim(""), no org is read from tokens
	roles    []string
	b64      *base64.Encoding
	buffers  sync.Pool // of *buffers
}

// buffers are the scratch space of one Verify.
type buffers struct {
	raw  []byte // the token
	text []byte // decoded header, then decoded payload
	sig  []byte // decoded signature
}

// maxPooledBuffer is the largest buffer kept for reuse.
const maxPooledBuffer = 16 << 10

// signatureChecker checks the signature of a token with the verifier's key.
// It returns a *TokenError or an *UnavailableError.
type signatureChecker interface {
	checkSignature(ctx context.Context, h header, input, sig []byte) error
}

func (v *validator) init(c verifyConfig) {
	v.audience, v.issuer, v.leeway, v.roles = c.audience, c.issuer, c.leeway, c.roles
	if c.orgClaim != "" {
		v.orgPath = strings.Split(c.orgClaim, ".")
	}
	v.b64 = base64.RawURLEncoding.Strict()
	v.buffers.New = func() any { return new(buffers) }
}

// errUserWritableOrgClaim is the configuration error of an org claim path
// that users can write.
var errUserWritableOrgClaim = errors.New("tenant: the org claim must not be read from user_metadata, which users can edit")

// checkOrgClaim refuses org claim paths that users can write.
func checkOrgClaim(path string) error {
	first, _, _ := strings.Cut(path, ".")
	if strings.EqualFold(first, "user_metadata") {
		return errUserWritableOrgClaim
	}
	return nil
}

// verify decodes the compact JWS token, has sc check its signature, then
// reads and checks its claims. The payload is parsed only once the
// signature holds.
func (v *validator) verify(ctx context.Context, token string, sc signatureChecker) (Claims, error) {
	if len(token) > maxVerifyToken {
		return Claims{}, tokenError(ErrTokenTooLarge, nil)
	}
	dot1, dot2, err := splitCompact(token)
	if err != nil {
		return Claims{}, tokenError(ErrTokenMalformed, err)
	}
	b := v.buffers.Get().(*buffers)
	defer v.putBuffers(b)

	raw := append(b.raw[:0], token...)
	b.raw = raw
	if b.text, err = v.decode(b.text[:0], raw[:dot1]); err != nil {
		return Claims{}, tokenError(ErrTokenMalformed, err)
	}
	headerLen := len(b.text)
	if b.text, err = v.decode(b.text, raw[dot1+1:dot2]); err != nil {
		return Claims{}, tokenError(ErrTokenMalformed, err)
	}
	text := string(b.text) // the one copy: claims are substrings of it
	h, err := parseHeader(text[:headerLen])
	if err != nil {
		return Claims{}, tokenError(ErrTokenMalformed, err)
	}
	if b.sig, err = v.decode(b.sig[:0], raw[dot2+1:]); err != nil {
		return Claims{}, tokenError(ErrTokenSignature, err)
	}
	if err := sc.checkSignature(ctx, h, raw[:dot2], b.sig); err != nil {
		return Claims{}, err
	}

	c, err := v.parseClaims(text[headerLen:])
	if err != nil {
		return Claims{}, tokenError(ErrTokenMalformed, err)
	}
	if err := v.validate(&c, time.Now()); err != nil {
		return Claims{}, err
	}
	return Claims{
		Subject:   c.sub,
		Email:     c.email,
		Role:      c.role,
		OrgID:     c.org,
		Issuer:    c.iss,
		ExpiresAt: c.exp,
		Anonymous: c.anonymous,
		strayOrg:  c.strayOrg,
	}, nil
}

func (v *validator) putBuffers(b *buffers) {
	if cap(b.raw) <= maxPooledBuffer {
		v.buffers.Put(b)
	}
}

// decode appends the base64url (no padding) decoding of seg to dst.
func (v *validator) decode(dst, seg []byte) ([]byte, error) {
	n, size := len(dst), v.b64.DecodedLen(len(seg))
	dst = slices.Grow(dst, size)[:n+size]
	m, err := v.b64.Decode(dst[n:], seg)
	return dst[:n+m], err
}

// errCompact is the error of a token that is not three base64url segments.
var errCompact = errors.New("not a compact JWS: want three base64url segments")

// splitCompact returns the positions of the two dots of a compact JWS.
// The base64url decoder refuses every other byte outside its alphabet, but
// skips newlines, which would make tokens malleable: they are refused here.
func splitCompact(token string) (dot1, dot2 int, err error) {
	dot1 = strings.IndexByte(token, '.')
	if dot1 <= 0 {
		return 0, 0, errCompact
	}
	dot2 = strings.IndexByte(token[dot1+1:], '.') + dot1 + 1
	if dot2 <= dot1+1 || strings.IndexByte(token[dot2+1:], '.') >= 0 ||
		strings.IndexByte(token, '\n') >= 0 || strings.IndexByte(token, '\r') >= 0 {
		return 0, 0, errCompact
	}
	return dot1, dot2, nil
}

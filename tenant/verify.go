package tenant

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
// "" reads no org from tokens (Middleware then always asks its Directory).
// The path must be one the user cannot write: a path into user_metadata is
// a configuration error (HS256 panics, JWKS and StaticJWKS return an error).
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

// tokenClaims is the concrete claims type: parsing into it avoids the maps
// of jwt.MapClaims.
type tokenClaims struct {
	jwt.RegisteredClaims
	Email string `json:"email"`
	Role  string `json:"role"`
}

// supabaseClaims reads the default org claim path without a map.
type supabaseClaims struct {
	tokenClaims
	AppMetadata struct {
		OrgID string `json:"org_id"`
	} `json:"app_metadata"`
}

// validator is the part shared by all verifiers: one jwt.Parser built once,
// the org claim path and the post-parse checks.
type validator struct {
	parser  *jwt.Parser
	orgPath []string // nil: the default path, read by supabaseClaims
	noOrg   bool     // WithOrgClaim(""): no org is read from tokens
	roles   []string
}

func newValidator(c verifyConfig, methods []string) validator {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(c.leeway),
	}
	if c.audience != "" {
		opts = append(opts, jwt.WithAudience(c.audience))
	}
	if c.issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.issuer))
	}
	v := validator{parser: jwt.NewParser(opts...), roles: c.roles}
	switch c.orgClaim {
	case DefaultOrgClaim:
	case "":
		v.noOrg = true
	default:
		v.orgPath = strings.Split(c.orgClaim, ".")
	}
	return v
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

// verify parses and checks token with keyFunc.
func (v *validator) verify(token string, keyFunc jwt.Keyfunc) (Claims, error) {
	if len(token) > maxVerifyToken {
		return Claims{}, tokenError(ErrTokenTooLarge, nil)
	}
	switch {
	case v.noOrg:
		c := new(tokenClaims)
		if _, err := v.parser.ParseWithClaims(token, c, keyFunc); err != nil {
			return Claims{}, classify(err)
		}
		return v.check(c, "")
	case v.orgPath == nil:
		c := new(supabaseClaims)
		if _, err := v.parser.ParseWithClaims(token, c, keyFunc); err != nil {
			return Claims{}, classify(err)
		}
		return v.check(&c.tokenClaims, c.AppMetadata.OrgID)
	}
	c := &pathClaims{path: v.orgPath}
	if _, err := v.parser.ParseWithClaims(token, c, keyFunc); err != nil {
		return Claims{}, classify(err)
	}
	return v.check(&c.tokenClaims, c.org)
}

// check applies what jwt.Parser does not: sub required, role accepted.
func (v *validator) check(c *tokenClaims, org string) (Claims, error) {
	if c.Subject == "" {
		return Claims{}, tokenError(ErrTokenClaimMissing, errors.New("sub claim is required"))
	}
	if len(v.roles) > 0 && !slices.Contains(v.roles, c.Role) {
		return Claims{}, tokenError(ErrTokenRole, nil)
	}
	out := Claims{
		Subject: c.Subject,
		Email:   c.Email,
		Role:    c.Role,
		OrgID:   org,
		Issuer:  c.Issuer,
	}
	if c.ExpiresAt != nil {
		out.ExpiresAt = c.ExpiresAt.Time
	}
	return out, nil
}

// classify turns a golang-jwt error into a *TokenError, or passes on an
// *UnavailableError returned by a key function.
func classify(err error) error {
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return ue
	}
	var reason error
	switch {
	case errors.Is(err, ErrUnknownKey):
		reason = ErrUnknownKey
	case errors.Is(err, jwt.ErrTokenMalformed):
		reason = ErrTokenMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		reason = ErrTokenSignature
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		reason = ErrTokenClaimMissing
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		reason = ErrTokenAudience
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		reason = ErrTokenIssuer
	case errors.Is(err, jwt.ErrTokenExpired):
		reason = ErrTokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		reason = ErrTokenNotYetValid
	default:
		reason = ErrInvalidToken
	}
	return tokenError(reason, err)
}

package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/voxanne/resilience/tenant"
)

var errNoOrg = tenant.ErrNoOrg

// verifierFromConfig builds the token verifier: HS256 with JWTSecret (a
// random one for the run in Dev mode without it) or JWKS. Operators' tokens
// carry the staff role; users' the "authenticated" one.
func (a *App) verifierFromConfig() error {
	opts := []tenant.VerifyOption{tenant.WithRoles(tenant.DefaultRole, a.cfg.StaffRole)}
	if a.cfg.JWTIssuer != "" {
		opts = append(opts, tenant.WithIssuer(a.cfg.JWTIssuer))
	}
	var err error
	switch {
	case a.cfg.JWKSURL != "":
		a.verifier, err = tenant.JWKS(a.cfg.JWKSURL, opts...)
		if err != nil {
			return errors.New("SUPABASE_JWKS_URL: " + err.Error())
		}
		return nil
	case len(a.cfg.JWTSecret) == 0 && !a.cfg.Dev:
		return errors.New("JWT_SECRET: required (or SUPABASE_JWKS_URL) outside dev mode")
	case len(a.cfg.JWTSecret) == 0:
		a.secret = randomSecret(32)
	default:
		a.secret = a.cfg.JWTSecret
	}
	a.verifier, err = tenant.HS256(a.secret, opts...)
	if err != nil {
		return errors.New("JWT_SECRET: " + err.Error())
	}
	return nil
}

// auth is the tenant middleware: a verified token, an organisation from the
// claims, the directory or the provisioner, and refusals in the API's
// JSON, before any body is read.
func (a *App) auth() func(http.Handler) http.Handler {
	mw := tenant.Middleware(a.verifier,
		tenant.WithDirectory(timedDirectory{a.tenants, a.metrics}),
		tenant.WithProvisioner(timedProvisioner{a.tenants, a.metrics}),
		tenant.WithLogger(a.log),
		tenant.WithErrorHandler(a.authError))
	return func(next http.Handler) http.Handler {
		return mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t, _ := tenant.FromContext(r.Context())
			infoOf(r.Context()).org = t.OrgID
			a.metrics.tenantSources.WithLabelValues(t.Source.String()).Inc()
			next.ServeHTTP(w, r)
		}))
	}
}

// staffOnly refuses users without the staff role.
func (a *App) staffOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if t, _ := tenant.FromContext(r.Context()); t.Role != a.cfg.StaffRole {
			refuseEarly(w, r)
			writeError(w, r, http.StatusForbidden, "forbidden", "Only operators can do that.")
			return
		}
		next(w, r)
	}
}

// isStaff reports whether r carries a valid operator's token; it is how the
// health endpoint decides to show details.
func (a *App) isStaff(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	c, err := a.verifier.Verify(r.Context(), strings.TrimSpace(token))
	return err == nil && c.Role == a.cfg.StaffRole
}

func isExpired(err error) bool { return errors.Is(err, tenant.ErrTokenExpired) }

// DevToken mints a token for userID, signed with the server's HS256
// secret: a clinic user (role "authenticated", organisation made on first
// use) or, with the staff role, an operator. Only in Dev mode.
func (a *App) DevToken(userID, email, role string, ttl time.Duration) (string, error) {
	if !a.cfg.Dev || a.secret == nil {
		return "", errors.New("app: DevToken needs dev mode with an HS256 secret")
	}
	now := a.now()
	claims := jwt.MapClaims{
		"sub": userID, "email": email, "role": role, "aud": tenant.DefaultAudience,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	}
	if a.cfg.JWTIssuer != "" {
		claims["iss"] = a.cfg.JWTIssuer
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(a.secret)
}

// timedDirectory and timedProvisioner time the lookups of tokens without
// an organisation.
type timedDirectory struct {
	next tenant.Directory
	m    *metrics
}

func (d timedDirectory) OrgForUser(ctx context.Context, userID string) (string, error) {
	start := time.Now()
	org, err := d.next.OrgForUser(ctx, userID)
	d.m.lookup("directory", start, err)
	return org, err
}

type timedProvisioner struct {
	next tenant.Provisioner
	m    *metrics
}

func (p timedProvisioner) Provision(ctx context.Context, u tenant.Info) (string, error) {
	start := time.Now()
	org, err := p.next.Provision(ctx, u)
	p.m.lookup("provision", start, err)
	return org, err
}

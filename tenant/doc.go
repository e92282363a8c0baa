// Package tenant authenticates HTTP requests with a JWT and puts the
// request's tenant (user and organisation) in its context.
//
// A Verifier checks the token: HS256 for a shared secret, JWKS for RS256 and
// ES256 keys fetched from a URL (StaticJWKS for fixed keys). Verifiers pin
// their algorithms (alg "none" and the HS/RS confusion are refused), require
// exp and sub, honour nbf and iat with a small leeway (DefaultLeeway), check
// the audience ("authenticated" by default) and, when configured, the
// issuer, and accept only the "authenticated" role, which refuses
// Supabase's anon and service_role keys.
//
// Middleware extracts the token (Authorization: Bearer, optionally a
// cookie), verifies it and resolves the organisation:
//
//   - from the verified claim app_metadata.org_id (WithOrgClaim; a Supabase
//     custom access token hook that sets org_id at the top level needs
//     WithOrgClaim("org_id")), never from user_metadata, a header, the query
//     or the body (SourceClaim);
//   - otherwise from a Directory, cached per user for WithCacheTTL with one
//     lookup per user at a time (SourceDirectory);
//   - otherwise from a Provisioner that creates one (SourceProvisioned).
//
// Refusals are JSON {"error", "code"}: 401 for tokens, 403 when no
// organisation can be found, the user left it (WithMembershipCheck) or the
// token is an anonymous sign-in (unless WithAnonymous), 503 with
// Retry-After when the key set, Directory or Provisioner fails.
//
// Verifiers decode tokens strictly: three base64url segments, a JSON header
// without crit, claim names matched exactly (case included), NumericDate
// claims as JSON numbers, and no control characters or invalid UTF-8 in the
// claims they return.
//
//	v, err := tenant.HS256([]byte(os.Getenv("SUPABASE_JWT_SECRET")))
//	if err != nil { ... } // e.g. a secret shorter than 32 bytes
//	mw := tenant.Middleware(v,
//		tenant.WithDirectory(store), // tenant/sqlstore
//		tenant.WithProvisioner(store),
//		tenant.WithLogger(logger),
//	)
//	http.ListenAndServe(addr, mw(mux))
//
// Handlers read the tenant with FromContext. Nothing here starts a
// goroutine on construction or holds package-level state; verifiers and
// middleware are safe for concurrent use.
package tenant

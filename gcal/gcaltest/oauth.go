package gcaltest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// grant is the authorization behind a refresh token.
type grant struct {
	account string
	scope   string
	revoked bool
}

// accessToken is an issued access token.
type accessToken struct {
	account string
	refresh string // the grant's refresh token; "" for none
	expires time.Time
}

// authCode is an authorization code issued by the consent endpoint.
type authCode struct {
	account     string
	redirectURI string
	challenge   string
	method      string
	scope       string
	offline     bool
	prompt      bool // prompt=consent: a refresh token even if granted before
	expires     time.Time
	used        bool
}

// IssueToken grants offline access to account as if its owner had
// consented, and returns the token the token endpoint would have: a new
// refresh token and an access token that expires after TokenLifetime.
func (s *Server) IssueToken(account string) *oauth2.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	refresh := s.newGrant(account, "https://www.googleapis.com/auth/calendar.events")
	return s.newAccessToken(account, refresh)
}

// Revoke revokes the grant behind token, a refresh or an access token, as
// a user removing the app's access does: the refresh token is refused
// with invalid_grant from now on and its access tokens are rejected. It
// reports whether token was known.
func (s *Server) Revoke(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revokeLocked(token)
}

func (s *Server) revokeLocked(token string) bool {
	refresh := token
	if at, ok := s.access[token]; ok {
		delete(s.access, token)
		refresh = at.refresh
	}
	g, ok := s.grants[refresh]
	if !ok {
		return refresh != token // an access token without a grant
	}
	g.revoked = true
	for tok, at := range s.access {
		if at.refresh == refresh {
			delete(s.access, tok)
		}
	}
	return true
}

// ExpireAccessTokens makes every access token issued so far expire now, so
// that the next API request with one is answered 401.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, at := range s.access {
		at.expires = now
	}
}

// newGrant records a grant and returns its refresh token; s.mu is held.
func (s *Server) newGrant(account, scope string) string {
	refresh := "1//gcaltest-" + randomToken()
	s.grants[refresh] = &grant{account: account, scope: scope}
	s.consented[account] = true
	return refresh
}

// newAccessToken issues an access token; s.mu is held.
func (s *Server) newAccessToken(account, refresh string) *oauth2.Token {
	tok := "ya29.gcaltest-" + randomToken()
	expires := s.now().Add(s.lifetime)
	s.access[tok] = &accessToken{account: account, refresh: refresh, expires: expires}
	return &oauth2.Token{
		AccessToken:  tok,
		TokenType:    "Bearer",
		RefreshToken: refresh,
		Expiry:       expires,
		ExpiresIn:    int64(s.lifetime / time.Second),
	}
}

// authorize returns the account of the request's access token, or answers
// 401 as Google does and returns "".
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, rec *Request) string {
	tok := bearer(r)
	if tok == "" {
		writeAPIError(w, http.StatusUnauthorized, "required",
			"Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "")
		return ""
	}
	s.mu.Lock()
	at, ok := s.access[tok]
	valid := ok && s.now().Before(at.expires)
	s.mu.Unlock()
	if !valid {
		writeAPIError(w, http.StatusUnauthorized, "authError",
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "")
		return ""
	}
	rec.Account = at.account
	return at.account
}

// token serves the token endpoint: the authorization_code grant (with PKCE)
// and the refresh_token grant.
func (s *Server) token(w http.ResponseWriter, r *http.Request, rec *Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Malformed request body.")
		return
	}
	rec.Grant = r.PostForm.Get("grant_type")
	if !s.clientAuthenticated(r) {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Unauthorized")
		return
	}
	switch rec.Grant {
	case "authorization_code":
		s.exchangeCode(w, r, rec)
	case "refresh_token":
		s.refresh(w, r, rec)
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+rec.Grant)
	}
}

// clientAuthenticated checks the client credentials, sent in the body or
// with HTTP Basic authentication (whose parts are form-encoded).
func (s *Server) clientAuthenticated(r *http.Request) bool {
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	}
	return id == s.clientID && subtle.ConstantTimeCompare([]byte(secret), []byte(s.clientSecret)) == 1
}

func (s *Server) exchangeCode(w http.ResponseWriter, r *http.Request, rec *Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[r.PostForm.Get("code")]
	if ok {
		rec.Account = c.account
	}
	switch {
	case !ok:
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Malformed auth code.")
		return
	case c.used:
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Bad Request: the code was already redeemed.")
		return
	case !s.now().Before(c.expires):
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Bad Request: the code has expired.")
		return
	case r.PostForm.Get("redirect_uri") != c.redirectURI:
		writeOAuthError(w, http.StatusBadRequest, "redirect_uri_mismatch", "Bad Request")
		return
	}
	c.used = true
	if c.challenge != "" {
		verifier := r.PostForm.Get("code_verifier")
		if verifier == "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Missing code verifier.")
			return
		}
		if !pkceMatches(c.method, c.challenge, verifier) {
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Invalid code verifier.")
			return
		}
	}
	refresh := ""
	if c.offline && (c.prompt || !s.consented[c.account]) {
		refresh = s.newGrant(c.account, c.scope)
	}
	tok := s.newAccessToken(c.account, refresh)
	writeJSON(w, http.StatusOK, tokenResponse(tok, c.scope))
}

// pkceMatches checks a code verifier against the challenge of RFC 7636.
func pkceMatches(method, challenge, verifier string) bool {
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		verifier = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(verifier), []byte(challenge)) == 1
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request, rec *Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	refresh := r.PostForm.Get("refresh_token")
	g, ok := s.grants[refresh]
	if ok {
		rec.Account = g.account
	}
	if !ok || g.revoked {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
		return
	}
	tok := s.newAccessToken(g.account, refresh)
	tok.RefreshToken = "" // Google sends none on refresh
	writeJSON(w, http.StatusOK, tokenResponse(tok, g.scope))
}

func tokenResponse(tok *oauth2.Token, scope string) map[string]any {
	body := map[string]any{
		"access_token": tok.AccessToken,
		"expires_in":   tok.ExpiresIn,
		"scope":        scope,
		"token_type":   "Bearer",
	}
	if tok.RefreshToken != "" {
		body["refresh_token"] = tok.RefreshToken
	}
	return body
}

// revoke serves the revocation endpoint.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request, rec *Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Malformed request body.")
		return
	}
	if !s.Revoke(r.Form.Get("token")) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_token", "Token expired or revoked")
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// consentAccount is the account that approves a consent request: the one
// named by login_hint, which Google preselects, or the current account.
func (s *Server) consentAccount(q url.Values) string {
	if hint := q.Get("login_hint"); hint != "" {
		return hint
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.account
}

// consent serves the consent screen: the account named by login_hint, or
// else the one set with SetAccount, approves at once, and the browser is
// redirected with a code.
func (s *Server) consent(w http.ResponseWriter, r *http.Request, rec *Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case q.Get("client_id") != s.clientID:
		http.Error(w, "Error 401: invalid_client. The OAuth client was not found.", http.StatusUnauthorized)
		return
	case err != nil || !redirect.IsAbs():
		http.Error(w, "Error 400: invalid_request. Missing or invalid redirect_uri.", http.StatusBadRequest)
		return
	case q.Get("response_type") != "code":
		http.Error(w, "Error 400: unsupported_response_type.", http.StatusBadRequest)
		return
	case q.Get("scope") == "":
		http.Error(w, "Error 400: invalid_request. Missing required parameter: scope", http.StatusBadRequest)
		return
	}
	method := q.Get("code_challenge_method") // "" is plain
	if method != "" && method != "S256" && method != "plain" {
		http.Error(w, "Error 400: invalid_request. Invalid code_challenge_method.", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	if st := q.Get("state"); st != "" {
		back.Set("state", st)
	}
	if f := rec.fault; f != nil && f.Reason != "" {
		back.Set("error", f.Reason)
		redirect.RawQuery = back.Encode()
		http.Redirect(w, r, redirect.String(), http.StatusFound)
		return
	}
	account := s.consentAccount(q)
	s.mu.Lock()
	code := "4/gcaltest-" + randomToken()
	s.codes[code] = &authCode{
		account:     account,
		redirectURI: q.Get("redirect_uri"),
		challenge:   q.Get("code_challenge"),
		method:      method,
		scope:       q.Get("scope"),
		offline:     q.Get("access_type") == "offline",
		prompt:      strings.Contains(q.Get("prompt"), "consent"),
		expires:     s.now().Add(CodeLifetime),
	}
	rec.Account = account
	s.mu.Unlock()
	back.Set("code", code)
	back.Set("scope", q.Get("scope"))
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// ConsentError is what Consent returns when the consent endpoint redirects
// back with an OAuth error, such as "access_denied".
type ConsentError struct {
	Code string
}

func (e *ConsentError) Error() string { return "gcaltest: consent refused: " + e.Code }

// Consent plays the browser on authURL, the consent URL an application
// built (with the AuthURL of this server): it follows it to the consent
// endpoint, which approves as the account of its login_hint or else the
// current account, and returns the code
// and state that the redirect would deliver to the application's callback.
func (s *Server) Consent(ctx context.Context, authURL string) (code, state string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return "", "", err
	}
	c := *s.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return "", "", err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return "", "", fmt.Errorf("gcaltest: consent: %s", resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", "", err
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return "", q.Get("state"), &ConsentError{Code: e}
	}
	if q.Get("code") == "" {
		return "", "", errors.New("gcaltest: consent: no code in the redirect")
	}
	return q.Get("code"), q.Get("state"), nil
}

// randomToken returns 128 random bits, base64url-encoded.
func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

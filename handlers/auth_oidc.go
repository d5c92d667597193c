package handlers

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/mayflyhq/mayfly/envs"
)

// OIDCConfig is how Mayfly signs people in with an OpenID Connect provider.
type OIDCConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is this server's callback, <external URL>/auth/callback.
	RedirectURL string
	// Scopes are requested besides "openid" (default: profile, email,
	// groups, offline_access: the refresh token re-checks membership).
	Scopes []string
	// GroupsClaim names the claim that lists the user's groups (default
	// "groups"), in the ID token or, when the ID token has none, in the
	// provider's userinfo answer.
	GroupsClaim string
	// HTTPClient talks to the provider (default http.DefaultClient).
	HTTPClient *http.Client
	// Now is the clock that checks token expiry (default time.Now).
	Now func() time.Time
}

// OIDC is a discovered OpenID provider: the OAuth2 client (authorization
// code flow with PKCE) and the ID token verifier (signature, issuer,
// audience, expiry).
type OIDC struct {
	cfg      OIDCConfig
	provider *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// NewOIDC discovers the provider's endpoints and keys.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.Scopes == nil {
		cfg.Scopes = []string{"profile", "email", "groups", oidc.ScopeOfflineAccess}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("handlers: discover OpenID provider %s: %w", cfg.Issuer, err)
	}
	o := &OIDC{cfg: cfg, provider: p}
	o.oauth = oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RedirectURL: cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: append([]string{oidc.ScopeOpenID}, cfg.Scopes...)}
	o.verifier = p.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: cfg.Now})
	return o, nil
}

// AuthURL is where the browser goes to sign in.
func (o *OIDC) AuthURL(state, nonce, verifier string) string {
	return o.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
}

// Exchange trades the authorization code (with the PKCE verifier) for
// tokens and returns the verified claims of the ID token, with the grant
// (refresh and access tokens) that re-checks them later. When the ID token
// does not carry the groups claim (many providers keep groups, and
// sometimes e-mail and name, for the userinfo endpoint), the userinfo
// endpoint is asked with the access token for what is missing.
func (o *OIDC) Exchange(ctx context.Context, code, verifier, nonce string) (envs.Claims, error) {
	ctx = oidc.ClientContext(ctx, o.cfg.HTTPClient)
	tok, err := o.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return envs.Claims{}, fmt.Errorf("handlers: exchange the code: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return envs.Claims{}, errors.New("handlers: the provider returned no ID token")
	}
	c, hasGroups, err := o.verify(ctx, raw, &nonce)
	if err != nil {
		return envs.Claims{}, err
	}
	if !hasGroups {
		if _, err := o.addUserInfo(ctx, tok, &c); err != nil {
			return envs.Claims{}, err
		}
	}
	c.Grant = grantOf(tok)
	return c, nil
}

func grantOf(tok *oauth2.Token) envs.Grant {
	return envs.Grant{RefreshToken: tok.RefreshToken, AccessToken: tok.AccessToken, AccessExpiry: tok.Expiry}
}

// Recheck asks the provider about subject again (envs.IdentityProvider):
// with the refresh token when there is one (the answer's ID token, or else
// userinfo, says who they are now; a rotated refresh token is kept), else
// at userinfo with the access token while it is valid. invalid_grant or a
// 401/403 is the provider refusing (the person was removed or disabled);
// anything else, such as a network error or a 5xx, is the provider being
// unreachable.
func (o *OIDC) Recheck(ctx context.Context, subject string, g envs.Grant) (envs.Claims, error) {
	ctx = oidc.ClientContext(ctx, o.cfg.HTTPClient)
	tok := &oauth2.Token{AccessToken: g.AccessToken, Expiry: g.AccessExpiry, RefreshToken: g.RefreshToken}
	var c envs.Claims
	if g.RefreshToken != "" {
		// Without an access token the token source refreshes at once.
		fresh, err := o.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: g.RefreshToken}).Token()
		if err != nil {
			var re *oauth2.RetrieveError
			if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || refusedStatus(re.Response)) {
				return envs.Claims{}, fmt.Errorf("handlers: refresh: %w: %v", envs.ErrIdentityRefused, err)
			}
			return envs.Claims{}, fmt.Errorf("handlers: refresh: %w", err)
		}
		tok = fresh
		if raw, _ := tok.Extra("id_token").(string); raw != "" {
			got, hasGroups, err := o.verify(ctx, raw, nil)
			if err != nil {
				return envs.Claims{}, err
			}
			if got.Subject != subject {
				return envs.Claims{}, errors.New("handlers: refresh: the ID token is about another subject")
			}
			c = got
			if hasGroups {
				c.Grant = grantOf(tok)
				return c, nil
			}
		}
	} else if g.AccessToken == "" || !o.cfg.Now().Before(g.AccessExpiry) {
		return envs.Claims{}, envs.ErrNoGrant
	}
	c.Subject = subject
	all, err := o.addUserInfo(ctx, tok, &c)
	if err != nil {
		return envs.Claims{}, err
	}
	if all == nil {
		// No userinfo endpoint and no ID token with groups: nothing says
		// what the groups are now.
		return envs.Claims{}, fmt.Errorf("handlers: re-check: %w (the provider has no userinfo endpoint)", envs.ErrNoGrant)
	}
	c.Grant = grantOf(tok)
	return c, nil
}

func refusedStatus(r *http.Response) bool {
	return r != nil && (r.StatusCode == http.StatusUnauthorized || r.StatusCode == http.StatusForbidden)
}

// addUserInfo fills the groups, and the e-mail address (with whether it is
// verified) and name when the ID token had none, from the userinfo
// endpoint, and returns its answer. A provider without one has nothing
// more to say: the user simply has no groups (and the answer is nil).
func (o *OIDC) addUserInfo(ctx context.Context, tok *oauth2.Token, c *envs.Claims) (map[string]any, error) {
	if o.provider.UserInfoEndpoint() == "" {
		return nil, nil
	}
	// The status of the answer tells a refusal (401: the token or the
	// person is no longer valid) from an outage; go-oidc keeps it in an
	// error string, so this request records it on the way.
	base := o.cfg.HTTPClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	var status int
	hc := *o.cfg.HTTPClient
	hc.Transport = statusRecorder{base: base, status: &status}
	ui, err := o.provider.UserInfo(oidc.ClientContext(ctx, &hc), oauth2.StaticTokenSource(tok))
	if err != nil {
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			return nil, fmt.Errorf("handlers: userinfo: %w: HTTP %d", envs.ErrIdentityRefused, status)
		}
		return nil, fmt.Errorf("handlers: userinfo: %w", err)
	}
	// OpenID Connect Core 5.3.2: the answer must be about the same person.
	if ui.Subject != c.Subject {
		return nil, errors.New("handlers: userinfo: the subject does not match the ID token's")
	}
	var all map[string]any
	if err := ui.Claims(&all); err != nil {
		return nil, fmt.Errorf("handlers: userinfo claims: %w", err)
	}
	more, _ := o.claims(all)
	c.Groups = more.Groups
	if c.Email == "" {
		c.Email, c.EmailVerified = more.Email, more.EmailVerified
	}
	c.Name = cmp.Or(c.Name, more.Name)
	return all, nil
}

// statusRecorder notes the status of the response to the one request of
// its client.
type statusRecorder struct {
	base   http.RoundTripper
	status *int
}

func (r statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err == nil {
		*r.status = resp.StatusCode
	}
	return resp, err
}

// Verify checks an ID token (signature, issuer, audience, expiry, nonce)
// and returns its claims.
func (o *OIDC) Verify(ctx context.Context, raw, nonce string) (envs.Claims, error) {
	c, _, err := o.verify(ctx, raw, &nonce)
	return c, err
}

// verify is Verify that also tells whether the token carries the groups
// claim at all (an empty list counts: the provider said "none"). A nil
// nonce is a refreshed ID token's, which carries none of its own.
func (o *OIDC) verify(ctx context.Context, raw string, nonce *string) (envs.Claims, bool, error) {
	ctx = oidc.ClientContext(ctx, o.cfg.HTTPClient)
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return envs.Claims{}, false, fmt.Errorf("handlers: ID token: %w", err)
	}
	if nonce != nil && idt.Nonce != *nonce {
		return envs.Claims{}, false, errors.New("handlers: ID token: nonce does not match this sign-in")
	}
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return envs.Claims{}, false, fmt.Errorf("handlers: ID token claims: %w", err)
	}
	c, hasGroups := o.claims(all)
	c.Issuer, c.Subject = idt.Issuer, idt.Subject
	return c, hasGroups, nil
}

// claims reads e-mail (and whether it is verified), name and groups (from
// the configured claim, a list of strings or one string) out of an ID
// token's or userinfo's claims, and whether the groups claim was there.
func (o *OIDC) claims(all map[string]any) (envs.Claims, bool) {
	var c envs.Claims
	c.Email, _ = all["email"].(string)
	// A boolean, or a string from providers that get it wrong (Cognito).
	switch v := all["email_verified"].(type) {
	case bool:
		c.EmailVerified = &v
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			c.EmailVerified = &b
		}
	}
	c.Name, _ = all["name"].(string)
	if c.Name == "" {
		c.Name, _ = all["preferred_username"].(string)
	}
	g, ok := all[o.cfg.GroupsClaim]
	switch g := g.(type) {
	case []any:
		for _, v := range g {
			if s, ok := v.(string); ok {
				c.Groups = append(c.Groups, s)
			}
		}
	case string:
		c.Groups = []string{g}
	}
	return c, ok
}

// randomString is a URL-safe random value with 256 bits of entropy.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

package handlers

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
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
	// Scopes are requested besides "openid" (default: profile, email, groups).
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
		cfg.Scopes = []string{"profile", "email", "groups"}
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
// tokens and returns the verified claims of the ID token. When the ID token
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
	c, hasGroups, err := o.verify(ctx, raw, nonce)
	if err != nil || hasGroups {
		return c, err
	}
	if err := o.addUserInfo(ctx, tok, &c); err != nil {
		return envs.Claims{}, err
	}
	return c, nil
}

// addUserInfo fills the groups, and the e-mail address and name when the
// ID token had none, from the userinfo endpoint. A provider without one
// has nothing more to say: the user simply has no groups.
func (o *OIDC) addUserInfo(ctx context.Context, tok *oauth2.Token, c *envs.Claims) error {
	if o.provider.UserInfoEndpoint() == "" {
		return nil
	}
	ui, err := o.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return fmt.Errorf("handlers: userinfo: %w", err)
	}
	// OpenID Connect Core 5.3.2: the answer must be about the same person.
	if ui.Subject != c.Subject {
		return errors.New("handlers: userinfo: the subject does not match the ID token's")
	}
	var all map[string]any
	if err := ui.Claims(&all); err != nil {
		return fmt.Errorf("handlers: userinfo claims: %w", err)
	}
	more, _ := o.claims(all)
	c.Groups = more.Groups
	c.Email = cmp.Or(c.Email, more.Email)
	c.Name = cmp.Or(c.Name, more.Name)
	return nil
}

// Verify checks an ID token (signature, issuer, audience, expiry, nonce)
// and returns its claims.
func (o *OIDC) Verify(ctx context.Context, raw, nonce string) (envs.Claims, error) {
	c, _, err := o.verify(ctx, raw, nonce)
	return c, err
}

// verify is Verify that also tells whether the token carries the groups
// claim at all (an empty list counts: the provider said "none").
func (o *OIDC) verify(ctx context.Context, raw, nonce string) (envs.Claims, bool, error) {
	ctx = oidc.ClientContext(ctx, o.cfg.HTTPClient)
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return envs.Claims{}, false, fmt.Errorf("handlers: ID token: %w", err)
	}
	if idt.Nonce != nonce {
		return envs.Claims{}, false, errors.New("handlers: ID token: nonce does not match this sign-in")
	}
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return envs.Claims{}, false, fmt.Errorf("handlers: ID token claims: %w", err)
	}
	c, hasGroups := o.claims(all)
	c.Subject = idt.Subject
	return c, hasGroups, nil
}

// claims reads e-mail, name and groups (from the configured claim, a list
// of strings or one string) out of an ID token's or userinfo's claims, and
// whether the groups claim was there.
func (o *OIDC) claims(all map[string]any) (envs.Claims, bool) {
	var c envs.Claims
	c.Email, _ = all["email"].(string)
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

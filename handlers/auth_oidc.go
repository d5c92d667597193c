package handlers

import (
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
	// GroupsClaim names the ID token claim that lists the user's groups
	// (default "groups").
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
	o := &OIDC{cfg: cfg}
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
// tokens and returns the verified claims of the ID token.
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
	return o.Verify(ctx, raw, nonce)
}

// Verify checks an ID token (signature, issuer, audience, expiry, nonce)
// and returns its claims.
func (o *OIDC) Verify(ctx context.Context, raw, nonce string) (envs.Claims, error) {
	ctx = oidc.ClientContext(ctx, o.cfg.HTTPClient)
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return envs.Claims{}, fmt.Errorf("handlers: ID token: %w", err)
	}
	if idt.Nonce != nonce {
		return envs.Claims{}, errors.New("handlers: ID token: nonce does not match this sign-in")
	}
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return envs.Claims{}, fmt.Errorf("handlers: ID token claims: %w", err)
	}
	c := envs.Claims{Subject: idt.Subject}
	c.Email, _ = all["email"].(string)
	c.Name, _ = all["name"].(string)
	if c.Name == "" {
		c.Name, _ = all["preferred_username"].(string)
	}
	switch g := all[o.cfg.GroupsClaim].(type) {
	case []any:
		for _, v := range g {
			if s, ok := v.(string); ok {
				c.Groups = append(c.Groups, s)
			}
		}
	case string:
		c.Groups = []string{g}
	}
	return c, nil
}

// randomString is a URL-safe random value with 256 bits of entropy.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

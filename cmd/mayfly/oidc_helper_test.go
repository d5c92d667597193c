package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	opstorage "github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// testOP is a real OpenID provider (zitadel/oidc's op package with its
// example in-memory storage and login form) for the sign-in tests. Its
// users have a password and groups; its clients are Mayfly ("mayfly") and
// another application ("other").
type testOP struct {
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	redirect map[string]string        // client id -> redirect URL
	lifetime map[string]time.Duration // client id -> ID token lifetime (0: default)
	// groupsClaim names the claim listing a user's groups ("groups").
	// With userinfoOnly the ID token carries no profile, e-mail or groups
	// claims: they are only in the userinfo endpoint's answer.
	groupsClaim   string
	userinfoOnly  bool
	userinfoCalls int
	userinfoFails bool // the userinfo endpoint answers with an error
}

const (
	opClientID     = "mayfly"
	opClientSecret = "mayfly-secret"
	opPassword     = "verysecure"
)

// opUsers: username -> groups.
var opUsers = map[string][]string{
	"ada":   {"mayfly-admins", "team-platform"},
	"bob":   {"developers", "team-shop"},
	"carol": {"developers", "team-data"},
	"dave":  {"authors"},
	"gina":  {"authors", "team-shop"},
	"erin":  {"everyone"},
	"frank": {},
}

func startOP(t *testing.T) *testOP {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	o := &testOP{URL: issuer, srv: srv, redirect: map[string]string{}, lifetime: map[string]time.Duration{}, groupsClaim: "groups"}
	users := opUserStore{}
	for name := range opUsers {
		users[name] = &opstorage.User{ID: "sub-" + name, Username: name, Password: opPassword, FirstName: strings.ToUpper(name[:1]) + name[1:],
			LastName: "Test", Email: name + "@example.com", EmailVerified: true, PreferredLanguage: language.English}
	}
	clients := map[string]*opstorage.Client{}
	for _, id := range []string{opClientID, "other"} {
		clients[id] = opstorage.WebClient(id, opClientSecret, "http://placeholder/")
	}
	st := &opStore{Storage: opstorage.NewStorageWithClients(users, clients), op: o}
	// The example server sets slog's default logger; a discarding one keeps
	// the test output quiet.
	router := exampleop.SetupServer(issuer, st, slog.New(slog.DiscardHandler), false)
	srv.Config.Handler = router
	srv.Start()
	t.Cleanup(srv.Close)
	return o
}

// setClient sets a client's redirect URL and ID token lifetime.
func (o *testOP) setClient(id, redirect string, lifetime time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.redirect[id] = redirect
	o.lifetime[id] = lifetime
}

// claimsInUserinfo makes the provider name the groups claim claim and, if
// only is set, keep profile, e-mail and groups out of ID tokens (they are
// then only in the userinfo answer), as some providers do.
func (o *testOP) claimsInUserinfo(claim string, only bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.groupsClaim, o.userinfoOnly = claim, only
}

// userinfoServed is how many userinfo requests the provider answered.
func (o *testOP) userinfoServed() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.userinfoCalls
}

// groups returns the groups claim's name and a user's groups.
func (o *testOP) groups(subject string) (string, []string) {
	groups := opUsers[strings.TrimPrefix(subject, "sub-")]
	if groups == nil {
		groups = []string{}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.groupsClaim, groups
}

// opUserStore implements the example storage's UserStore.
type opUserStore map[string]*opstorage.User

func (u opUserStore) GetUserByID(id string) *opstorage.User {
	for _, v := range u {
		if v.ID == id {
			return v
		}
	}
	return nil
}
func (u opUserStore) GetUserByUsername(name string) *opstorage.User { return u[name] }
func (u opUserStore) ExampleClientID() string                       { return opClientID }

// opStore adds a groups claim to ID tokens and userinfo answers and lets
// the tests set the clients' redirect URLs and token lifetimes.
type opStore struct {
	*opstorage.Storage
	op *testOP
}

func (s *opStore) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	s.op.mu.Lock()
	only := s.op.userinfoOnly
	s.op.mu.Unlock()
	if only {
		return nil
	}
	for _, sc := range scopes {
		if sc == "groups" {
			ui.AppendClaims(s.op.groups(req.GetSubject()))
		}
	}
	return nil
}

// SetUserinfoFromToken answers the userinfo endpoint.
func (s *opStore) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	s.op.mu.Lock()
	s.op.userinfoCalls++
	fails := s.op.userinfoFails
	s.op.mu.Unlock()
	if fails {
		return errors.New("userinfo is down for the test")
	}
	if err := s.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	ui.AppendClaims(s.op.groups(subject))
	return nil
}

func (s *opStore) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	s.op.mu.Lock()
	defer s.op.mu.Unlock()
	return opClient{Client: c, redirect: s.op.redirect[id], lifetime: s.op.lifetime[id], userinfoOnly: s.op.userinfoOnly}, nil
}

type opClient struct {
	op.Client
	redirect     string
	lifetime     time.Duration
	userinfoOnly bool
}

func (c opClient) RedirectURIs() []string { return []string{c.redirect} }
func (c opClient) IsScopeAllowed(scope string) bool {
	return scope == "groups" || c.Client.IsScopeAllowed(scope)
}
func (c opClient) IDTokenUserinfoClaimsAssertion() bool { return !c.userinfoOnly }
func (c opClient) IDTokenLifetime() time.Duration {
	if c.lifetime != 0 {
		return c.lifetime
	}
	return c.Client.IDTokenLifetime()
}

// startSignIn runs the real Main with sign-in through the test provider.
// Groups map: mayfly-admins -> admin, authors -> author, developers ->
// member, everyone -> viewer; team-* -> the team (team-tests owns the
// templates the tests publish, owner: tests).
func startSignIn(t *testing.T, o *testOP, extra ...string) *testServer {
	t.Helper()
	return runTestMain(t, signInConfig(t, o, extra...))
}

// signInConfig is startSignIn's configuration, for tests that change
// settings without a flag before running it.
func signInConfig(t *testing.T, o *testOP, extra ...string) Config {
	t.Helper()
	addr := freeAddr(t)
	o.setClient(opClientID, "http://"+addr+"/auth/callback", 0)
	args := append([]string{"--addr", addr, "--data-dir", t.TempDir(), "--log-level", "warn",
		"--database-url", storagetest.URL(t),
		"--reaper-sweep-interval", "1s", "--stop-grace", "2s",
		"--oidc-issuer", o.URL, "--oidc-client-id", opClientID, "--oidc-client-secret", opClientSecret,
		"--role-groups", "mayfly-admins=admin,authors=author,developers=member,everyone=viewer",
		"--team-groups", "team-platform=platform,team-shop=shop,team-data=data,team-tests=tests",
		// With sign-in, local is off unless listed; the tests launch local
		// templates.
		"--providers", "local"}, extra...)
	cfg, err := ParseConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// browserless is an HTTP client with a cookie jar, as a browser without
// JavaScript would be.
func browserless(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// loginAtOP follows a sign-in from authURL through the provider's login
// form as user, and returns the response at the end of the redirects (the
// client follows them, including back to the application).
func loginAtOP(t *testing.T, c *http.Client, authURL, user string) *http.Response {
	t.Helper()
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatalf("GET %s: %v", authURL, err)
	}
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("the provider did not show its login form: at %s (status %d)", resp.Request.URL, resp.StatusCode)
	}
	form := url.Values{"username": {user}, "password": {opPassword}, "id": {id}}
	loginURL := resp.Request.URL.Scheme + "://" + resp.Request.URL.Host + "/login/username"
	resp, err = c.PostForm(loginURL, form)
	if err != nil {
		t.Fatalf("POST login: %v", err)
	}
	return resp
}

package main

import (
	"context"
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
	"erin":  {"everyone"},
	"frank": {},
}

func startOP(t *testing.T) *testOP {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	o := &testOP{URL: issuer, srv: srv, redirect: map[string]string{}, lifetime: map[string]time.Duration{}}
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

// opStore adds a "groups" claim to ID tokens and lets the tests set the
// clients' redirect URLs and token lifetimes.
type opStore struct {
	*opstorage.Storage
	op *testOP
}

func (s *opStore) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	for _, sc := range scopes {
		if sc == "groups" {
			name := strings.TrimPrefix(req.GetSubject(), "sub-")
			groups := opUsers[name]
			if groups == nil {
				groups = []string{}
			}
			ui.AppendClaims("groups", groups)
		}
	}
	return nil
}

func (s *opStore) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	s.op.mu.Lock()
	defer s.op.mu.Unlock()
	return opClient{Client: c, redirect: s.op.redirect[id], lifetime: s.op.lifetime[id]}, nil
}

type opClient struct {
	op.Client
	redirect string
	lifetime time.Duration
}

func (c opClient) RedirectURIs() []string { return []string{c.redirect} }
func (c opClient) IsScopeAllowed(scope string) bool {
	return scope == "groups" || c.Client.IsScopeAllowed(scope)
}
func (c opClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c opClient) IDTokenLifetime() time.Duration {
	if c.lifetime != 0 {
		return c.lifetime
	}
	return c.Client.IDTokenLifetime()
}

// startSignIn runs the real Main with sign-in through the test provider.
// Groups map: mayfly-admins -> admin, authors -> author, developers ->
// member, everyone -> viewer; team-* -> the team.
func startSignIn(t *testing.T, o *testOP, extra ...string) *testServer {
	t.Helper()
	addr := freeAddr(t)
	o.setClient(opClientID, "http://"+addr+"/auth/callback", 0)
	args := append([]string{"--addr", addr, "--data-dir", t.TempDir(), "--log-level", "warn",
		"--reaper-sweep-interval", "1s", "--stop-grace", "2s",
		"--oidc-issuer", o.URL, "--oidc-client-id", opClientID, "--oidc-client-secret", opClientSecret,
		"--role-groups", "mayfly-admins=admin,authors=author,developers=member,everyone=viewer",
		"--team-groups", "team-platform=platform,team-shop=shop,team-data=data"}, extra...)
	cfg, err := ParseConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return runTestMain(t, cfg)
}

func runTestMain(t *testing.T, cfg Config) *testServer {
	t.Helper()
	m := NewMain(cfg)
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := &testServer{Main: m, t: t, url: m.URL()}
	// Close first: once the orchestrator has stopped, no provision job can
	// start a process after destroyAll has looked for stacks.
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		s.destroyAll()
	})
	return s
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

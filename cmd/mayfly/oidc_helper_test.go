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
	"slices"
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
// another application ("other"). It issues refresh tokens (with the
// offline_access scope, rotated at each use); tests change users' groups,
// delete users and take the provider down.
type testOP struct {
	URL   string
	srv   *httptest.Server
	users *opUserStore

	mu        sync.Mutex
	groupsOf  map[string][]string      // username -> groups (from opUsers)
	down      bool                     // every request fails: the connection is closed
	refreshes int                      // refresh token requests answered
	redirect  map[string]string        // client id -> redirect URL
	lifetime  map[string]time.Duration // client id -> ID token lifetime (0: default)
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
	"ivy":   {"mayfly-admins"},
	// Other accounts with bob's e-mail address (opEmails).
	"mallory": {"developers"},
	"robert":  {"developers"},
}

// opEmails overrides the e-mail address (name@example.com, verified) of
// some users: mallory claims bob's address without having verified it,
// robert has it verified at another account.
var opEmails = map[string]struct {
	email    string
	verified bool
}{
	"mallory": {"bob@example.com", false},
	"robert":  {"bob@example.com", true},
}

func startOP(t *testing.T) *testOP {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	o := &testOP{URL: issuer, srv: srv, redirect: map[string]string{}, lifetime: map[string]time.Duration{}, groupsClaim: "groups",
		groupsOf: map[string][]string{}, users: &opUserStore{users: map[string]*opstorage.User{}}}
	for name, groups := range opUsers {
		u := &opstorage.User{ID: "sub-" + name, Username: name, Password: opPassword, FirstName: strings.ToUpper(name[:1]) + name[1:],
			LastName: "Test", Email: name + "@example.com", EmailVerified: true, PreferredLanguage: language.English}
		if e, ok := opEmails[name]; ok {
			u.Email, u.EmailVerified = e.email, e.verified
		}
		o.users.users[name] = u
		o.groupsOf[name] = slices.Clone(groups)
	}
	clients := map[string]*opstorage.Client{}
	for _, id := range []string{opClientID, "other"} {
		clients[id] = opstorage.WebClient(id, opClientSecret, "http://placeholder/")
	}
	st := &opStore{Storage: opstorage.NewStorageWithClients(o.users, clients), op: o}
	// The example server sets slog's default logger; a discarding one keeps
	// the test output quiet.
	router := exampleop.SetupServer(issuer, st, slog.New(slog.DiscardHandler), false)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		down := o.down
		o.mu.Unlock()
		if down {
			// As a provider that cannot be reached: no answer at all.
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		router.ServeHTTP(w, r)
	})
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
	o.mu.Lock()
	defer o.mu.Unlock()
	groups := o.groupsOf[strings.TrimPrefix(subject, "sub-")]
	if groups == nil {
		groups = []string{}
	}
	return o.groupsClaim, slices.Clone(groups)
}

// setGroups changes a user's groups at the provider.
func (o *testOP) setGroups(user string, groups ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.groupsOf[user] = groups
}

// deleteUser removes a user: their refresh tokens are refused from now on.
func (o *testOP) deleteUser(user string) {
	o.users.mu.Lock()
	defer o.users.mu.Unlock()
	delete(o.users.users, user)
}

// setDown makes the provider unreachable (or reachable again).
func (o *testOP) setDown(down bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down = down
}

// refreshCount is how many refresh token requests the provider accepted.
func (o *testOP) refreshCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.refreshes
}

// opUserStore implements the example storage's UserStore; tests delete
// users while the provider runs.
type opUserStore struct {
	mu    sync.Mutex
	users map[string]*opstorage.User
}

func (u *opUserStore) GetUserByID(id string) *opstorage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, v := range u.users {
		if v.ID == id {
			return v
		}
	}
	return nil
}
func (u *opUserStore) GetUserByUsername(name string) *opstorage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.users[name]
}
func (u *opUserStore) ExampleClientID() string { return opClientID }

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
	s.unverified(ui)
	return nil
}

// unverified says email_verified: false outright, which the example
// storage leaves out (a false value is omitted from its JSON).
func (s *opStore) unverified(ui *oidc.UserInfo) {
	if u := s.op.users.GetUserByID(ui.Subject); u != nil && ui.Email != "" && !u.EmailVerified {
		ui.AppendClaims("email_verified", false)
	}
}

// TokenRequestByRefreshToken refuses the refresh tokens of deleted users
// (the provider answers invalid_grant) and counts the others.
func (s *opStore) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	req, err := s.Storage.TokenRequestByRefreshToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if s.op.users.GetUserByID(req.GetSubject()) == nil {
		return nil, errors.New("the user was deleted")
	}
	s.op.mu.Lock()
	s.op.refreshes++
	s.op.mu.Unlock()
	return req, nil
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
	s.unverified(ui)
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

package handlers

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

type actorKey struct{}
type csrfKey struct{}
type authErrKey struct{}

// sessionCookie holds the session token; loginCookie binds a sign-in in
// flight to the browser that started it (against login CSRF).
const (
	sessionCookie = "mayfly_session"
	loginCookie   = "mayfly_login"
)

// authenticate resolves who is asking: in local mode (no sign-in configured,
// loopback only) everyone is the local administrator; otherwise a bearer
// token or a session cookie names the actor, or nobody (anonymous, who may
// reach only the public routes). Browser requests that change something
// must carry the session's CSRF token.
func (h *Handler) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		req := c.Request()
		actor, csrf, err := h.resolveActor(c)
		if err != nil {
			// A bad token, or access that cannot be re-checked now, does not
			// stop public routes (health checks, sign-in); protected ones
			// answer with this error (see floor).
			if code := envs.ErrorCode(err); code != envs.EUnauthorized && code != envs.EUnavailable {
				return err
			}
			actor = envs.Actor{Address: c.RealIP()}
			c.SetRequest(req.WithContext(context.WithValue(req.Context(), authErrKey{}, err)))
			req = c.Request()
		}
		if actor.Via == "session" && !safeMethod(req.Method) {
			got := req.Header.Get("X-CSRF-Token")
			if got == "" {
				got = c.FormValue("_csrf")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(csrf)) != 1 {
				h.svc.Audit(req.Context(), actor, "request.refused", req.URL.Path, envs.Errorf(envs.EForbidden, "missing or wrong CSRF token"))
				return envs.Errorf(envs.EForbidden, "the form has expired or did not come from Mayfly; reload the page and try again")
			}
		}
		ctx := context.WithValue(req.Context(), actorKey{}, actor)
		ctx = context.WithValue(ctx, csrfKey{}, csrf)
		c.SetRequest(req.WithContext(ctx))
		// Default deny: a route that is not public needs a signed-in user
		// with a role, even if its registration forgot require.
		if !publicRoutes[c.Path()] {
			if err := h.floor(c, actor); err != nil {
				return err
			}
		}
		return next(c)
	}
}

// publicRoutes answer without sign-in.
var publicRoutes = map[string]bool{
	"/healthz": true, "/readyz": true, "/metrics": true, "/static/*": true,
	"/signin": true, "/auth/signin": true, "/auth/callback": true, "/auth/signout": true,
	// Authenticated by each stack's own credential (see tofu_state.go).
	tofuStatePath: true,
	// One-click links from expiry warnings carry their own signature.
	linkRoute: true,
}

// floor refuses anonymous requests (browsers are sent to sign in) and
// people without a role.
func (h *Handler) floor(c *echo.Context, a envs.Actor) error {
	if a.Via == "" {
		if err, ok := c.Request().Context().Value(authErrKey{}).(error); ok {
			return err
		}
		// An EventSource cannot follow a redirect to a page: it gets 401.
		sse := strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/event-stream")
		if m := c.Request().Method; !isAPI(c) && !isHTMX(c) && !sse {
			switch {
			case m == http.MethodGet:
				return c.Redirect(http.StatusSeeOther, signinURL(c.Request().URL.RequestURI()))
			case !safeMethod(m):
				// A plain form posted from a page left open past the
				// session's end (no script, or before htmx bound it): sign
				// in, then come back to the page the form was on. Nothing
				// was done.
				return c.Redirect(http.StatusSeeOther, signinURL(refererPath(c)))
			}
		}
		if isHTMX(c) {
			// A page left open past the session's end: send the whole page
			// to sign in rather than showing an error in a fragment.
			ret := c.Request().Header.Get("HX-Current-URL")
			if u, err := url.Parse(ret); err == nil {
				ret = u.RequestURI()
			}
			c.Response().Header().Set("HX-Redirect", signinURL(ret))
		}
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="mayfly"`)
		return envs.Errorf(envs.EUnauthorized, "sign in first (or send an API token as Authorization: Bearer)")
	}
	err := envs.Authorize(a, envs.PermRead)
	if err != nil && !safeMethod(c.Request().Method) {
		h.svc.Audit(c.Request().Context(), a, "request.refused", c.Request().Method+" "+c.Request().URL.Path, err)
	}
	return err
}

// signinURL is the sign-in page returning to ret (a path of this site;
// anything else returns home).
func signinURL(ret string) string { return "/signin?return=" + url.QueryEscape(safeReturn(ret)) }

// refererPath is the same-origin page a request came from, or "".
func refererPath(c *echo.Context) string {
	u, err := url.Parse(c.Request().Header.Get("Referer"))
	if err != nil || u.Host != c.Request().Host {
		return ""
	}
	return u.RequestURI()
}

func (h *Handler) resolveActor(c *echo.Context) (envs.Actor, string, error) {
	req := c.Request()
	addr := c.RealIP()
	if auth := req.Header.Get(echo.HeaderAuthorization); auth != "" {
		raw, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			return envs.Actor{}, "", envs.Errorf(envs.EUnauthorized, "the Authorization header must be \"Bearer <token>\"")
		}
		// Limit guesses: every bearer request from an address draws from its
		// bucket, so a script cannot try tokens at speed.
		if err := limit(c, h.tokenLimit, "requests with API tokens"); err != nil {
			return envs.Actor{}, "", err
		}
		a, err := h.svc.TokenActor(req.Context(), strings.TrimSpace(raw), addr)
		if err != nil {
			return envs.Actor{}, "", err
		}
		// A token works in the mode it was made in: the local
		// administrator's in local mode (acting as the local administrator,
		// capped to the token's role), a signed-in user's with sign-in. A
		// local token must not outlive a switch to sign-in.
		if local := a.Issuer == envs.LocalIssuer; local != (h.oidc == nil) {
			h.svc.Audit(req.Context(), a, "request.refused", req.Method+" "+req.URL.Path, errTokenOtherMode)
			return envs.Actor{}, "", errTokenOtherMode
		}
		return a, "", nil
	}
	if h.oidc == nil {
		a := h.localAdmin
		a.Address = addr
		return a, "", nil
	}
	if ck, err := req.Cookie(sessionCookie); err == nil && ck.Value != "" {
		a, csrf, err := h.svc.SessionActor(req.Context(), ck.Value, addr)
		if err == nil {
			return a, csrf, nil
		}
		if envs.ErrorCode(err) != envs.EUnauthorized {
			return envs.Actor{}, "", err
		}
		// An ended session is the same as none: the browser is sent to sign in.
	}
	return envs.Actor{Address: addr}, "", nil
}

var errTokenOtherMode = envs.Errorf(envs.EUnauthorized, "the API token is not valid here (it was made with sign-in off, or on; make one on this portal's Tokens page)")

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func actorOf(c *echo.Context) envs.Actor {
	a, _ := c.Request().Context().Value(actorKey{}).(envs.Actor)
	return a
}

func csrfOf(c *echo.Context) string {
	s, _ := c.Request().Context().Value(csrfKey{}).(string)
	return s
}

// require wraps a route with the permission it needs (authenticate has
// already refused anonymous requests); without it: 403.
func (h *Handler) require(p envs.Permission, next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		a := actorOf(c)
		if err := envs.Authorize(a, p); err != nil {
			if !safeMethod(c.Request().Method) {
				h.svc.Audit(c.Request().Context(), a, "request.refused", c.Request().Method+" "+c.Request().URL.Path, err)
			}
			return err
		}
		return next(c)
	}
}

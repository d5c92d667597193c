package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v5"
)

// secureCookies reports whether cookies must be Secure: the external URL is
// https, the connection is TLS, or a trusted proxy says the browser used
// https.
func (h *Handler) secureCookies(c *echo.Context) bool {
	r := c.Request()
	return strings.HasPrefix(h.externalURL, "https://") || r.TLS != nil ||
		(h.fromProxy(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"))
}

// setCookie sets an HttpOnly, SameSite=Lax cookie for the whole site. Lax
// (not Strict) so that the identity provider's redirect back to the
// callback, a top-level cross-site GET, still carries the sign-in cookie.
func (h *Handler) setCookie(c *echo.Context, name, value string, expires time.Time) {
	ck := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: h.secureCookies(c)}
	if value == "" {
		ck.MaxAge = -1
	} else if !expires.IsZero() {
		ck.Expires = expires
	}
	c.SetCookie(ck)
}

// safeReturn keeps a return path on this site, so sign-in cannot be used as
// an open redirect: only a path of this origin ("/x?y"), never "//host",
// "https://host" or anything a browser would read as one. Browsers drop
// tabs and newlines from URLs and read a backslash as a slash, so
// "/\t/evil.example" or "/\\evil.example" lead off the site: control
// characters, spaces and backslashes are refused anywhere. Anything else
// returns to the environments.
func safeReturn(p string) string {
	const home = "/environments"
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/signin") || strings.HasPrefix(p, "/auth/") {
		return home
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f || r == '\\' || (r >= 0x80 && r <= 0x9f) || r == utf8.RuneError {
			return home
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return home
	}
	if here := (&url.URL{Scheme: "http", Host: "mayfly.invalid"}); here.ResolveReference(u).Host != here.Host {
		return home
	}
	return p
}

// hsts tells browsers to use https only, once Mayfly is served over https
// (never on plain http, where it would lock people out).
func (h *Handler) hsts(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		if h.secureCookies(c) {
			c.Response().Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

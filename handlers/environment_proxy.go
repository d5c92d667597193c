package handlers

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

// proxySandbox is the Content-Security-Policy of every proxied response:
// the environment's pages run in a sandbox with an opaque origin, so their
// scripts can neither read Mayfly's pages (and their CSRF tokens) nor its
// cookies, although they are served from Mayfly's host (decision 109).
const proxySandbox = "sandbox allow-scripts allow-forms allow-popups allow-downloads allow-modals"

// environmentProxy forwards /e/{id}/... to the environment's URL output,
// for whoever may see the environment page, and counts the request as
// activity (kept in memory, written at most every few seconds). Mayfly's
// own cookies and credentials never reach the environment, and cookies the
// environment sets are confined to its proxy path.
func (h *Handler) environmentProxy(c *echo.Context) error {
	req := c.Request()
	id := c.Param("id")
	envID, target, err := h.svc.ProxyTarget(req.Context(), id)
	if err != nil {
		return err
	}
	h.svc.Touch(envID, envs.ViaProxy)
	prefix := "/e/" + url.PathEscape(id) + "/"
	rest := strings.TrimPrefix(req.URL.Path, "/e/"+id)
	if rest == "" {
		return c.Redirect(http.StatusFound, prefix)
	}
	// Mayfly's headers are for Mayfly's pages; the sandbox replaces them.
	hd := c.Response().Header()
	for _, k := range []string{"Content-Security-Policy", "X-Frame-Options"} {
		hd.Del(k)
	}
	base := strings.TrimSuffix(target.String(), "/")
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Path, pr.Out.URL.RawPath = rest, ""
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Host = target.Host
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("X-CSRF-Token")
			pr.Out.Header.Del("Cookie")
			if keep := forwardedCookies(pr.In.Cookies()); keep != "" {
				pr.Out.Header.Set("Cookie", keep)
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set("Content-Security-Policy", proxySandbox)
			resp.Header.Del("X-Frame-Options")
			if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, base+"/") || loc == base {
				resp.Header.Set("Location", prefix+strings.TrimPrefix(strings.TrimPrefix(loc, base), "/"))
			}
			confineCookies(resp.Header, prefix)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			h.log.Warn("proxy to environment", "environment", envID, "err", err)
			http.Error(w, "The environment did not answer: "+err.Error(), http.StatusBadGateway)
		},
	}
	rp.ServeHTTP(c.Response(), req)
	return nil
}

// forwardedCookies is the Cookie header the environment gets: the
// browser's cookies but Mayfly's own.
func forwardedCookies(in []*http.Cookie) string {
	var keep []string
	for _, ck := range in {
		if !strings.HasPrefix(ck.Name, "mayfly_") {
			keep = append(keep, ck.Name+"="+ck.Value)
		}
	}
	return strings.Join(keep, "; ")
}

// confineCookies confines the cookies an environment sets to its proxy
// path on Mayfly's host, and drops any named like Mayfly's own (which
// would shadow the session) or that cannot be parsed.
func confineCookies(h http.Header, prefix string) {
	lines := h.Values("Set-Cookie")
	h.Del("Set-Cookie")
	for _, line := range lines {
		ck, err := http.ParseSetCookie(line)
		if err != nil || strings.HasPrefix(ck.Name, "mayfly_") {
			continue
		}
		ck.Domain, ck.Path = "", prefix
		h.Add("Set-Cookie", ck.String())
	}
}

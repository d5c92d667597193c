package handlers

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/mayflyhq/mayfly/envs"
)

// probeRoutes answer for any host once sign-in is configured: kubelets and
// scrapers address a pod by its IP.
var probeRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// hostSet is the host names answered besides loopback: the external URL's
// host and the allowed hosts, lower-cased.
func hostSet(externalURL string, allowed []string) map[string]bool {
	set := map[string]bool{}
	if u, err := url.Parse(externalURL); err == nil && u.Hostname() != "" {
		set[normalHost(u.Hostname())] = true
	}
	for _, h := range allowed {
		set[normalHost(h)] = true
	}
	return set
}

// normalHost is a host name as compared: lower case, without brackets or
// a trailing dot.
func normalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

// hostOnly drops the port of a Host value ("example.com:8080",
// "[::1]:8080", "[::1]").
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// servesHost reports whether a request's host (the Host header, or the
// host of an absolute-form request target) is one Mayfly answers for:
// loopback names and addresses, and the configured ones. It returns the
// host refused.
func (h *Handler) servesHost(r *http.Request) (string, bool) {
	hosts := []string{r.Host}
	if r.URL.Host != "" { // an absolute-form target ("GET http://host/ HTTP/1.1")
		hosts = append(hosts, r.URL.Host)
	}
	for _, raw := range hosts {
		name := normalHost(hostOnly(raw))
		if name == "localhost" || h.hosts[name] {
			continue
		}
		if ip := net.ParseIP(name); ip != nil && ip.IsLoopback() {
			continue
		}
		return raw, false
	}
	return "", true
}

// checkHost refuses, with 421 Misdirected Request, a request for a host
// Mayfly does not serve. A web page whose name was rebound to 127.0.0.1
// (DNS rebinding) reaches a local portal as same-origin, but its requests
// still carry the page's own name in Host: without this check it would be
// the local administrator and could run commands on the machine through a
// local template. It runs in front of everything, static files included.
func (h *Handler) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, ok := h.servesHost(r)
		if ok || (h.oidc != nil && probeRoutes[r.URL.Path]) {
			next.ServeHTTP(w, r)
			return
		}
		if len(host) > 100 {
			host = host[:100] + "..."
		}
		allow := "set --external-url (MAYFLY_EXTERNAL_URL) to the URL you use"
		if h.oidc != nil {
			allow += ", or add the name to --allowed-hosts (MAYFLY_ALLOWED_HOSTS)"
		} else {
			allow += " (with sign-in configured, --allowed-hosts adds further names)"
		}
		msg := fmt.Sprintf("Mayfly does not answer for the host %q: it answers only for loopback addresses, localhost and the hosts it is configured with, "+
			"so that another site cannot reach it by pointing its own name at Mayfly's address (DNS rebinding). If this is Mayfly's address, %s.", host, allow)
		addr := h.clientIP(r)
		if !safeMethod(r.Method) {
			h.svc.Audit(r.Context(), envs.Actor{Address: addr}, "request.refused", r.Method+" "+r.URL.Path,
				envs.Errorf(envs.EForbidden, "host %q is not served", host))
		}
		h.log.Warn("request for a host Mayfly does not serve refused", "host", host, "method", r.Method, "path", r.URL.Path, "remote", addr)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Connection", "close")
		if strings.HasPrefix(r.URL.Path, "/api/") {
			body, _ := json.Marshal(problem{Type: "about:blank", Title: http.StatusText(http.StatusMisdirectedRequest),
				Status: http.StatusMisdirectedRequest, Detail: msg, Instance: r.URL.Path})
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusMisdirectedRequest)
			_, _ = w.Write(body)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusMisdirectedRequest)
		_, _ = fmt.Fprintln(w, msg)
	})
}

package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestSignInReturnStaysOnSite: where sign-in returns to is a path of this
// site, however it is written, from the sign-in page's link through the
// real identity provider and back; a path with a query comes back whole.
func TestSignInReturnStaysOnSite(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o)
	// signinLink is the sign-in page's link for a return value.
	signinLink := func(t *testing.T, ret string) string {
		t.Helper()
		status, body, err := httpGet(s.url + "/signin?return=" + url.QueryEscape(ret))
		if err != nil || status != http.StatusOK {
			t.Fatalf("sign-in page: %d %v", status, err)
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		href, _ := doc.Find(`[data-testid="signin-button"]`).Attr("href")
		return href
	}
	// signIn follows a sign-in link through the provider as bob and returns
	// where the portal's callback sends the browser.
	signIn := func(t *testing.T, link string) string {
		t.Helper()
		c := browserless(t)
		portal := strings.TrimPrefix(s.url, "http://")
		c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if last := via[len(via)-1].URL; last.Host == portal && last.Path == "/auth/callback" {
				return http.ErrUseLastResponse
			}
			return nil
		}
		resp := loginAtOP(t, c, s.url+link, "bob")
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Request.URL.Host != portal || resp.Request.URL.Path != "/auth/callback" || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("after the provider: %s, status %d; want the callback's redirect", resp.Request.URL, resp.StatusCode)
		}
		return resp.Header.Get("Location")
	}
	for _, ret := range []string{"/\t/evil.example", "/\n/evil.example", "/\\evil.example", "/\\\\evil.example", "//evil.example",
		"https://evil.example/", " //evil.example", "/ /evil.example"} {
		if got := signinLink(t, ret); got != "/auth/signin?return=%2Fenvironments" {
			t.Errorf("return %q: sign-in link %q, want /auth/signin?return=%%2Fenvironments", ret, got)
		}
	}
	t.Run("a nasty return through the provider", func(t *testing.T) {
		if loc := signIn(t, "/auth/signin?return="+url.QueryEscape("/\t/evil.example")); loc != "/environments" {
			t.Errorf("the callback sends the browser to %q, want /environments", loc)
		}
	})
	t.Run("a path with a query", func(t *testing.T) {
		want := "/environments?status=all&partial=rows"
		link := signinLink(t, want)
		if link != "/auth/signin?return="+url.QueryEscape(want) {
			t.Errorf("sign-in link %q, want the return encoded", link)
		}
		if loc := signIn(t, link); loc != want {
			t.Errorf("the callback sends the browser to %q, want %q", loc, want)
		}
	})
	t.Run("an htmx request after the session ended", func(t *testing.T) {
		for _, current := range []string{s.url + "//evil.example/x", "https://evil.example/%5C%5Cevil.example"} {
			req, _ := http.NewRequest("POST", s.url+"/environments/env-x/extend", strings.NewReader("ttl=1h"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("HX-Request", "true")
			req.Header.Set("HX-Current-URL", current)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			to := resp.Header.Get("HX-Redirect")
			u, err := url.Parse(to)
			if err != nil || u.Path != "/signin" || !onSite(u.Query().Get("return")) {
				t.Errorf("HX-Current-URL %q: HX-Redirect %q, want /signin returning to a path of the site", current, to)
			}
		}
	})
	t.Run("a plain form after the session ended", func(t *testing.T) {
		for _, tc := range []struct{ referer, want string }{
			{s.url + "/environments/env-x?tab=logs", "/environments/env-x?tab=logs"},
			{"https://evil.example/environments/env-x", "/environments"},
			{"", "/environments"},
		} {
			req, _ := http.NewRequest("POST", s.url+"/environments/env-x/extend", strings.NewReader("ttl=1h"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", s.url)
			if tc.referer != "" {
				req.Header.Set("Referer", tc.referer)
			}
			c := browserless(t)
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			u, err := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || err != nil || u.Path != "/signin" || u.Query().Get("return") != tc.want {
				t.Errorf("referer %q: %d to %q, want 303 to /signin returning to %q", tc.referer, resp.StatusCode, resp.Header.Get("Location"), tc.want)
			}
		}
	})
}

// onSite reports whether a redirect's Location is a path of this site, as
// a browser reads it (which drops tabs and newlines and reads backslashes
// as slashes).
func onSite(loc string) bool {
	u, err := url.Parse(loc)
	return err == nil && u.Scheme == "" && u.Host == "" && strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") &&
		!strings.ContainsAny(loc, "\\\t\r\n ")
}

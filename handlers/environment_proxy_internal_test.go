package handlers

import (
	"net/http"
	"slices"
	"testing"
)

func TestForwardedCookies(t *testing.T) {
	cases := []struct {
		name string
		in   []*http.Cookie
		want string
	}{
		{"none", nil, ""},
		{"only Mayfly's", []*http.Cookie{{Name: "mayfly_session", Value: "s"}, {Name: "mayfly_login", Value: "l"}}, ""},
		{"the app's kept", []*http.Cookie{{Name: "mayfly_session", Value: "s"}, {Name: "cart", Value: "3"}, {Name: "lang", Value: "fr"}}, "cart=3; lang=fr"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := forwardedCookies(c.in); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestConfineCookies(t *testing.T) {
	cases := []struct {
		name string
		set  []string
		want []string
	}{
		{"path and domain confined", []string{"cart=3; Path=/; Domain=example.com; HttpOnly"}, []string{"cart=3; Path=/e/env-1/; HttpOnly"}},
		{"Mayfly's names dropped", []string{"mayfly_session=evil; Path=/", "lang=fr"}, []string{"lang=fr; Path=/e/env-1/"}},
		{"unparsable dropped", []string{"=nothing"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for _, s := range c.set {
				h.Add("Set-Cookie", s)
			}
			confineCookies(h, "/e/env-1/")
			if got := h.Values("Set-Cookie"); !slices.Equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

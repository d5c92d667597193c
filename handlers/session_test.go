package handlers

import "testing"

func TestSafeReturnStaysOnSite(t *testing.T) {
	tests := map[string]string{
		"/environments/env-1?x=1": "/environments/env-1?x=1",
		"":                        "/environments",
		"//evil.example/x":        "/environments",
		"/\\evil.example":         "/environments",
		"https://evil.example/":   "/environments",
		"javascript:alert(1)":     "/environments",
		"/signin?return=/x":       "/environments",
	}
	for in, want := range tests {
		if got := safeReturn(in); got != want {
			t.Errorf("safeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

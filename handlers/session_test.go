package handlers

import "testing"

func TestSafeReturnStaysOnSite(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"a path with a query", "/environments/env-1?x=1", "/environments/env-1?x=1"},
		{"a path with a fragment", "/catalog#demo", "/catalog#demo"},
		{"an encoded slash stays a path", "/%2F/evil.example", "/%2F/evil.example"},
		{"non-ASCII in the query", "/environments?q=ü", "/environments?q=ü"},
		{"empty", "", "/environments"},
		{"relative", "environments", "/environments"},
		{"protocol-relative", "//evil.example/x", "/environments"},
		{"backslash after the slash", "/\\evil.example", "/environments"},
		{"backslash later", "/x\\..\\\\evil.example", "/environments"},
		{"tab after the slash", "/\t/evil.example", "/environments"},
		{"newline after the slash", "/\n/evil.example", "/environments"},
		{"carriage return", "/\r/evil.example", "/environments"},
		{"tab later", "/environments\t", "/environments"},
		{"space", "/ /evil.example", "/environments"},
		{"NUL", "/x\x00y", "/environments"},
		{"DEL", "/\x7f/evil.example", "/environments"},
		{"C1 control", "/\u0085/evil.example", "/environments"},
		{"invalid UTF-8", "/\xff/evil.example", "/environments"},
		{"absolute URL", "https://evil.example/", "/environments"},
		{"scheme without slashes", "javascript:alert(1)", "/environments"},
		{"credentials", "//user@evil.example", "/environments"},
		{"the sign-in page", "/signin?return=/x", "/environments"},
		{"the sign-in flow", "/auth/signin?return=/x", "/environments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := safeReturn(tt.in); got != tt.want {
				t.Errorf("safeReturn(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

package web_test

import (
	"testing"

	"github.com/mayflyhq/mayfly/web"
)

func TestBrowserPattern(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "[a-z]{3}", "[a-z]{3}"},
		{"trailing dash and ampersand", "^[A-Za-z0-9 .&-]{2,40}$", `^[A-Za-z0-9 \.\&\-]{2,40}$`},
		{"leading dash after negation", "[^-a]+", `[^\-a]+`},
		{"dash after a range", "[a-z-]", `[a-z\-]`},
		{"escapes kept", `[\w\-.]+`, `[\w\-\.]+`},
		{"literal bracket first", "[]a]", `[\]a]`},
		{"outside classes untouched", "(ab|cd)+-x", "(ab|cd)+-x"},
		{"brace and bar in a class", "[{|}/]", `[\{\|\}\/]`},
		{"unicode class with braces", `\p{L}+`, `\p{L}+`},
		{"unicode class without braces", `\pL+`, ""},
		{"flags", "(?i)abc", ""},
		{"posix class", "[[:alpha:]]+", ""},
		{"begin of text", `\Aabc`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := web.BrowserPattern(tt.in); got != tt.want {
				t.Errorf("BrowserPattern(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

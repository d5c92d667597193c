package static_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/static"
)

func get(t *testing.T, method, path string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	static.Handler().ServeHTTP(rec, req)
	return rec.Result()
}

func TestURL(t *testing.T) {
	tests := []struct {
		name string
		want *regexp.Regexp
	}{
		{"app.css", regexp.MustCompile(`^/static/app\.[0-9a-f]{8}\.css$`)},
		{"app.js", regexp.MustCompile(`^/static/app\.[0-9a-f]{8}\.js$`)},
		{"htmx.min.js", regexp.MustCompile(`^/static/htmx\.min\.[0-9a-f]{8}\.js$`)},
		{"htmx-ext-sse.min.js", regexp.MustCompile(`^/static/htmx-ext-sse\.min\.[0-9a-f]{8}\.js$`)},
		{"favicon.svg", regexp.MustCompile(`^/static/favicon\.[0-9a-f]{8}\.svg$`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := static.URL(tt.name)
			if !tt.want.MatchString(got) {
				t.Errorf("URL(%q): got %q, want it to match %s", tt.name, got, tt.want)
			}
			if again := static.URL(tt.name); again != got {
				t.Error("URL is not stable")
			}
		})
	}
	if got, want := static.URL("nope.css"), "/static/nope.css"; got != want {
		t.Errorf("unknown: got %q, want %q", got, want)
	}
}

func TestHandlerServes(t *testing.T) {
	tests := []struct {
		name, contentType string
	}{
		{"app.css", "text/css; charset=utf-8"},
		{"app.js", "text/javascript; charset=utf-8"},
		{"htmx.min.js", "text/javascript; charset=utf-8"},
		{"htmx-ext-sse.min.js", "text/javascript; charset=utf-8"},
		{"favicon.svg", "image/svg+xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("dist", tt.name))
			if err != nil {
				t.Fatal(err)
			}
			res := get(t, http.MethodGet, static.URL(tt.name), nil)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status: got %d, want 200", res.StatusCode)
			}
			if string(body) != string(want) {
				t.Error("body differs from dist/" + tt.name)
			}
			for k, want := range map[string]string{
				"Content-Type":           tt.contentType,
				"Cache-Control":          "public, max-age=31536000, immutable",
				"X-Content-Type-Options": "nosniff",
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
			etag := res.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}

			t.Run("conditional", func(t *testing.T) {
				res := get(t, http.MethodGet, static.URL(tt.name), http.Header{"If-None-Match": {etag}})
				if res.StatusCode != http.StatusNotModified {
					t.Errorf("status: got %d, want 304", res.StatusCode)
				}
			})
			t.Run("HEAD", func(t *testing.T) {
				res := get(t, http.MethodHead, static.URL(tt.name), nil)
				body, _ := io.ReadAll(res.Body)
				if res.StatusCode != http.StatusOK || len(body) != 0 {
					t.Errorf("HEAD: got %d with %d bytes, want 200 and no body", res.StatusCode, len(body))
				}
			})
			t.Run("prefix stripped", func(t *testing.T) {
				res := get(t, http.MethodGet, strings.TrimPrefix(static.URL(tt.name), "/static"), nil)
				if res.StatusCode != http.StatusOK {
					t.Errorf("status: got %d, want 200", res.StatusCode)
				}
			})
		})
	}
}

func TestHandlerRefuses(t *testing.T) {
	stale := regexp.MustCompile(`\.[0-9a-f]{8}\.`).ReplaceAllString(static.URL("app.css"), ".00000000.")
	tests := []struct {
		name, method, path string
		want               int
	}{
		{"stale hash", http.MethodGet, stale, http.StatusNotFound},
		{"no hash", http.MethodGet, "/static/app.css", http.StatusNotFound},
		{"unknown", http.MethodGet, "/static/nope.0123abcd.css", http.StatusNotFound},
		{"directory", http.MethodGet, "/static/", http.StatusNotFound},
		{"traversal", http.MethodGet, "/static/../static.go", http.StatusNotFound},
		{"nested", http.MethodGet, "/static/dist/" + strings.TrimPrefix(static.URL("app.css"), "/static/"), http.StatusNotFound},
		{"POST", http.MethodPost, static.URL("app.css"), http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, tt.method, tt.path, nil)
			if res.StatusCode != tt.want {
				t.Errorf("%s %s: got %d, want %d", tt.method, tt.path, res.StatusCode, tt.want)
			}
			if cc := res.Header.Get("Cache-Control"); strings.Contains(cc, "immutable") {
				t.Errorf("an error is cached forever: %q", cc)
			}
		})
	}
}

func TestNames(t *testing.T) {
	got := strings.Join(static.Names(), ",")
	for _, want := range []string{"app.css", "app.js", "htmx.min.js", "htmx-ext-sse.min.js"} {
		if !strings.Contains(got, want) {
			t.Errorf("Names: %q lacks %q", got, want)
		}
	}
}

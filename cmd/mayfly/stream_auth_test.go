package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
)

// TestStreamEndsWhenAccessEnds: an open SSE stream checks its session or
// API token again every AuthRecheck; once it no longer works (signed out,
// expired, revoked) the stream tells the page to sign in and ends, and the
// reconnect is refused. Runs on the test database (SQLite or PostgreSQL).
func TestStreamEndsWhenAccessEnds(t *testing.T) {
	o := startOP(t)
	cfg := signInConfig(t, o)
	cfg.AuthRecheck = 200 * time.Millisecond
	s := runTestMain(t, cfg)
	t.Logf("database: %s", s.DB.Dialect())
	ctx := context.Background()
	_, _, _, env := launchTiny(t, s)

	tests := []struct {
		name string
		// start returns the request's credential header and a func that
		// ends the access.
		start func(t *testing.T) (header, value string, end func())
	}{
		{"session signed out", func(t *testing.T) (string, string, func()) {
			a, cookie, _ := mintSession(t, s, "bea", "developers", "team-shop")
			return "Cookie", "mayfly_session=" + cookie, func() {
				if err := s.Service.SignOut(ctx, a, cookie); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"session expired", func(t *testing.T) (string, string, func()) {
			_, cookie, _ := mintSession(t, s, "cid", "developers", "team-shop")
			return "Cookie", "mayfly_session=" + cookie, func() {
				execSQL(t, s, `UPDATE sessions SET expires_at = ? WHERE token_hash = ?`, time.Now().UTC().Add(-time.Second), hashHex(cookie))
			}
		}},
		{"user's access revoked by an admin", func(t *testing.T) (string, string, func()) {
			a, cookie, _ := mintSession(t, s, "dan", "developers", "team-shop")
			return "Cookie", "mayfly_session=" + cookie, func() {
				if err := s.Service.RevokeUserAccess(ctx, envs.System, a.UserID); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"API token revoked", func(t *testing.T) (string, string, func()) {
			a, _, _ := mintSession(t, s, "eve", "developers", "team-shop")
			secret, tok, err := s.Service.CreateToken(ctx, a, "ci", "", "")
			if err != nil {
				t.Fatal(err)
			}
			return "Authorization", "Bearer " + secret, func() {
				if err := s.Service.RevokeToken(ctx, a, tok.ID); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header, value, end := tt.start(t)
			open := func() (*http.Response, <-chan string) {
				return openStream(t, s.url+"/environments/"+env.ID+"/stream", header, value)
			}
			resp, lines := open()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("stream: status %d, want 200", resp.StatusCode)
			}
			// While access lasts the stream stays open across several checks.
			if got, ended := collect(lines, time.Second); ended {
				t.Fatalf("the stream ended while access was valid: %q", got)
			}
			end()
			start := time.Now()
			got, ended := collect(lines, 5*time.Second)
			if !ended {
				t.Fatalf("the stream is still open 5s after access ended: %q", got)
			}
			t.Logf("the stream ended %s after access ended", time.Since(start).Round(time.Millisecond))
			text := strings.Join(got, "\n")
			want := "event: signin\ndata: /signin?return=%2Fenvironments%2F" + env.ID
			if !strings.Contains(text, want) {
				t.Errorf("the stream's last lines %q lack %q", got, want)
			}
			if again, _ := open(); again.StatusCode != http.StatusUnauthorized {
				t.Errorf("reconnect: status %d, want 401", again.StatusCode)
			}
		})
	}
}

// openStream opens an SSE stream (with header name, value pairs) and
// returns the response and its lines, which close when the stream ends;
// the stream is closed when the test ends.
func openStream(t *testing.T, url string, header ...string) (*http.Response, <-chan string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20) // a summary card is one long line
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return resp, lines
}

// collect reads lines for up to d and reports whether the stream ended
// (the channel closed) in that time.
func collect(lines <-chan string, d time.Duration) ([]string, bool) {
	timeout := time.After(d)
	var got []string
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return got, true
			}
			got = append(got, line)
		case <-timeout:
			return got, false
		}
	}
}

// execSQL runs a statement written with ? placeholders on either database.
func execSQL(t *testing.T, s *testServer, query string, args ...any) {
	t.Helper()
	if s.DB.Dialect() == "postgres" {
		for i := 1; strings.Contains(query, "?"); i++ {
			query = strings.Replace(query, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	if _, err := s.DB.SQL().Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

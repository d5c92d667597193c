package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSlowBodyIsCutAtTheReadTimeout: a client that promises a body and
// never sends it gets 408 and the connection is closed once the read
// timeout passes, instead of holding it for ever.
func TestSlowBodyIsCutAtTheReadTimeout(t *testing.T) {
	cfg := localConfig(t)
	cfg.ReadTimeout = 500 * time.Millisecond
	s := runTestMain(t, cfg)
	// Measured from before the dial: the server's read deadline starts
	// when it accepts the connection, which may be before Dial returns.
	start := time.Now()
	c, err := net.Dial("tcp", hostOf(s))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(start.Add(5 * time.Second))
	fmt.Fprintf(c, "POST /api/v1/environments HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", hostOf(s))
	got, err := io.ReadAll(c) // until the server closes the connection
	if err != nil {
		t.Fatalf("the connection is still open after %s: %v (read %q)", time.Since(start).Round(time.Millisecond), err, got)
	}
	if took := time.Since(start); took < cfg.ReadTimeout {
		t.Errorf("cut after %s, before the read timeout", took)
	}
	if !strings.HasPrefix(string(got), "HTTP/1.1 408 ") || !strings.Contains(string(got), "did not arrive in time") {
		t.Errorf("answer %q, want 408 saying the body did not arrive in time", got)
	}
}

// TestStreamOutlivesTheServerTimeouts: an SSE stream lifts the read and
// write timeouts that bound other requests, and still delivers events
// after they have passed.
func TestStreamOutlivesTheServerTimeouts(t *testing.T) {
	cfg := localConfig(t)
	cfg.ReadTimeout, cfg.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	s := runTestMain(t, cfg)
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(publishedTemplate)); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	e := s.launch(map[string]any{"template": "tiny", "params": map[string]any{"password": "pw"}})
	resp, lines := openStream(t, s.url+"/environments/"+e.ID+"/stream")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: status %d", resp.StatusCode)
	}
	// Several times the timeouts, then an event.
	if got, ended := collect(lines, 2*time.Second); ended {
		t.Fatalf("the stream ended within 2s (timeouts %s): %q", cfg.ReadTimeout, got)
	}
	if r := s.api("POST", "/api/v1/environments/"+e.ID+"/extend", map[string]string{"ttl": "10m"}); r.Status != http.StatusOK {
		t.Fatalf("extend: %d %s", r.Status, r.Body)
	}
	got, ended := collect(lines, 3*time.Second)
	if ended || !strings.Contains(strings.Join(got, "\n"), "Extended by 10m") {
		t.Errorf("after the timeouts the stream (ended %v) sent %q, want the extension", ended, got)
	}
}

// TestConnectionsPerClientAreCapped: one client address holds at most
// --max-conns-per-client connections; the next is answered 429 until one
// closes. A trusted proxy, which carries everyone, is not capped.
func TestConnectionsPerClientAreCapped(t *testing.T) {
	const max = 3
	s := runTestMain(t, localConfig(t, "--max-conns-per-client", fmt.Sprint(max)))
	open := func(n int) []net.Conn {
		t.Helper()
		var conns []net.Conn
		for range n {
			c, err := net.Dial("tcp", hostOf(s))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			conns = append(conns, c)
		}
		return conns
	}
	get := func(s *testServer) (int, string) {
		t.Helper()
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		resp, err := client.Get(s.url + "/healthz")
		if err != nil {
			t.Fatalf("GET /healthz: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	held := open(max)
	// The server counts a connection once it has accepted it: wait until
	// the cap is reached rather than guessing how long that takes.
	deadline := time.Now().Add(5 * time.Second)
	status, body := get(s)
	for status == http.StatusOK && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		status, body = get(s)
	}
	if status != http.StatusTooManyRequests || !strings.Contains(body, "--max-conns-per-client") {
		t.Fatalf("connection %d from one address: %d %q, want 429 naming --max-conns-per-client", max+1, status, body)
	}
	held[0].Close()
	deadline = time.Now().Add(5 * time.Second)
	for status != http.StatusOK && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		status, _ = get(s)
	}
	if status != http.StatusOK {
		t.Errorf("after one of %d connections closed: %d, want 200", max, status)
	}

	proxied := runTestMain(t, localConfig(t, "--max-conns-per-client", "1", "--trust-proxy", "127.0.0.1"))
	for range 3 {
		c, err := net.Dial("tcp", hostOf(proxied))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	if status, body := get(proxied); status != http.StatusOK {
		t.Errorf("a trusted proxy with 4 connections: %d %q, want 200", status, body)
	}
}

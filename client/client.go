// Package client is a small Go client of Mayfly's JSON API (/api/v1), used
// by the mayfly command line (mayfly env ..., mayfly template ...). It
// speaks plain net/http and knows only the API's JSON shapes.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls one Mayfly portal.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	Token   string // an API token; "" in local mode
	HTTP    *http.Client
}

// New is a Client of baseURL with token ("" for none).
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 90 * time.Second}}
}

// Environment is the part of an environment the command line shows; Raw is
// the whole JSON object as the portal sent it.
type Environment struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Owner         string            `json:"owner"`
	Template      string            `json:"template"`
	Version       string            `json:"version"`
	Status        string            `json:"status"`
	StatusReason  string            `json:"status_reason"`
	FailureReason string            `json:"failure_reason"`
	Params        map[string]any    `json:"params"`
	Outputs       map[string]string `json:"outputs"`
	CreatedAt     time.Time         `json:"created_at"`
	ExpiresAt     time.Time         `json:"expires_at"`
	TTLRemaining  string            `json:"ttl_remaining"`
	Raw           json.RawMessage   `json:"-"`
}

// Event is one line of an environment's timeline.
type Event struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Status  string    `json:"status"`
	Message string    `json:"message"`
	Actor   string    `json:"actor"`
}

// Log is the captured output of one service.
type Log struct {
	Service   string `json:"service"`
	Text      string `json:"text"`
	Truncated bool   `json:"truncated"`
}

// LaunchRequest is POST /api/v1/environments.
type LaunchRequest struct {
	Template string         `json:"template"`
	Version  string         `json:"version,omitempty"`
	Name     string         `json:"name,omitempty"`
	Params   map[string]any `json:"params,omitempty"`
	TTL      string         `json:"ttl,omitempty"`
	// IdempotencyKey, when set, is sent as the Idempotency-Key header: the
	// same key and request again (a re-run CI job) answer with the
	// environment the first launched instead of launching another.
	IdempotencyKey string `json:"-"`
}

// Error is a refusal from the portal (application/problem+json).
type Error struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (e *Error) Error() string {
	msg := e.Title
	if e.Detail != "" && e.Detail != e.Title {
		msg += ": " + e.Detail
	}
	for _, f := range e.Errors {
		if f.Field != "" {
			msg += fmt.Sprintf("; %s %s", f.Field, f.Message)
		} else {
			msg += "; " + f.Message
		}
	}
	return fmt.Sprintf("%s (HTTP %d)", msg, e.Status)
}

// do sends a request and decodes a 2xx answer into out (when not nil); it
// returns the response's headers and body.
func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte, out any) (http.Header, []byte, error) {
	return c.doWith(ctx, method, path, contentType, body, out, nil)
}

// doWith is do with more request headers.
func (c *Client) doWith(ctx context.Context, method, path, contentType string, body []byte, out any, extra http.Header) (http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("client: %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Title == "" {
			e.Title = strings.TrimSpace(http.StatusText(resp.StatusCode) + " " + firstLine(b))
		}
		return resp.Header, b, e
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, nil, fmt.Errorf("client: %s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.Header, b, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func (c *Client) environment(ctx context.Context, method, path string, body any) (Environment, http.Header, error) {
	return c.environmentWith(ctx, method, path, body, nil)
}

func (c *Client) environmentWith(ctx context.Context, method, path string, body any, extra http.Header) (Environment, http.Header, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return Environment{}, nil, err
		}
	}
	var e Environment
	h, b, err := c.doWith(ctx, method, path, "application/json", raw, &e, extra)
	if err != nil {
		return Environment{}, h, err
	}
	e.Raw = b
	return e, h, nil
}

// Launch launches an environment (202: it is provisioned in the background;
// with an idempotency key already used for this request, 200 with the
// environment it launched).
func (c *Client) Launch(ctx context.Context, req LaunchRequest) (Environment, error) {
	var extra http.Header
	if req.IdempotencyKey != "" {
		extra = http.Header{"Idempotency-Key": {req.IdempotencyKey}}
	}
	e, _, err := c.environmentWith(ctx, http.MethodPost, "/api/v1/environments", req, extra)
	return e, err
}

// Environment is one environment by id.
func (c *Client) Environment(ctx context.Context, id string) (Environment, error) {
	e, _, err := c.environment(ctx, http.MethodGet, "/api/v1/environments/"+url.PathEscape(id), nil)
	return e, err
}

// Find is an environment by id ("env-...") or else by exact name (the
// newest of that name).
func (c *Client) Find(ctx context.Context, ref string) (Environment, error) {
	if strings.HasPrefix(ref, "env-") {
		return c.Environment(ctx, ref)
	}
	list, err := c.Environments(ctx, url.Values{"name": {ref}, "limit": {"1"}})
	if err != nil {
		return Environment{}, err
	}
	if len(list) == 0 {
		return Environment{}, &Error{Status: http.StatusNotFound, Title: fmt.Sprintf("no environment is named %q", ref)}
	}
	return list[0], nil
}

// Wait long-polls until the environment is in status want (ready or
// destroyed), cannot get there (a failed launch), or timeout passes;
// outcome is the portal's word for which: reached, unreachable or timeout.
// Each request waits at most a minute; Wait asks again until timeout.
func (c *Client) Wait(ctx context.Context, id, want string, timeout time.Duration) (e Environment, outcome string, err error) {
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline).Round(time.Second)
		if left < time.Second {
			left = time.Second
		}
		q := url.Values{"wait": {want}, "timeout": {min(left, time.Minute).String()}}
		var h http.Header
		e, h, err = c.environment(ctx, http.MethodGet, "/api/v1/environments/"+url.PathEscape(id)+"?"+q.Encode(), nil)
		if err != nil {
			return e, "", err
		}
		outcome = h.Get("Mayfly-Wait")
		if outcome != "timeout" || !time.Now().Before(deadline) {
			return e, outcome, nil
		}
	}
}

// Environments lists environments with the API's filters (status, owner,
// template, name, limit, cursor).
func (c *Client) Environments(ctx context.Context, q url.Values) ([]Environment, error) {
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	if _, _, err := c.do(ctx, http.MethodGet, "/api/v1/environments?"+q.Encode(), "", nil, &page); err != nil {
		return nil, err
	}
	out := make([]Environment, len(page.Items))
	for i, raw := range page.Items {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			return nil, fmt.Errorf("client: decode environment: %w", err)
		}
		out[i].Raw = raw
	}
	return out, nil
}

// Extend adds ttl to an environment's lifetime.
func (c *Client) Extend(ctx context.Context, id, ttl string) (Environment, error) {
	e, _, err := c.environment(ctx, http.MethodPost, "/api/v1/environments/"+url.PathEscape(id)+"/extend", map[string]string{"ttl": ttl})
	return e, err
}

// Destroy destroys an environment now (in the background).
func (c *Client) Destroy(ctx context.Context, id string) (Environment, error) {
	e, _, err := c.environment(ctx, http.MethodDelete, "/api/v1/environments/"+url.PathEscape(id), nil)
	return e, err
}

// Events is an environment's timeline after event id after.
func (c *Client) Events(ctx context.Context, id string, after int64) ([]Event, error) {
	var out struct {
		Items []Event `json:"items"`
	}
	_, _, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/environments/%s/events?after=%d", url.PathEscape(id), after), "", nil, &out)
	return out.Items, err
}

// Logs is the captured output of an environment's services.
func (c *Client) Logs(ctx context.Context, id, service string) ([]Log, error) {
	var out struct {
		Items []Log `json:"items"`
	}
	_, _, err := c.do(ctx, http.MethodGet, "/api/v1/environments/"+url.PathEscape(id)+"/logs?"+url.Values{"service": {service}}.Encode(), "", nil, &out)
	return out.Items, err
}

// Publish publishes a template version (template.yaml); the answer is the
// published version's JSON, and created says whether it is new.
func (c *Client) Publish(ctx context.Context, yaml []byte) (version json.RawMessage, err error) {
	_, b, err := c.do(ctx, http.MethodPost, "/api/v1/templates", "application/yaml", yaml, nil)
	return b, err
}

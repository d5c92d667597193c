package shop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/catalog/shop"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestServer(t *testing.T) {
	db := open(t, seeded(t, "Smith & Sons"))
	h := shop.NewServer(db, shop.ServerConfig{Title: "Demo for Smith & Sons"})

	t.Run("healthz", func(t *testing.T) {
		if code, body := get(t, h, "/healthz"); code != http.StatusOK || body != "ok\n" {
			t.Errorf("GET /healthz = %d %q, want 200 ok", code, body)
		}
	})

	t.Run("stats", func(t *testing.T) {
		code, body := get(t, h, "/api/stats")
		if code != http.StatusOK {
			t.Fatalf("GET /api/stats = %d %s", code, body)
		}
		var got struct {
			Customer *string          `json:"customer"`
			Tables   map[string]int64 `json:"tables"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("not JSON: %v: %s", err, body)
		}
		if got.Customer == nil || *got.Customer != "Smith & Sons" {
			t.Errorf("customer = %v, want Smith & Sons", got.Customer)
		}
		wantTables(t, got.Tables, 12, shop.DemoCustomers, 40)
	})

	t.Run("home page", func(t *testing.T) {
		code, body := get(t, h, "/")
		if code != http.StatusOK {
			t.Fatalf("GET / = %d", code)
		}
		for _, want := range []string{
			"<title>Demo for Smith &amp; Sons</title>",
			`data-testid="customer">Prepared for Smith &amp; Sons<`,
			"Smith &amp; Sons Welcome Pack",
			"$49.00",
			`data-testid="orders"`,
			`<body class="light">`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("home page lacks %q", want)
			}
		}
		if n := strings.Count(body, `data-testid="product"`); n != 12 {
			t.Errorf("home page lists %d products, want 12", n)
		}
	})

	t.Run("dark theme", func(t *testing.T) {
		h := shop.NewServer(db, shop.ServerConfig{Theme: "dark"})
		if _, body := get(t, h, "/"); !strings.Contains(body, `<body class="dark">`) || !strings.Contains(body, "<title>Mayfly Shop</title>") {
			t.Error("dark theme or default title not rendered")
		}
	})

	t.Run("unknown path", func(t *testing.T) {
		if code, _ := get(t, h, "/nope"); code != http.StatusNotFound {
			t.Errorf("GET /nope = %d, want 404", code)
		}
	})

	t.Run("healthz fails when the database does not answer", func(t *testing.T) {
		closed := open(t, seeded(t, "Acme"))
		closed.Close()
		h := shop.NewServer(closed, shop.ServerConfig{})
		if code, _ := get(t, h, "/healthz"); code != http.StatusServiceUnavailable {
			t.Errorf("GET /healthz = %d, want 503", code)
		}
	})
}

func TestServerProductionData(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "prod.db"))
	if err := shop.MakeProduction(context.Background(), db, shop.ProductionOptions{Seed: 1, AsOf: asOf}); err != nil {
		t.Fatal(err)
	}
	h := shop.NewServer(db, shop.ServerConfig{})
	if code, body := get(t, h, "/api/stats"); code != http.StatusOK || !strings.Contains(body, `"customer":null`) {
		t.Errorf("GET /api/stats = %d %s, want customer null", code, body)
	}
	code, body := get(t, h, "/")
	if code != http.StatusOK || !strings.Contains(body, "and 176 more products") || strings.Contains(body, "Prepared for") {
		t.Errorf("GET / = %d, body lacks the product overflow line or shows a customer", code)
	}
}

// syncBuffer is a bytes.Buffer that serve's goroutines can write while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServeCommand(t *testing.T) {
	path := seeded(t, "Acme Corp")
	t.Setenv("SHOP_TITLE", "Title from the environment")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- shop.Run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", path}, &stdout, &stderr)
	}()

	urlRE := regexp.MustCompile(`url=(http://\S+/)`)
	var base string
	for deadline := time.Now().Add(5 * time.Second); base == ""; {
		if m := urlRE.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case code := <-exit:
			t.Fatalf("serve exited with %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not log its address; stdout %q", stdout.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	for path, want := range map[string]string{"healthz": "ok", "": "Title from the environment"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET /%s = %d, body lacks %q", path, resp.StatusCode, want)
		}
	}

	cancel() // what SIGTERM does through Main
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("serve exited with %d after shutdown: %s", code, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stdout.String(), "shop stopped") {
		t.Errorf("stdout %q lacks the shutdown line", stdout.String())
	}
}

func TestServeRefusesMissingDatabase(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "data", "shop.db")
	code, _, errs := run(t, "serve", "--addr", "127.0.0.1:0", "--db", missing)
	if code != 1 || !strings.Contains(errs, "does not exist") {
		t.Errorf("exit %d, stderr %q; want 1 and does not exist", code, errs)
	}
}

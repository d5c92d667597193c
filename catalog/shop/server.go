package shop

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ServerConfig configures the shop's web handler.
type ServerConfig struct {
	// Title heads every page; empty means "Mayfly Shop".
	Title string
	// Theme is "light" (the default) or "dark".
	Theme string
	// Logger receives one line per request; nil logs nothing.
	Logger *slog.Logger
}

// Themes the shop can render.
var Themes = []string{"light", "dark"}

// homeProducts is how many products the home page lists.
const homeProducts = 24

//go:embed home.html
var homeHTML string

var homeTemplate = template.Must(template.New("home").Funcs(template.FuncMap{
	"money": formatCents,
	"day":   formatDay,
}).Parse(homeHTML))

// NewServer returns the shop's HTTP handler, reading from db:
//
//	GET /            the shop's home page
//	GET /healthz     200 "ok" when the database answers, 503 otherwise
//	GET /api/stats   {"customer": ..., "tables": {"products": N, ...}}
func NewServer(db *sql.DB, cfg ServerConfig) http.Handler {
	if cfg.Title == "" {
		cfg.Title = "Mayfly Shop"
	}
	if cfg.Theme != "dark" {
		cfg.Theme = "light"
	}
	s := &server{db: db, cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /api/stats", s.stats)
	if cfg.Logger == nil {
		return mux
	}
	return logRequests(cfg.Logger, mux)
}

type server struct {
	db  *sql.DB
	cfg ServerConfig
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	// Short timeout: a health check that hangs is as bad as one that fails.
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM products").Scan(&n); err != nil {
		http.Error(w, "database unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}

type statsResponse struct {
	// Customer is null when the data was not seeded for a customer.
	Customer *string          `json:"customer"`
	Tables   map[string]int64 `json:"tables"`
}

func (s *server) stats(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	customer, err := s.featuredCustomer(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tables, err := userTables(ctx, s.db)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := statsResponse{Tables: make(map[string]int64, len(tables))}
	if customer != "" {
		resp.Customer = &customer
	}
	for _, t := range tables {
		var n int64
		if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(t)).Scan(&n); err != nil {
			s.fail(w, r, fmt.Errorf("shop: count %s: %w", t, err))
			return
		}
		resp.Tables[t] = n
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(resp)
}

type homePage struct {
	Title    string
	Theme    string
	Customer string

	Products     []homeProduct
	MoreProducts int64

	Orders []homeOrder

	ProductCount  int64
	CustomerCount int64
	OrderCount    int64
	RevenueCents  int64
}

type homeProduct struct {
	SKU        string
	Name       string
	Category   string
	PriceCents int64
	Stock      int64
}

type homeOrder struct {
	ID         int64
	Customer   string
	Featured   bool
	Product    string
	Quantity   int64
	TotalCents int64
	Status     string
	OrderedAt  string
}

func (s *server) home(w http.ResponseWriter, r *http.Request) {
	page, err := s.loadHome(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var b strings.Builder
	if err := homeTemplate.Execute(&b, page); err != nil {
		s.fail(w, r, fmt.Errorf("shop: render home: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(b.String()))
}

func (s *server) loadHome(ctx context.Context) (homePage, error) {
	// One read transaction: the counts, lists and totals agree.
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return homePage{}, fmt.Errorf("shop: load home: %w", err)
	}
	defer tx.Rollback()

	p := homePage{Title: s.cfg.Title, Theme: s.cfg.Theme}
	if err := tx.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM products),
			(SELECT count(*) FROM customers),
			(SELECT count(*) FROM orders),
			(SELECT coalesce(sum(total_cents), 0) FROM orders WHERE status <> 'refunded'),
			coalesce((SELECT name FROM customers WHERE featured = 1 ORDER BY id LIMIT 1), '')`).
		Scan(&p.ProductCount, &p.CustomerCount, &p.OrderCount, &p.RevenueCents, &p.Customer); err != nil {
		return homePage{}, fmt.Errorf("shop: load home totals: %w", err)
	}

	rows, err := tx.QueryContext(ctx, `SELECT sku, name, category, price_cents, stock
		FROM products ORDER BY id LIMIT ?`, homeProducts)
	if err != nil {
		return homePage{}, fmt.Errorf("shop: load products: %w", err)
	}
	for rows.Next() {
		var hp homeProduct
		if err := rows.Scan(&hp.SKU, &hp.Name, &hp.Category, &hp.PriceCents, &hp.Stock); err != nil {
			rows.Close()
			return homePage{}, fmt.Errorf("shop: load products: %w", err)
		}
		p.Products = append(p.Products, hp)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return homePage{}, fmt.Errorf("shop: load products: %w", err)
	}
	p.MoreProducts = p.ProductCount - int64(len(p.Products))

	rows, err = tx.QueryContext(ctx, `SELECT o.id, c.name, c.featured, p.name, o.quantity, o.total_cents, o.status, o.ordered_at
		FROM orders o
		JOIN customers c ON c.id = o.customer_id
		JOIN products p ON p.id = o.product_id
		ORDER BY o.ordered_at DESC, o.id DESC LIMIT 10`)
	if err != nil {
		return homePage{}, fmt.Errorf("shop: load orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var o homeOrder
		if err := rows.Scan(&o.ID, &o.Customer, &o.Featured, &o.Product, &o.Quantity, &o.TotalCents, &o.Status, &o.OrderedAt); err != nil {
			return homePage{}, fmt.Errorf("shop: load orders: %w", err)
		}
		p.Orders = append(p.Orders, o)
	}
	if err := rows.Err(); err != nil {
		return homePage{}, fmt.Errorf("shop: load orders: %w", err)
	}
	return p, nil
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if s.cfg.Logger != nil {
		s.cfg.Logger.Error("request failed", "path", r.URL.Path, "err", err)
	}
	status := http.StatusInternalServerError
	if errors.Is(err, context.Canceled) {
		status = 499 // the client went away; nobody reads this
	}
	http.Error(w, "The shop's database is not answering. Details are in the service log.", status)
}

// formatCents renders 123456 as "$1,234.56".
func formatCents(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	d := strconv.FormatInt(cents/100, 10)
	var b strings.Builder
	for i, r := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return fmt.Sprintf("%s$%s.%02d", sign, b.String(), cents%100)
}

// formatDay renders a stored time as "Jan 2, 2006", or as stored if it does
// not parse.
func formatDay(s string) string {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return s
	}
	return t.Format("Jan 2, 2006")
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		// Health checks arrive every half second; logging them buries the
		// requests people make.
		if r.URL.Path == "/healthz" && rec.status == http.StatusOK {
			return
		}
		log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration", time.Since(start).Round(time.Microsecond))
	})
}

// featuredCustomer returns the customer the data was seeded for, or "".
func (s *server) featuredCustomer(ctx context.Context) (string, error) {
	var name string
	err := s.db.QueryRowContext(ctx, `SELECT name FROM customers WHERE featured = 1 ORDER BY id LIMIT 1`).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("shop: load featured customer: %w", err)
	}
	return name, nil
}

// Package shop is the sample app that Mayfly's sample catalog runs on the
// local provider: a small web shop backed by one SQLite file, with the
// commands the templates need around it (seed demo data, make a
// production-like dataset, snapshot it, verify a restore).
//
// The mayfly binary runs it as `mayfly sample-app <command> ...`, so a
// template needs nothing installed besides Mayfly itself.
package shop

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

const usage = `usage: mayfly sample-app <command> [flags]

The sample shop that Mayfly's sample templates run.

commands:
  serve            serve the shop over HTTP
                   --addr 127.0.0.1:PORT --db PATH [--title T] [--theme light|dark]
  seed             create demo data for one customer
                   --db PATH --customer NAME [--products 12] [--orders 40] [--with-orders=true]
  make-production  create a production-sized dataset
                   --db PATH [--seed 1]
  snapshot         copy the database into a dataset directory, with a manifest
                   --db PATH --dataset-dir DIR [--id ID]
  verify           check a database against a snapshot's manifest
                   --db PATH --manifest PATH

Run 'mayfly sample-app <command> -h' for a command's flags.
`

// Main runs one sample-app command with args (the words after
// "sample-app"), stopping cleanly on SIGINT or SIGTERM, and returns the exit
// code: 0 success, 1 failure (including a failed verify), 2 bad usage.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, stdout, stderr)
}

// Run is Main with the caller's context: serve stops when ctx is done.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var cmd func(context.Context, []string, io.Writer, io.Writer) error
	switch args[0] {
	case "serve":
		cmd = runServe
	case "seed":
		cmd = runSeed
	case "make-production":
		cmd = runMakeProduction
	case "snapshot":
		cmd = runSnapshot
	case "verify":
		cmd = runVerify
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sample-app: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := cmd(ctx, args[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "sample-app %s: %v\n", args[0], err)
		return 2
	case errors.Is(err, errReported):
		return 1
	default:
		fmt.Fprintf(stderr, "sample-app %s: %v\n", args[0], err)
		return 1
	}
}

// usageError is a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// errReported means the command already explained the failure on stderr.
var errReported = errors.New("reported")

// parse parses a command's flags, requires the named ones, and refuses
// leftover arguments.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer, required ...string) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		// The flag package has already printed the error and the usage.
		return usageError{"bad flags"}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var missing []string
	for _, name := range required {
		if !set[name] || fs.Lookup(name).Value.String() == "" {
			missing = append(missing, "--"+name)
		}
	}
	if len(missing) > 0 {
		return usageError{"missing " + strings.Join(missing, ", ")}
	}
	return nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "", "listen address, host:port (required)")
	dbPath := fs.String("db", "", "database file (required)")
	title := fs.String("title", "", "page title (default $SHOP_TITLE, else \"Mayfly Shop\")")
	theme := fs.String("theme", "", "light or dark (default $SHOP_THEME, else light)")
	if err := parse(fs, args, stderr, "addr", "db"); err != nil {
		return err
	}
	// The environment is read here, at the edge, so templates can set the
	// title in `env` without quoting it into the command line.
	if *title == "" {
		*title = os.Getenv("SHOP_TITLE")
	}
	if *theme == "" {
		*theme = os.Getenv("SHOP_THEME")
	}
	if *theme == "" {
		*theme = "light"
	}
	if !slices.Contains(Themes, *theme) {
		return usageError{fmt.Sprintf("--theme must be one of %s, not %q", strings.Join(Themes, ", "), *theme)}
	}

	db, err := openServing(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()

	log := slog.New(slog.NewTextHandler(stdout, nil))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("shop: serve: %w", err)
	}
	srv := &http.Server{
		Handler:           NewServer(db, ServerConfig{Title: *title, Theme: *theme, Logger: log}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("shop listening", "url", "http://"+ln.Addr().String()+"/", "db", *dbPath)

	select {
	case err := <-errc:
		return fmt.Errorf("shop: serve: %w", err)
	case <-ctx.Done():
	}
	// The local provider sends TERM and waits a little before KILL: finish
	// in-flight requests, but not for long.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shop: serve: shutdown: %w", err)
	}
	log.Info("shop stopped")
	return nil
}

func runSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	dbPath := fs.String("db", "", "database file, created if missing (required)")
	customer := fs.String("customer", "", "the customer the demo is for (required)")
	products := fs.Int("products", 12, "number of products")
	orders := fs.Int("orders", 40, "number of orders")
	withOrders := fs.Bool("with-orders", true, "create orders (false: none, whatever --orders says)")
	asOf := fs.String("as-of", "", "date the order history ends, YYYY-MM-DD (default today, UTC)")
	if err := parse(fs, args, stderr, "db", "customer"); err != nil {
		return err
	}
	end, err := parseAsOf(*asOf)
	if err != nil {
		return err
	}
	if !*withOrders {
		*orders = 0
	}
	if err := os.MkdirAll(filepath.Dir(*dbPath), 0o755); err != nil {
		return fmt.Errorf("shop: seed: %w", err)
	}
	db, err := Open(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := Seed(ctx, db, SeedOptions{Customer: *customer, Products: *products, Orders: *orders, AsOf: end}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %s for %q: %d products, %d customers, %d orders\n",
		*dbPath, strings.TrimSpace(*customer), *products, DemoCustomers, *orders)
	return nil
}

func runMakeProduction(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("make-production", flag.ContinueOnError)
	dbPath := fs.String("db", "", "database file, created if missing (required)")
	seed := fs.Uint64("seed", 1, "selects the dataset; the same seed gives the same rows")
	asOf := fs.String("as-of", "", "date the order history ends, YYYY-MM-DD (default today, UTC)")
	if err := parse(fs, args, stderr, "db"); err != nil {
		return err
	}
	end, err := parseAsOf(*asOf)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*dbPath), 0o755); err != nil {
		return fmt.Errorf("shop: make production dataset: %w", err)
	}
	db, err := Open(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	if err := MakeProduction(ctx, db, ProductionOptions{Seed: *seed, AsOf: end}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s: %d products, %d customers, %d orders in %s\n", *dbPath,
		ProductionProducts, ProductionCustomers, ProductionOrders, time.Since(start).Round(time.Millisecond))
	return nil
}

func runSnapshot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("snapshot", flag.ContinueOnError)
	dbPath := fs.String("db", "", "database file (required)")
	datasetDir := fs.String("dataset-dir", "", "dataset directory; the snapshot goes in DIR/<id> (required)")
	id := fs.String("id", "", "snapshot id (default the UTC time, "+IDLayout+")")
	if err := parse(fs, args, stderr, "db", "dataset-dir"); err != nil {
		return err
	}
	if err := mustExist(*dbPath); err != nil {
		return err
	}
	db, err := Open(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := Snapshot(ctx, db, *datasetDir, SnapshotOptions{ID: *id})
	if err != nil {
		return err
	}
	var rows int64
	for _, n := range m.Tables {
		rows += n
	}
	fmt.Fprintf(stdout, "snapshot %s/%s taken at %s: %d rows in %d tables, checksum %s\n",
		m.Dataset, m.ID, m.TakenAt.Format(time.RFC3339), rows, len(m.Tables), m.Checksum)
	return nil
}

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	dbPath := fs.String("db", "", "database file (required)")
	manifest := fs.String("manifest", "", "the snapshot's manifest.json (required)")
	if err := parse(fs, args, stderr, "db", "manifest"); err != nil {
		return err
	}
	m, err := ReadManifest(*manifest)
	if err != nil {
		return err
	}
	db, err := OpenReadOnly(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := Verify(ctx, db, m)
	if err != nil {
		return err
	}
	if !res.OK() {
		fmt.Fprintf(stderr, "verify: %s does not match snapshot %s/%s:\n", *dbPath, m.Dataset, m.ID)
		for _, line := range res.Mismatches {
			fmt.Fprintf(stderr, "  %s\n", line)
		}
		return errReported
	}
	fmt.Fprintf(stdout, "verified %d rows in %d tables, checksum %s matches\n",
		res.Summary.Rows(), len(res.Summary.Tables), res.Summary.Checksum)
	return nil
}

func parseAsOf(s string) (time.Time, error) {
	if s == "" {
		return time.Now().UTC().Truncate(24 * time.Hour), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, usageError{fmt.Sprintf("--as-of must be a date like 2026-01-31, not %q", s)}
	}
	return t, nil
}

package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is everything Mayfly reads from flags and the environment, read
// once at start and validated before anything else happens. Flags override
// environment variables.
type Config struct {
	Addr             string
	DataDir          string
	DatabaseURL      string
	ExternalURL      string
	OIDCIssuer       string
	OIDCClientID     string
	OIDCClientSecret string
	SecretKey        string // hex, from MAYFLY_SECRET_KEY
	SecretKeyFile    string
	CatalogDir       string
	LogFormat        string // text or json
	LogLevel         string

	// Tuning, mostly for tests and demos.
	SweepInterval time.Duration
	StopGrace     time.Duration
	JobTimeout    time.Duration
	RescueAfter   time.Duration
}

// defaultDataDir is $XDG_DATA_HOME/mayfly or ~/.local/share/mayfly.
func defaultDataDir(getenv func(string) string) string {
	if x := getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "mayfly")
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "share", "mayfly")
	}
	return "mayfly-data"
}

// ParseConfig reads flags (args, without the program name and subcommand)
// over environment variables.
func ParseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	envDur := func(key string, def time.Duration) time.Duration {
		if v := getenv(key); v != "" {
			if d, err := time.ParseDuration(v); err == nil {
				return d
			}
		}
		return def
	}
	var c Config
	fs := flag.NewFlagSet("mayfly", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", env("MAYFLY_ADDR", "127.0.0.1:8080"), "listen address (MAYFLY_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", env("MAYFLY_DATA_DIR", defaultDataDir(getenv)), "data directory (MAYFLY_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("MAYFLY_DATABASE_URL", ""), "database URL; empty: SQLite in the data directory (MAYFLY_DATABASE_URL)")
	fs.StringVar(&c.ExternalURL, "external-url", env("MAYFLY_EXTERNAL_URL", ""), "public URL of this server (MAYFLY_EXTERNAL_URL)")
	fs.StringVar(&c.OIDCIssuer, "oidc-issuer", env("MAYFLY_OIDC_ISSUER", ""), "OpenID Connect issuer URL (MAYFLY_OIDC_ISSUER)")
	fs.StringVar(&c.OIDCClientID, "oidc-client-id", env("MAYFLY_OIDC_CLIENT_ID", ""), "OpenID Connect client id (MAYFLY_OIDC_CLIENT_ID)")
	fs.StringVar(&c.OIDCClientSecret, "oidc-client-secret", env("MAYFLY_OIDC_CLIENT_SECRET", ""), "OpenID Connect client secret (MAYFLY_OIDC_CLIENT_SECRET)")
	fs.StringVar(&c.SecretKeyFile, "secret-key-file", env("MAYFLY_SECRET_KEY_FILE", ""), "file holding the 32-byte hex key that encrypts secrets (default: generated in the data directory)")
	fs.StringVar(&c.CatalogDir, "catalog-dir", env("MAYFLY_CATALOG_DIR", ""), "directory of template YAML files to load at start (default: the built-in sample catalog)")
	fs.StringVar(&c.LogFormat, "log-format", env("MAYFLY_LOG_FORMAT", ""), "text or json (MAYFLY_LOG_FORMAT; default: text on a terminal, json otherwise)")
	fs.StringVar(&c.LogLevel, "log-level", env("MAYFLY_LOG_LEVEL", "info"), "debug, info, warn or error (MAYFLY_LOG_LEVEL)")
	fs.DurationVar(&c.SweepInterval, "reaper-sweep-interval", envDur("MAYFLY_REAPER_SWEEP_INTERVAL", 10*time.Second), "how often the reaper's backstop scan runs")
	fs.DurationVar(&c.JobTimeout, "job-timeout", envDur("MAYFLY_JOB_TIMEOUT", 10*time.Minute), "longest one step of a job may run")
	fs.DurationVar(&c.RescueAfter, "rescue-after", envDur("MAYFLY_RESCUE_AFTER", 11*time.Minute), "a job running this long belonged to a replica that died and is run again (more than --job-timeout)")
	fs.DurationVar(&c.StopGrace, "stop-grace", envDur("MAYFLY_STOP_GRACE", 5*time.Second), "local provider: time between TERM and KILL")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.SecretKey = getenv("MAYFLY_SECRET_KEY")
	if c.ExternalURL == "" {
		c.ExternalURL = "http://" + c.Addr
	}
	return c, c.Validate()
}

// Validate checks the configuration and refuses unsafe defaults.
func (c Config) Validate() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %v", c.Addr, err)
	}
	if c.OIDCIssuer != "" || c.OIDCClientID != "" {
		return errors.New("sign-in with OpenID Connect is not available in this version yet: unset MAYFLY_OIDC_ISSUER and MAYFLY_OIDC_CLIENT_ID to run in local mode")
	}
	if !isLoopback(host) {
		return fmt.Errorf("refusing to listen on %s: no sign-in is configured, so anyone who can reach this address would control Mayfly. "+
			"Listen on a loopback address (the default, 127.0.0.1:8080) or configure sign-in (MAYFLY_OIDC_ISSUER)", c.Addr)
	}
	if c.DataDir == "" {
		return errors.New("--data-dir is empty")
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("--log-format %q: must be text or json", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.JobTimeout <= 0 || c.RescueAfter <= c.JobTimeout {
		return fmt.Errorf("--rescue-after (%s) must be longer than --job-timeout (%s), which must be positive: a job still running is never taken over", c.RescueAfter, c.JobTimeout)
	}
	if c.SecretKey != "" {
		if b, err := hex.DecodeString(strings.TrimSpace(c.SecretKey)); err != nil || len(b) != 32 {
			return errors.New("MAYFLY_SECRET_KEY must be 64 hex characters (32 bytes)")
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: must be debug, info, warn or error", s)
	}
	return l, nil
}

// newLogger builds the process logger: text on a terminal, JSON otherwise.
func newLogger(c Config, w *os.File) *slog.Logger {
	level, _ := parseLevel(c.LogLevel) // validated
	format := c.LogFormat
	if format == "" {
		format = "json"
		if fi, err := w.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			format = "text"
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

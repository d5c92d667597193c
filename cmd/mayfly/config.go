package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/local"
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
	// SecretKeysPrevious are older keys (hex, comma-separated, from
	// MAYFLY_SECRET_KEY_PREVIOUS) that still decrypt; secrets sealed with
	// them are re-encrypted with the current key at start.
	SecretKeysPrevious string
	SecretKeyFile      string
	CatalogDir         string
	LogFormat          string // text or json
	LogLevel           string

	// Sign-in (see "Sign-in and access" in the README).
	OIDCRedirectURL string
	OIDCScopes      string // comma-separated, besides openid
	OIDCGroupsClaim string
	RoleGroups      string // group=role,...
	TeamGroups      string // group=team,...
	DefaultRole     string
	SessionIdle     time.Duration
	SessionMax      time.Duration
	SignInPerMinute int
	TokenPerSecond  int // requests with API tokens a second per client address
	TokenBurst      int
	// RoleRecheck is how long the identity provider's word on a user's role
	// and teams holds before a session or token using it asks again.
	RoleRecheck time.Duration

	// The HTTP edge (see "Security" in the README).
	// TrustProxy lists the reverse proxies (comma-separated CIDRs or
	// addresses) whose X-Forwarded-For and X-Forwarded-Proto are believed.
	TrustProxy string
	// AllowedHosts are host names answered besides loopback and the
	// external URL's host (comma-separated; sign-in only).
	AllowedHosts string
	// MaxConnsPerClient caps the open connections of one client address
	// (0: no cap); trusted proxies are not capped.
	MaxConnsPerClient int
	// The HTTP server's timeouts have no flags (zero: the defaults in
	// mayfly.go); tests shorten them.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration

	// Tuning, mostly for tests and demos.
	SweepInterval time.Duration
	StopGrace     time.Duration
	// AuthRecheck is how often open SSE streams check their session or
	// token again (no flag; default 5s, tests make it shorter).
	AuthRecheck time.Duration
	// Clock replaces the service's and the ID token verifier's clock (no
	// flag; tests move it instead of waiting for --role-recheck).
	Clock func() time.Time

	// AWS enables the aws provider (see awsEnabled); its credentials,
	// region and endpoints come from the SDK's own chain.
	AWS AWSConfig
	// Kube enables the kubernetes provider (see config_kube.go).
	Kube        KubeConfig
	JobTimeout  time.Duration
	RescueAfter time.Duration
	// ProvisionAttempts and DestroyAttempts bound how often a provider may
	// fail one launch or one destroy; DestroyTimeout how long a destroy
	// may stay in progress. After either the environment ends failed or
	// destroy_failed with the reason (see envs.Config).
	ProvisionAttempts int
	DestroyAttempts   int
	DestroyTimeout    time.Duration
	// DriftConcurrency is how many drift checks run at once (see
	// envs/drift_jobs.go).
	DriftConcurrency int
	// RollbackGrace is how long the stack a replace took out of service
	// is kept for an instant rollback, unless the version says (0: none).
	RollbackGrace time.Duration

	// The local provider's isolation (see isolation.go): LocalSandbox is
	// auto, on or off; LocalHidden are credentials files of the libraries
	// the portal uses, hidden from stack processes with the data directory.
	LocalSandbox string
	LocalHidden  []string
	// Providers turns providers on (see config_providers.go).
	Providers ProvidersConfig
	// Tofu configures the tofu provider (see config_tofu.go).
	Tofu TofuConfig
	// Notify configures the delivery of notices (see config_notify.go).
	Notify NotifyConfig
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
	// A variable that is not a number (or not a duration) is reported,
	// naming the flag too, unless the flag overrides it: a typo must not
	// quietly mean the default.
	badEnv := map[string]error{}
	envInt := func(key, flagName string, def int) int {
		return envChecked(getenv, badEnv, key, flagName, def, strconv.Atoi, "a whole number")
	}
	// envDur's flag is named after its variable: MAYFLY_JOB_TIMEOUT is
	// --job-timeout.
	envDur := func(key string, def time.Duration) time.Duration {
		flagName := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(key, "MAYFLY_"), "_", "-"))
		return envChecked(getenv, badEnv, key, flagName, def, time.ParseDuration, "a duration such as 90m or 2h")
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
	fs.StringVar(&c.OIDCRedirectURL, "oidc-redirect-url", env("MAYFLY_OIDC_REDIRECT_URL", ""), "OpenID Connect redirect URL (MAYFLY_OIDC_REDIRECT_URL; default: <external URL>/auth/callback)")
	fs.StringVar(&c.OIDCScopes, "oidc-scopes", env("MAYFLY_OIDC_SCOPES", "profile,email,groups,offline_access"),
		"scopes requested besides openid; offline_access gets the refresh token that re-checks membership (MAYFLY_OIDC_SCOPES)")
	fs.StringVar(&c.OIDCGroupsClaim, "oidc-groups-claim", env("MAYFLY_OIDC_GROUPS_CLAIM", "groups"), "ID token claim listing the user's groups (MAYFLY_OIDC_GROUPS_CLAIM)")
	fs.StringVar(&c.RoleGroups, "role-groups", env("MAYFLY_ROLE_GROUPS", ""), "group=role pairs, comma-separated; roles: viewer, member, author, admin (MAYFLY_ROLE_GROUPS)")
	fs.StringVar(&c.TeamGroups, "team-groups", env("MAYFLY_TEAM_GROUPS", ""), "group=team pairs, comma-separated (MAYFLY_TEAM_GROUPS)")
	fs.StringVar(&c.DefaultRole, "default-role", env("MAYFLY_DEFAULT_ROLE", ""), "role of people none of whose groups has one; empty: none (MAYFLY_DEFAULT_ROLE)")
	fs.DurationVar(&c.SessionIdle, "session-idle", envDur("MAYFLY_SESSION_IDLE", 8*time.Hour), "a session ends after this long without a request (MAYFLY_SESSION_IDLE)")
	fs.DurationVar(&c.SessionMax, "session-max", envDur("MAYFLY_SESSION_MAX", 7*24*time.Hour), "a session ends this long after sign-in (MAYFLY_SESSION_MAX)")
	fs.IntVar(&c.SignInPerMinute, "signin-rate-limit", envInt("MAYFLY_SIGNIN_RATE_LIMIT", "signin-rate-limit", 20), "sign-in attempts allowed per minute per client address (MAYFLY_SIGNIN_RATE_LIMIT)")
	fs.IntVar(&c.TokenPerSecond, "token-rate-limit", envInt("MAYFLY_TOKEN_RATE_LIMIT", "token-rate-limit", 20), "requests with API tokens allowed per second per client address (MAYFLY_TOKEN_RATE_LIMIT)")
	fs.IntVar(&c.TokenBurst, "token-rate-burst", envInt("MAYFLY_TOKEN_RATE_BURST", "token-rate-burst", 200), "requests with API tokens a client address may make at once before --token-rate-limit applies (MAYFLY_TOKEN_RATE_BURST)")
	// Membership re-checks (issue 11, item 7).
	fs.DurationVar(&c.RoleRecheck, "role-recheck", envDur("MAYFLY_ROLE_RECHECK", 15*time.Minute),
		"re-check a user's groups at the identity provider when a session or token is used this long after the last check; unreachable, the old role holds one more interval (MAYFLY_ROLE_RECHECK)")
	fs.StringVar(&c.TrustProxy, "trust-proxy", env("MAYFLY_TRUST_PROXY", ""),
		"reverse proxies whose X-Forwarded-For/-Proto are believed: comma-separated CIDRs or addresses, e.g. 10.0.0.0/8,192.168.1.5 (MAYFLY_TRUST_PROXY)")
	fs.StringVar(&c.AllowedHosts, "allowed-hosts", env("MAYFLY_ALLOWED_HOSTS", ""),
		"with sign-in: host names answered besides loopback and the external URL's, comma-separated (MAYFLY_ALLOWED_HOSTS)")
	fs.IntVar(&c.MaxConnsPerClient, "max-conns-per-client", envInt("MAYFLY_MAX_CONNS_PER_CLIENT", "max-conns-per-client", 256),
		"open connections allowed per client address; 0: no cap; trusted proxies are not capped (MAYFLY_MAX_CONNS_PER_CLIENT)")
	fs.StringVar(&c.SecretKeyFile, "secret-key-file", env("MAYFLY_SECRET_KEY_FILE", ""), "file holding the 32-byte hex key that encrypts secrets (default: generated in the data directory)")
	fs.StringVar(&c.CatalogDir, "catalog-dir", env("MAYFLY_CATALOG_DIR", ""), "directory of template YAML files to load at start (default: the built-in sample catalog)")
	fs.StringVar(&c.LogFormat, "log-format", env("MAYFLY_LOG_FORMAT", ""), "text or json (MAYFLY_LOG_FORMAT; default: text on a terminal, json otherwise)")
	fs.StringVar(&c.LogLevel, "log-level", env("MAYFLY_LOG_LEVEL", "info"), "debug, info, warn or error (MAYFLY_LOG_LEVEL)")
	fs.DurationVar(&c.SweepInterval, "reaper-sweep-interval", envDur("MAYFLY_REAPER_SWEEP_INTERVAL", 10*time.Second), "how often the reaper's backstop scan runs")
	fs.DurationVar(&c.JobTimeout, "job-timeout", envDur("MAYFLY_JOB_TIMEOUT", 10*time.Minute), "longest one step of a job may run")
	fs.DurationVar(&c.RescueAfter, "rescue-after", envDur("MAYFLY_RESCUE_AFTER", 11*time.Minute), "a job running this long belonged to a replica that died and is run again (more than --job-timeout)")
	fs.IntVar(&c.ProvisionAttempts, "provision-attempts", envInt("MAYFLY_PROVISION_ATTEMPTS", "provision-attempts", 3),
		"a launch fails when the provider has failed it this many times (MAYFLY_PROVISION_ATTEMPTS)")
	fs.IntVar(&c.DestroyAttempts, "destroy-attempts", envInt("MAYFLY_DESTROY_ATTEMPTS", "destroy-attempts", 25),
		"a destroy is given up (destroy_failed, for an admin to retry) when the provider has failed it this many times (MAYFLY_DESTROY_ATTEMPTS)")
	fs.DurationVar(&c.DestroyTimeout, "destroy-timeout", envDur("MAYFLY_DESTROY_TIMEOUT", time.Hour),
		"a destroy still in progress this long after it was requested is given up (destroy_failed, for an admin to retry); a provider may need longer (aws: 3h) (MAYFLY_DESTROY_TIMEOUT)")
	fs.IntVar(&c.DriftConcurrency, "drift-concurrency", envInt("MAYFLY_DRIFT_CONCURRENCY", "drift-concurrency", 4),
		"how many drift checks of ready stacks run at once, per replica (MAYFLY_DRIFT_CONCURRENCY)")
	fs.DurationVar(&c.RollbackGrace, "rollback-grace", envDur("MAYFLY_ROLLBACK_GRACE", time.Hour),
		"how long the old stack of a replace is kept for an instant rollback, unless the template says; 0: destroyed at once (MAYFLY_ROLLBACK_GRACE)")
	fs.DurationVar(&c.StopGrace, "stop-grace", envDur("MAYFLY_STOP_GRACE", 5*time.Second), "local provider: time between TERM and KILL")
	awsFlags(fs, &c.AWS, env, envDur)
	kubeFlags(fs, &c.Kube, env)
	fs.StringVar(&c.LocalSandbox, "local-sandbox", env("MAYFLY_LOCAL_SANDBOX", local.SandboxAuto),
		"local provider: run stack processes in a Landlock sandbox that hides the data directory and secrets: auto (when the kernel can), on (refuse to start stacks without it) or off (MAYFLY_LOCAL_SANDBOX)")
	c.LocalHidden = credentialPaths(getenv)
	providersFlags(fs, &c.Providers, env)
	tofuFlags(fs, &c.Tofu, env, envDur)
	notifyFlags(fs, &c.Notify, env, envInt, envDur)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	fs.Visit(func(f *flag.Flag) { delete(badEnv, f.Name) })
	if names := slices.Sorted(maps.Keys(badEnv)); len(names) > 0 {
		return Config{}, badEnv[names[0]]
	}
	c.AWS.resolve(getenv)
	c.Kube.resolve()
	if err := c.Providers.resolve(c.SignIn(), &c.AWS, &c.Kube); err != nil {
		return Config{}, err
	}
	if err := c.Providers.resolveTofu(c.Tofu); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.SecretKey = getenv("MAYFLY_SECRET_KEY")
	c.SecretKeysPrevious = getenv("MAYFLY_SECRET_KEY_PREVIOUS")
	if c.ExternalURL == "" {
		c.ExternalURL = "http://" + c.Addr
	}
	return c, c.Validate()
}

// envChecked reads the variable key with parse. A value parse refuses is
// recorded in bad under the flag's name (reported unless the flag is given)
// and the default is used meanwhile.
func envChecked[T any](getenv func(string) string, bad map[string]error, key, flagName string, def T, parse func(string) (T, error), must string) T {
	v := getenv(key)
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil {
		bad[flagName] = fmt.Errorf("%s (--%s) %q: must be %s", key, flagName, v, must)
		return def
	}
	return x
}

// Validate checks the configuration and refuses unsafe defaults.
func (c Config) Validate() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %v", c.Addr, err)
	}
	if c.SignIn() {
		if c.OIDCIssuer == "" || c.OIDCClientID == "" || c.OIDCClientSecret == "" {
			return errors.New("sign-in needs MAYFLY_OIDC_ISSUER, MAYFLY_OIDC_CLIENT_ID and MAYFLY_OIDC_CLIENT_SECRET together")
		}
		if u, err := url.Parse(c.OIDCIssuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("--oidc-issuer %q: must be an http(s) URL", c.OIDCIssuer)
		}
		if _, err := envs.ParseGroupMapping(c.RoleGroups, c.TeamGroups, c.DefaultRole); err != nil {
			return fmt.Errorf("group mapping: %v", err)
		}
		if c.SignInPerMinute <= 0 {
			return fmt.Errorf("--signin-rate-limit %d: must be positive (sign-in attempts a minute per client address)", c.SignInPerMinute)
		}
		if c.TokenPerSecond <= 0 {
			return fmt.Errorf("--token-rate-limit %d: must be positive (requests with API tokens a second per client address)", c.TokenPerSecond)
		}
		if c.TokenBurst < c.TokenPerSecond {
			return fmt.Errorf("--token-rate-burst %d: must be at least --token-rate-limit (%d)", c.TokenBurst, c.TokenPerSecond)
		}
		if c.SessionIdle <= 0 || c.SessionMax <= 0 {
			return errors.New("--session-idle and --session-max must be positive")
		}
		if c.RoleRecheck <= 0 {
			return fmt.Errorf("--role-recheck %s: must be positive (how long the identity provider's word on a role holds)", c.RoleRecheck)
		}
	}
	if u, err := url.Parse(c.ExternalURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("--external-url %q: must be an http(s) URL", c.ExternalURL)
	}
	if !c.SignIn() && !isLoopback(host) {
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
	if err := c.AWS.validate(); err != nil {
		return err
	}
	if err := c.Kube.validate(); err != nil {
		return err
	}
	if err := c.Notify.validate(); err != nil {
		return err
	}
	if err := c.Tofu.validate(c.JobTimeout); err != nil {
		return err
	}
	switch c.LocalSandbox {
	case local.SandboxAuto, local.SandboxOn, local.SandboxOff:
	default:
		return fmt.Errorf("--local-sandbox %q: must be auto, on or off", c.LocalSandbox)
	}
	if c.JobTimeout <= 0 || c.RescueAfter <= c.JobTimeout {
		return fmt.Errorf("--rescue-after (%s) must be longer than --job-timeout (%s), which must be positive: a job still running is never taken over", c.RescueAfter, c.JobTimeout)
	}
	if c.ProvisionAttempts < 1 {
		return fmt.Errorf("--provision-attempts %d: must be at least 1", c.ProvisionAttempts)
	}
	if c.RollbackGrace < 0 {
		return fmt.Errorf("--rollback-grace %s: must not be negative", c.RollbackGrace)
	}
	if c.DriftConcurrency < 1 || c.DriftConcurrency > 100 {
		return fmt.Errorf("--drift-concurrency %d: must be from 1 to 100", c.DriftConcurrency)
	}
	if c.DestroyAttempts < 1 {
		return fmt.Errorf("--destroy-attempts %d: must be at least 1", c.DestroyAttempts)
	}
	if c.DestroyTimeout <= 0 {
		return fmt.Errorf("--destroy-timeout %s: must be positive", c.DestroyTimeout)
	}
	if c.SecretKey != "" {
		if b, err := hex.DecodeString(strings.TrimSpace(c.SecretKey)); err != nil || len(b) != 32 {
			return errors.New("MAYFLY_SECRET_KEY must be 64 hex characters (32 bytes)")
		}
	}
	if _, err := c.previousKeys(); err != nil {
		return err
	}
	if _, err := c.trustedProxies(); err != nil {
		return err
	}
	if _, err := c.allowedHosts(); err != nil {
		return err
	}
	if c.MaxConnsPerClient < 0 {
		return fmt.Errorf("--max-conns-per-client %d: must be 0 (no cap) or more", c.MaxConnsPerClient)
	}
	return nil
}

// trustedProxies parses --trust-proxy: the addresses of the reverse
// proxies whose X-Forwarded-For and X-Forwarded-Proto are believed.
func (c Config) trustedProxies() ([]netip.Prefix, error) {
	v := strings.TrimSpace(c.TrustProxy)
	switch strings.ToLower(v) {
	case "", "false":
		return nil, nil
	case "true", "1", "yes", "on":
		return nil, fmt.Errorf("--trust-proxy (MAYFLY_TRUST_PROXY) %q: name your reverse proxies instead, as comma-separated CIDRs or addresses "+
			"(e.g. 10.0.0.0/8,192.168.1.5); true, which believed X-Forwarded-For from any private address, is no longer accepted", v)
	}
	out, err := parsePrefixes("--trust-proxy (MAYFLY_TRUST_PROXY)", v)
	for _, p := range out {
		if p.Bits() == 0 {
			// Anyone could then choose the address the audit log and the
			// rate limits see.
			return nil, fmt.Errorf("--trust-proxy (MAYFLY_TRUST_PROXY) %q: %s would trust every address; name your proxies' addresses", v, p)
		}
	}
	return out, err
}

// parsePrefixes reads a comma-separated list of CIDRs and single
// addresses (each then a /32 or /128) for the setting named.
func parsePrefixes(setting, v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%s %q: %q is not an IP address or a CIDR such as 10.0.0.0/8", setting, v, part)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// allowedHosts parses --allowed-hosts: host names (no scheme, path or
// port), lower-cased.
func (c Config) allowedHosts() ([]string, error) {
	var out []string
	for _, h := range strings.Split(c.AllowedHosts, ",") {
		h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
		if h == "" {
			continue
		}
		if !c.SignIn() {
			return nil, fmt.Errorf("--allowed-hosts (MAYFLY_ALLOWED_HOSTS) needs sign-in: in local mode Mayfly answers only for loopback names "+
				"and the external URL's host, so that no other site can reach it through DNS rebinding; set --external-url to the name you use (%q)", h)
		}
		if strings.ContainsAny(h, "/:@ ") && net.ParseIP(strings.Trim(h, "[]")) == nil {
			return nil, fmt.Errorf("--allowed-hosts (MAYFLY_ALLOWED_HOSTS) %q: give host names only, without scheme, port or path (any port is answered)", h)
		}
		out = append(out, strings.Trim(h, "[]"))
	}
	return out, nil
}

// SignIn reports whether sign-in is configured (otherwise: local mode).
func (c Config) SignIn() bool {
	return c.OIDCIssuer != "" || c.OIDCClientID != "" || c.OIDCClientSecret != ""
}

// previousKeys decodes MAYFLY_SECRET_KEY_PREVIOUS.
func (c Config) previousKeys() ([][]byte, error) {
	var keys [][]byte
	for _, k := range strings.Split(c.SecretKeysPrevious, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		b, err := hex.DecodeString(k)
		if err != nil || len(b) != 32 {
			return nil, errors.New("MAYFLY_SECRET_KEY_PREVIOUS must be 64 hex characters (32 bytes) per key, comma-separated")
		}
		keys = append(keys, b)
	}
	return keys, nil
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

package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/catalog"
	"github.com/mayflyhq/mayfly/catalog/shop"
	"github.com/mayflyhq/mayfly/envs"
	mfaws "github.com/mayflyhq/mayfly/envs/aws"
	"github.com/mayflyhq/mayfly/envs/kube"
	"github.com/mayflyhq/mayfly/envs/local"
	"github.com/mayflyhq/mayfly/envs/tofu"
	"github.com/mayflyhq/mayfly/handlers"
	"github.com/mayflyhq/mayfly/storage"
)

// Main is the whole running portal: configuration, database, orchestrator
// and HTTP server. The binary and the end-to-end tests start the very same
// thing (tests on port 0 with a temporary data directory).
type Main struct {
	Config  Config
	Log     *slog.Logger
	DB      *storage.DB
	Local   *local.Provider
	AWS     *mfaws.Provider // nil unless the aws provider is enabled
	Kube    *kube.Provider  // nil unless the kubernetes provider is enabled
	Tofu    *tofu.Provider  // nil unless --tofu-binary is set
	Service *envs.Service
	Metrics *handlers.Metrics

	listener net.Listener
	server   *http.Server
	started  bool
	lock     *os.File
	awsStop  func()
	// tofuCheck is what the admin page says of the tofu provider.
	tofuCheck handlers.ProviderCheck
}

// NewMain prepares a Main from a validated configuration.
func NewMain(cfg Config) *Main {
	return &Main{Config: cfg, Log: newLogger(cfg, os.Stderr)}
}

// Run opens everything, starts the orchestrator and begins serving. It
// returns once the server is listening.
func (m *Main) Run(ctx context.Context) error {
	cfg := m.Config
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	// A SQLite database and its data directory belong to one process. On
	// PostgreSQL several replicas share the database (and, on one host, the
	// data directory: see "Running at scale" in the README).
	sqlite := !storage.IsPostgres(cfg.DatabaseURL)
	if sqlite {
		lock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return err
		}
		m.lock = lock
	}
	if err := m.openDatabase(ctx); err != nil {
		return err
	}
	if sqlite {
		// Only with the data directory locked is every running job an orphan
		// of a previous run; on PostgreSQL River's rescuer takes over the
		// jobs of a replica that died.
		if n, err := m.DB.RequeueRunningJobs(ctx); err != nil {
			return err
		} else if n > 0 {
			m.Log.Warn("resuming jobs interrupted when Mayfly last stopped", "jobs", n)
		}
	}
	key, err := m.secretKey()
	if err != nil {
		return err
	}
	previous, _ := cfg.previousKeys() // validated
	cipher, err := envs.NewCipher(key, previous...)
	if err != nil {
		return err
	}
	groups, _ := envs.ParseGroupMapping(cfg.RoleGroups, cfg.TeamGroups, cfg.DefaultRole) // validated
	instance, err := m.DB.SetSettingOnce(ctx, "instance_id", "mfi-"+randomHex(8))
	if err != nil {
		return err
	}
	snapshots := filepath.Join(cfg.DataDir, "snapshots")
	if created, err := shop.EnsureProductionSnapshot(cfg.DataDir, snapshots, time.Now().UTC()); err != nil {
		m.Log.Warn("could not create the sample production snapshot", "err", err)
	} else if created {
		m.Log.Info("created the sample production dataset and its first snapshot", "dir", snapshots)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	m.Local, err = local.New(local.Config{
		Root:         filepath.Join(cfg.DataDir, "stacks"),
		LogsDir:      filepath.Join(cfg.DataDir, "logs"),
		SnapshotsDir: snapshots,
		Executable:   exe,
		StopGrace:    cfg.StopGrace,
		Logger:       m.Log.With("provider", "local"),
		Sandbox:      cfg.LocalSandbox,
		Hidden:       m.hiddenPaths(),
		Sealer:       cipher,
	})
	if err != nil {
		return err
	}
	cloud, err := m.startAWS(ctx, instance)
	if err != nil {
		return err
	}
	clusters, err := m.startKube(instance)
	if err != nil {
		return err
	}
	cloud = append(cloud, clusters...)
	tofuProviders, err := m.startTofu()
	if err != nil {
		return err
	}
	cloud = append(cloud, tofuProviders...)
	var signin *handlers.OIDC
	hosts, _ := cfg.allowedHosts()     // validated
	proxies, _ := cfg.trustedProxies() // validated
	if cfg.SignIn() {
		redirectURL := cfg.OIDCRedirectURL
		if redirectURL == "" {
			redirectURL = strings.TrimRight(cfg.ExternalURL, "/") + "/auth/callback"
		} else if u, err := url.Parse(redirectURL); err == nil && u.Hostname() != "" {
			// The identity provider sends browsers back there: it is a name
			// of this server too.
			hosts = append(hosts, u.Hostname())
		}
		var scopes []string
		for _, sc := range strings.Split(cfg.OIDCScopes, ",") {
			if sc = strings.TrimSpace(sc); sc != "" && sc != "openid" {
				scopes = append(scopes, sc)
			}
		}
		signin, err = handlers.NewOIDC(ctx, handlers.OIDCConfig{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID,
			ClientSecret: cfg.OIDCClientSecret, RedirectURL: redirectURL, Scopes: scopes, GroupsClaim: cfg.OIDCGroupsClaim,
			HTTPClient: &http.Client{Timeout: 30 * time.Second}, Now: cfg.Clock})
		if err != nil {
			return err
		}
	}
	// Listening before the service is built: links in notices name the
	// port, which is known only now when the address asks for any (":0").
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	serving := false
	defer func() {
		if !serving {
			ln.Close()
		}
	}()
	on, off := m.providersOnAndOff(append([]envs.Provider{m.Local}, cloud...))
	m.Metrics = handlers.NewMetrics()
	svcCfg := envs.Config{
		Store:         m.DB,
		Providers:     on,
		ProvidersOff:  off,
		ProviderSetup: providerSetup,
		Cipher:        cipher,
		Logger:        m.Log,
		Metrics:       m.Metrics,
		InstanceID:    instance,
		SweepInterval: cfg.SweepInterval,
		Orphans: envs.OrphanPolicy{Grace: cfg.AWS.OrphanGrace, DryRun: cfg.AWS.OrphanDryRun,
			Interval: cfg.AWS.OrphanSweepInterval},
		Groups:      groups,
		SessionIdle: cfg.SessionIdle,
		SessionMax:  cfg.SessionMax,
		JobTimeout:  cfg.JobTimeout,
		RescueAfter: cfg.RescueAfter,

		ProvisionAttempts: cfg.ProvisionAttempts,
		DriftWorkers:      cfg.DriftConcurrency,
		RollbackGrace:     rollbackGrace(cfg.RollbackGrace),
		DestroyAttempts:   cfg.DestroyAttempts,
		DestroyTimeout:    cfg.DestroyTimeout,
		RoleRecheck:       cfg.RoleRecheck,
		Clock:             cfg.Clock,

		ExternalURL:    externalURL(cfg.ExternalURL, ln.Addr()),
		SMTP:           cfg.Notify.smtp(),
		NotifyAttempts: cfg.Notify.Attempts,
		NotifyTimeout:  cfg.Notify.Timeout,
	}
	if signin != nil {
		svcCfg.Identity = signin // roles are re-checked at the provider
	}
	m.Service, err = envs.New(svcCfg)
	if err != nil {
		return err
	}
	var localAdmin *envs.Actor
	if signin == nil {
		// Local mode: everyone on this machine is the local administrator,
		// recorded as a user so that it can hold API tokens.
		a, err := m.Service.LocalAdmin(ctx)
		if err != nil {
			return err
		}
		localAdmin = &a
	}
	if len(previous) > 0 {
		n, err := m.Service.ResealSecrets(ctx)
		if err != nil {
			return err
		}
		m.Log.Info("re-encrypted secrets with the current key; the previous keys can be removed once every replica runs with it", "environments", n)
	}
	if err := m.loadCatalog(ctx); err != nil {
		return err
	}
	if err := m.Service.Start(ctx); err != nil {
		return err
	}
	m.started = true

	if u, _ := url.Parse(cfg.ExternalURL); u != nil {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
			m.Log.Warn("the external URL's host is "+u.Hostname()+": requests are answered only for loopback names and --allowed-hosts; "+
				"set --external-url (MAYFLY_EXTERNAL_URL) to the URL people use", "external_url", cfg.ExternalURL)
		}
	}
	writeTimeout := cmp.Or(cfg.WriteTimeout, 2*time.Minute)
	handler := handlers.New(handlers.Config{
		Service:        m.Service,
		Logger:         m.Log,
		Metrics:        m.Metrics,
		ProviderChecks: m.providerChecks,
		OIDC:           signin,
		LocalAdmin:     localAdmin,
		ExternalURL:    cfg.ExternalURL,
		AuthRecheck:    cfg.AuthRecheck,

		AllowedHosts:   hosts,
		TrustedProxies: proxies,
		WriteTimeout:   writeTimeout,

		SignInPerMinute: cfg.SignInPerMinute,
		TokenPerSecond:  cfg.TokenPerSecond,
		TokenBurst:      cfg.TokenBurst,
		Ready: func(ctx context.Context) error {
			if err := m.DB.Ping(ctx); err != nil {
				return err
			}
			return m.DB.Migrated(ctx)
		},
	})
	m.listener = handlers.LimitConns(ln, cfg.MaxConnsPerClient, proxies, m.Log)
	serving = true
	m.server = &http.Server{
		Handler: handler,
		// A client must send its headers within 10 s and its whole request
		// (a 1 MiB template included) within a minute, and take the answer
		// within two: one that promises a body and never sends it, or stops
		// reading, no longer holds a connection for ever. An SSE stream lifts
		// these deadlines for itself (environment_stream.go).
		ReadHeaderTimeout: cmp.Or(cfg.ReadHeaderTimeout, 10*time.Second),
		ReadTimeout:       cmp.Or(cfg.ReadTimeout, time.Minute),
		WriteTimeout:      writeTimeout,
		IdleTimeout:       cmp.Or(cfg.IdleTimeout, 2*time.Minute),
		ErrorLog:          slog.NewLogLogger(m.Log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := m.server.Serve(m.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

func (m *Main) openDatabase(ctx context.Context) error {
	db, err := storage.Open(ctx, m.Config.DatabaseURL, m.Config.DataDir)
	if err != nil {
		return err
	}
	m.DB = db
	return db.Migrate(ctx, m.Log)
}

// URL is where the portal answers (with the real port when started on :0).
func (m *Main) URL() string {
	if m.listener == nil {
		return m.Config.ExternalURL
	}
	return "http://" + m.listener.Addr().String()
}

// shutdownTimeout bounds Close: stop serving, hand running jobs back and
// cancel what is left. Deployments give a replica longer than this plus
// --stop-grace before killing it (deploy/, docker-compose.yml).
const shutdownTimeout = 10 * time.Second

// Close stops serving, lets running jobs finish briefly, and closes the
// database. Stacks keep running: they belong to their environments, and the
// next start finds them again.
func (m *Main) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var errs []error
	if m.server != nil {
		// SSE streams never finish on their own; close them after a short
		// grace instead of waiting out the whole timeout.
		sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
		if err := m.server.Shutdown(sctx); err != nil {
			m.server.Close()
		}
		scancel()
	}
	if m.awsStop != nil {
		m.awsStop()
	}
	if m.Service != nil && m.started {
		if err := m.Service.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if m.DB != nil {
		if err := m.DB.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if m.lock != nil {
		m.lock.Close() // releases the flock
	}
	return errors.Join(errs...)
}

// secretKey returns the key that encrypts secret parameters: from
// MAYFLY_SECRET_KEY, from --secret-key-file, or generated on first start
// into the data directory (readable by the owner only).
func (m *Main) secretKey() ([]byte, error) {
	if m.Config.SecretKey != "" {
		return hex.DecodeString(strings.TrimSpace(m.Config.SecretKey))
	}
	path := m.Config.SecretKeyFile
	if path == "" {
		path = filepath.Join(m.Config.DataDir, "secret.key")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if err := os.WriteFile(path, []byte(randomHex(32)+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("write secret key: %w", err)
			}
			m.Log.Info("generated the secret key", "file", path)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("secret key file %s must hold 64 hex characters", path)
	}
	return key, nil
}

// loadCatalog publishes every template of the catalog directory (or the
// built-in sample catalog). Publishing is idempotent, so this runs at every
// start; a file whose version exists with other content is reported, not
// fatal.
func (m *Main) loadCatalog(ctx context.Context) error {
	var fsys fs.FS = catalog.FS
	if m.Config.CatalogDir != "" {
		fsys = os.DirFS(m.Config.CatalogDir)
	}
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return fmt.Errorf("read catalog: %w", err)
	}
	more, _ := fs.Glob(fsys, "*.yml")
	names = append(names, more...)
	if m.Config.Providers.has("aws") && m.Config.CatalogDir == "" {
		// The AWS samples load only where they can be launched.
		more, _ = fs.Glob(fsys, "aws/*.yaml")
		names = append(names, more...)
	}
	if m.Config.Providers.has(kube.Name) && m.Config.CatalogDir == "" {
		more, _ = fs.Glob(fsys, "kube/*.yaml") // likewise
		names = append(names, more...)
	}
	if m.Config.Providers.has("tofu") && m.Config.CatalogDir == "" {
		// Likewise the tofu samples: they need the binary (and the mirror).
		more, _ = fs.Glob(fsys, "tofu/*.yaml")
		names = append(names, more...)
	}
	sort.Strings(names)
	for _, name := range names {
		if m.Config.CatalogDir != "" {
			// A symlink must not lead the loader outside the catalog directory.
			real, err := filepath.EvalSymlinks(filepath.Join(m.Config.CatalogDir, name))
			base, berr := filepath.EvalSymlinks(m.Config.CatalogDir)
			if err != nil || berr != nil || !strings.HasPrefix(real, base+string(filepath.Separator)) {
				m.Log.Warn("skipping catalog file outside the catalog directory", "file", name)
				continue
			}
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("read catalog file %s: %w", name, err)
		}
		if m.Config.CatalogDir == "" {
			// Likewise the local samples, with local turned off.
			if spec, err := envs.ParseSpec(src); err == nil && !m.Config.Providers.has(spec.Provider) {
				continue
			}
		}
		v, created, err := m.Service.Publish(ctx, envs.System, src)
		switch {
		case err != nil:
			m.Log.Warn("catalog template not loaded", "file", name, "err", err)
		case created:
			m.Log.Info("published catalog template", "template", v.Spec.Name, "version", v.Spec.Version)
		}
	}
	return nil
}

// providerSetup says how each cloud-like provider is set up, for the
// refusals of templates that ask for one this server does not have.
var providerSetup = map[string]string{
	"aws":        "--aws on (MAYFLY_AWS), or an AWS region or profile in the environment (AWS_REGION, AWS_PROFILE)",
	"tofu":       "--tofu-binary (MAYFLY_TOFU_BINARY)",
	"kubernetes": "--kubeconfig (MAYFLY_KUBECONFIG), or --kube on (MAYFLY_KUBE) inside a cluster",
}

// providersOnAndOff splits the providers built into those turned on
// (--providers) and those that only destroy what they made, and logs
// which are which.
func (m *Main) providersOnAndOff(built []envs.Provider) (on, off []envs.Provider) {
	var onNames, offNames []string
	for _, p := range built {
		if m.Config.Providers.has(p.Name()) {
			on, onNames = append(on, p), append(onNames, p.Name())
		} else {
			off, offNames = append(off, p), append(offNames, p.Name())
		}
	}
	m.Log.Info("providers (those off only destroy what they made)", "on", strings.Join(onNames, ","), "off", strings.Join(offNames, ","))
	if len(on) == 0 {
		m.Log.Warn("no provider is on: nothing can be published or launched; turn one on with --providers (MAYFLY_PROVIDERS)")
	}
	return on, off
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// rollbackGrace is --rollback-grace as envs takes it: 0 there is its
// default, a negative grace keeps none.
func rollbackGrace(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// externalURL is the external URL with the port the server listens on
// when it names port 0 (the default external URL of --addr host:0).
func externalURL(configured string, addr net.Addr) string {
	u, err := url.Parse(configured)
	if err != nil || u.Port() != "0" {
		return configured
	}
	u.Host = addr.String()
	return u.String()
}

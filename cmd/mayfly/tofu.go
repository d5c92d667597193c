package main

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/mayflyhq/mayfly/catalog"
	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/tofu"
	"github.com/mayflyhq/mayfly/handlers"
	"github.com/mayflyhq/mayfly/storage"
)

// startTofu builds the tofu provider when its binary is configured. Its
// runs reach the state backend this very portal serves, on its own
// listener (every replica serves every stack's state from the database).
func (m *Main) startTofu() ([]envs.Provider, error) {
	c := m.Config.Tofu
	if c.Binary == "" {
		return nil, nil
	}
	p, err := tofu.New(tofu.Config{
		Binary:         c.Binary,
		Root:           filepath.Join(m.Config.DataDir, "tofu"),
		LogsDir:        filepath.Join(m.Config.DataDir, "logs", "tofu"),
		StateURL:       m.stateURL,
		States:         tofuStates{m},
		Mirror:         c.Mirror,
		PluginCache:    c.PluginCache,
		AllowDownloads: c.AllowDownloads,
		Modules:        m.catalogFS(),
		InitTimeout:    c.InitTimeout,
		PlanTimeout:    c.PlanTimeout,
		ApplyTimeout:   c.ApplyTimeout,
		DestroyTimeout: c.DestroyTimeout,
		StopGrace:      m.Config.StopGrace,
		// On SQLite this process is the only one (the data dir is locked):
		// a lock of Mayfly's that none of its runs holds is stale.
		Exclusive: !storage.IsPostgres(m.Config.DatabaseURL),
		Logger:    m.Log.With("provider", tofu.Name),
	})
	if err != nil {
		return nil, err
	}
	vctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	version, err := p.Version(vctx)
	if err != nil {
		return nil, fmt.Errorf("--tofu-binary %s: %w", c.Binary, err)
	}
	m.Tofu, m.tofuCheck = p, handlers.ProviderCheck{Provider: tofu.Name, Checked: true, Reachable: true,
		Detail: p.Describe(version), CheckedAt: time.Now().UTC()}
	m.Log.Info("tofu provider enabled", "binary", c.Binary, "version", version, "mirror", c.Mirror, "downloads", c.AllowDownloads)
	return []envs.Provider{p}, nil
}

// stateURL is where this portal's own listener answers, for the runs of
// tofu stacks on this host (a wildcard listen address is reached on
// loopback).
func (m *Main) stateURL() string {
	if m.listener == nil {
		return m.Config.ExternalURL
	}
	host, port, err := net.SplitHostPort(m.listener.Addr().String())
	if err != nil {
		return m.URL()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// tofuStates reaches the service's TofuStates once it exists (providers
// are built before the service that holds them).
type tofuStates struct{ m *Main }

func (t tofuStates) s() envs.TofuStates { return t.m.Service.TofuStates() }

func (t tofuStates) Credential(stack string) string { return t.s().Credential(stack) }
func (t tofuStates) SaveRun(ctx context.Context, stack string, run []byte) error {
	return t.s().SaveRun(ctx, stack, run)
}
func (t tofuStates) Run(ctx context.Context, stack string) ([]byte, error) {
	return t.s().Run(ctx, stack)
}
func (t tofuStates) State(ctx context.Context, stack string) ([]byte, error) {
	return t.s().State(ctx, stack)
}
func (t tofuStates) Lock(ctx context.Context, stack string) (envs.TofuLock, error) {
	return t.s().Lock(ctx, stack)
}
func (t tofuStates) Stacks(ctx context.Context) ([]envs.TofuStack, error) { return t.s().Stacks(ctx) }
func (t tofuStates) Forget(ctx context.Context, stack string) error       { return t.s().Forget(ctx, stack) }
func (t tofuStates) Now() time.Time                                       { return t.s().Now() }

// catalogFS is the catalog templates are loaded from: the catalog
// directory, or the built-in samples.
func (m *Main) catalogFS() fs.FS {
	if m.Config.CatalogDir != "" {
		return os.DirFS(m.Config.CatalogDir)
	}
	return catalog.FS
}

package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/storage"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

func TestParseConfig(t *testing.T) {
	// signIn is env with sign-in configured (rate limits are checked then).
	signIn := func(env map[string]string) map[string]string {
		m := map[string]string{"MAYFLY_OIDC_ISSUER": "https://id.example.com", "MAYFLY_OIDC_CLIENT_ID": "mayfly", "MAYFLY_OIDC_CLIENT_SECRET": "s"}
		maps.Copy(m, env)
		return m
	}
	limits := func(signin, perSec, burst int) func(t *testing.T, c Config) {
		return func(t *testing.T, c Config) {
			if c.SignInPerMinute != signin || c.TokenPerSecond != perSec || c.TokenBurst != burst {
				t.Errorf("sign-in %d/min, tokens %d/s burst %d; want %d, %d, %d", c.SignInPerMinute, c.TokenPerSecond, c.TokenBurst, signin, perSec, burst)
			}
		}
	}
	faults := func(provision, destroy int, timeout time.Duration) func(t *testing.T, c Config) {
		return func(t *testing.T, c Config) {
			if c.ProvisionAttempts != provision || c.DestroyAttempts != destroy || c.DestroyTimeout != timeout {
				t.Errorf("provision attempts %d, destroy attempts %d, destroy timeout %s; want %d, %d, %s",
					c.ProvisionAttempts, c.DestroyAttempts, c.DestroyTimeout, provision, destroy, timeout)
			}
		}
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			if c.Addr != "127.0.0.1:8080" || c.DataDir != "/home/u/.local/share/mayfly" || c.ExternalURL != "http://127.0.0.1:8080" {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{name: "xdg data home", env: map[string]string{"XDG_DATA_HOME": "/xdg"}, check: func(t *testing.T, c Config) {
			if c.DataDir != "/xdg/mayfly" {
				t.Errorf("data dir = %q", c.DataDir)
			}
		}},
		{name: "flag beats env", args: []string{"--addr", "127.0.0.1:9000"}, env: map[string]string{"MAYFLY_ADDR": "127.0.0.1:7000"}, check: func(t *testing.T, c Config) {
			if c.Addr != "127.0.0.1:9000" {
				t.Errorf("addr = %q", c.Addr)
			}
		}},
		{name: "localhost is loopback", args: []string{"--addr", "localhost:8080"}},
		{name: "ipv6 loopback", args: []string{"--addr", "[::1]:8080"}},
		{name: "refuses all interfaces without sign-in", args: []string{"--addr", "0.0.0.0:8080"}, wantErr: "refusing to listen on 0.0.0.0:8080"},
		{name: "refuses empty host without sign-in", env: map[string]string{"MAYFLY_ADDR": ":8080"}, wantErr: "refusing to listen"},
		{name: "bad addr", args: []string{"--addr", "nope"}, wantErr: "--addr"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "--log-level"},
		{name: "bad log format", env: map[string]string{"MAYFLY_LOG_FORMAT": "xml"}, wantErr: "--log-format"},
		{name: "bad secret key", env: map[string]string{"MAYFLY_SECRET_KEY": "abc"}, wantErr: "MAYFLY_SECRET_KEY"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected argument"},
		{name: "rescue before the job timeout", args: []string{"--job-timeout", "5m", "--rescue-after", "5m"}, wantErr: "--rescue-after"},
		{name: "job timing from env", env: map[string]string{"MAYFLY_JOB_TIMEOUT": "20s", "MAYFLY_RESCUE_AFTER": "30s"}, check: func(t *testing.T, c Config) {
			if c.JobTimeout != 20*time.Second || c.RescueAfter != 30*time.Second {
				t.Errorf("job timeout %s, rescue after %s; want 20s, 30s", c.JobTimeout, c.RescueAfter)
			}
		}},
		{name: "provider fault bounds by default", check: faults(3, 25, time.Hour)},
		{name: "provider fault bounds from the environment", env: map[string]string{"MAYFLY_PROVISION_ATTEMPTS": "5", "MAYFLY_DESTROY_ATTEMPTS": "40", "MAYFLY_DESTROY_TIMEOUT": "3h"},
			check: faults(5, 40, 3*time.Hour)},
		{name: "provider fault bound flags beat the environment", args: []string{"--provision-attempts", "1", "--destroy-attempts", "2", "--destroy-timeout", "90m"},
			env: map[string]string{"MAYFLY_PROVISION_ATTEMPTS": "5", "MAYFLY_DESTROY_ATTEMPTS": "40", "MAYFLY_DESTROY_TIMEOUT": "3h"}, check: faults(1, 2, 90*time.Minute)},
		{name: "a flag overrides a variable that is not a duration", args: []string{"--destroy-timeout", "2h"}, env: map[string]string{"MAYFLY_DESTROY_TIMEOUT": "soon"},
			check: faults(3, 25, 2*time.Hour)},
		{name: "destroy timeout variable not a duration", env: map[string]string{"MAYFLY_DESTROY_TIMEOUT": "60"}, wantErr: "MAYFLY_DESTROY_TIMEOUT (--destroy-timeout)"},
		{name: "job timeout variable not a duration", env: map[string]string{"MAYFLY_JOB_TIMEOUT": "ten minutes"}, wantErr: `MAYFLY_JOB_TIMEOUT (--job-timeout) "ten minutes": must be a duration`},
		{name: "session idle variable not a duration", env: map[string]string{"MAYFLY_SESSION_IDLE": "8"}, wantErr: "MAYFLY_SESSION_IDLE (--session-idle)"},
		{name: "aws interval variable not a duration", env: map[string]string{"MAYFLY_AWS_HEALTH_INTERVAL": "1 min"}, wantErr: "MAYFLY_AWS_HEALTH_INTERVAL (--aws-health-interval)"},
		{name: "a flag overrides a bad job timeout variable", args: []string{"--job-timeout", "5m"}, env: map[string]string{"MAYFLY_JOB_TIMEOUT": "soon"}},
		{name: "destroy timeout flag not a duration", args: []string{"--destroy-timeout", "1 hour"}, wantErr: "destroy-timeout"},
		{name: "zero destroy timeout", args: []string{"--destroy-timeout", "0s"}, wantErr: "--destroy-timeout 0s: must be positive"},
		{name: "negative destroy timeout", env: map[string]string{"MAYFLY_DESTROY_TIMEOUT": "-1m"}, wantErr: "--destroy-timeout -1m0s: must be positive"},
		{name: "provision attempts variable not a number", env: map[string]string{"MAYFLY_PROVISION_ATTEMPTS": "three"}, wantErr: "MAYFLY_PROVISION_ATTEMPTS (--provision-attempts)"},
		{name: "zero provision attempts", args: []string{"--provision-attempts", "0"}, wantErr: "--provision-attempts 0: must be at least 1"},
		{name: "drift concurrency from the environment", env: map[string]string{"MAYFLY_DRIFT_CONCURRENCY": "8"}, check: func(t *testing.T, c Config) {
			if c.DriftConcurrency != 8 {
				t.Errorf("drift concurrency %d, want 8", c.DriftConcurrency)
			}
		}},
		{name: "zero drift concurrency", args: []string{"--drift-concurrency", "0"}, wantErr: "--drift-concurrency 0: must be from 1 to 100"},
		{name: "drift concurrency variable not a number", env: map[string]string{"MAYFLY_DRIFT_CONCURRENCY": "four"}, wantErr: "MAYFLY_DRIFT_CONCURRENCY (--drift-concurrency)"},
		{name: "negative rollback grace", args: []string{"--rollback-grace", "-1m"}, wantErr: "--rollback-grace -1m0s: must not be negative"},
		{name: "destroy attempts variable not a number", env: map[string]string{"MAYFLY_DESTROY_ATTEMPTS": "many"}, wantErr: "MAYFLY_DESTROY_ATTEMPTS (--destroy-attempts)"},
		{name: "negative destroy attempts", env: map[string]string{"MAYFLY_DESTROY_ATTEMPTS": "-2"}, wantErr: "--destroy-attempts -2: must be at least 1"},
		{name: "rate limits by default", env: signIn(nil), check: limits(20, 20, 200)},
		{name: "rate limits from the environment", env: signIn(map[string]string{"MAYFLY_SIGNIN_RATE_LIMIT": "5", "MAYFLY_TOKEN_RATE_LIMIT": "50", "MAYFLY_TOKEN_RATE_BURST": "500"}), check: limits(5, 50, 500)},
		{name: "rate limit flags beat the environment", args: []string{"--token-rate-limit", "3", "--token-rate-burst", "9"}, env: signIn(map[string]string{"MAYFLY_TOKEN_RATE_LIMIT": "50"}), check: limits(20, 3, 9)},
		{name: "a flag overrides a variable that is not a number", args: []string{"--token-rate-limit", "3"}, env: signIn(map[string]string{"MAYFLY_TOKEN_RATE_LIMIT": "lots"}), check: limits(20, 3, 200)},
		{name: "rate limit variable not a number", env: signIn(map[string]string{"MAYFLY_TOKEN_RATE_LIMIT": "lots"}), wantErr: "MAYFLY_TOKEN_RATE_LIMIT (--token-rate-limit)"},
		{name: "sign-in limit variable not a number", env: signIn(map[string]string{"MAYFLY_SIGNIN_RATE_LIMIT": "20/min"}), wantErr: "--signin-rate-limit"},
		{name: "rate limit flag not a number", args: []string{"--token-rate-burst", "many"}, env: signIn(nil), wantErr: "token-rate-burst"},
		{name: "zero token limit", args: []string{"--token-rate-limit", "0"}, env: signIn(nil), wantErr: "--token-rate-limit 0: must be positive"},
		{name: "negative sign-in limit", env: signIn(map[string]string{"MAYFLY_SIGNIN_RATE_LIMIT": "-1"}), wantErr: "--signin-rate-limit -1: must be positive"},
		{name: "token burst below the rate", args: []string{"--token-rate-limit", "10", "--token-rate-burst", "5"}, env: signIn(nil), wantErr: "--token-rate-burst 5"},
		{name: "trusted proxies as CIDRs and addresses", args: []string{"--trust-proxy", "10.0.0.0/8, 192.168.1.5,2001:db8::/32"}, check: func(t *testing.T, c Config) {
			if got, _ := c.trustedProxies(); fmt.Sprint(got) != "[10.0.0.0/8 192.168.1.5/32 2001:db8::/32]" {
				t.Errorf("trusted proxies %v", got)
			}
		}},
		{name: "trusted proxies from the environment", env: map[string]string{"MAYFLY_TRUST_PROXY": "172.16.0.0/12"}, check: func(t *testing.T, c Config) {
			if got, _ := c.trustedProxies(); fmt.Sprint(got) != "[172.16.0.0/12]" {
				t.Errorf("trusted proxies %v", got)
			}
		}},
		{name: "trust-proxy true, the old form", args: []string{"--trust-proxy", "true"}, wantErr: "name your reverse proxies instead, as comma-separated CIDRs"},
		{name: "MAYFLY_TRUST_PROXY=true, the old form", env: map[string]string{"MAYFLY_TRUST_PROXY": "true"}, wantErr: "true, which believed X-Forwarded-For from any private address, is no longer accepted"},
		{name: "trust-proxy not an address", args: []string{"--trust-proxy", "10.0.0.0/8,proxy.internal"}, wantErr: `"proxy.internal" is not an IP address or a CIDR`},
		{name: "trust-proxy trusting everyone", args: []string{"--trust-proxy", "0.0.0.0/0"}, wantErr: "would trust every address"},
		{name: "allowed hosts need sign-in", args: []string{"--allowed-hosts", "mayfly.example.com"}, wantErr: "--allowed-hosts (MAYFLY_ALLOWED_HOSTS) needs sign-in"},
		{name: "allowed hosts with sign-in", args: []string{"--allowed-hosts", "Mayfly.Example.com., mayfly-2.internal"}, env: signIn(nil), check: func(t *testing.T, c Config) {
			if got, _ := c.allowedHosts(); fmt.Sprint(got) != "[mayfly.example.com mayfly-2.internal]" {
				t.Errorf("allowed hosts %v", got)
			}
		}},
		{name: "allowed hosts with a port", env: signIn(map[string]string{"MAYFLY_ALLOWED_HOSTS": "mayfly.example.com:8443"}), wantErr: "host names only, without scheme, port or path"},
		{name: "allowed hosts as a URL", args: []string{"--allowed-hosts", "https://mayfly.example.com"}, env: signIn(nil), wantErr: "host names only"},
		{name: "connections per client by default", check: func(t *testing.T, c Config) {
			if c.MaxConnsPerClient != 256 {
				t.Errorf("max conns per client %d, want 256", c.MaxConnsPerClient)
			}
		}},
		{name: "connections per client uncapped", env: map[string]string{"MAYFLY_MAX_CONNS_PER_CLIENT": "0"}},
		{name: "negative connections per client", args: []string{"--max-conns-per-client", "-1"}, wantErr: "--max-conns-per-client -1: must be 0 (no cap) or more"},
		{name: "connections per client not a number", env: map[string]string{"MAYFLY_MAX_CONNS_PER_CLIENT": "many"}, wantErr: "MAYFLY_MAX_CONNS_PER_CLIENT (--max-conns-per-client)"},
		{name: "postgres url", env: map[string]string{"MAYFLY_DATABASE_URL": "postgres://u@db/mayfly"}, check: func(t *testing.T, c Config) {
			if c.DatabaseURL != "postgres://u@db/mayfly" {
				t.Errorf("database url = %q", c.DatabaseURL)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"HOME": "/home/u"}
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := ParseConfig(tt.args, func(k string) string { return env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestRunRefusesPublicAddressWithoutSignIn(t *testing.T) {
	var stderr strings.Builder
	code := run([]string{"serve", "--addr", "0.0.0.0:0", "--data-dir", t.TempDir()}, func(string) string { return "" }, io.Discard, &stderr)
	if code == 0 {
		t.Fatal("serve on 0.0.0.0 without sign-in succeeded")
	}
	if !strings.Contains(stderr.String(), "no sign-in is configured") {
		t.Errorf("message = %q, want it to explain why", stderr.String())
	}
}

func TestRunUnknownCommand(t *testing.T) {
	var stderr strings.Builder
	if code := run([]string{"frobnicate"}, func(string) string { return "" }, io.Discard, &stderr); code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), `unknown command "frobnicate"`) {
		t.Errorf("stderr = %q", stderr.String())
	}
}

func TestMigrateCommand(t *testing.T) {
	dir, dbURL := t.TempDir(), storagetest.URL(t)
	var stdout, stderr strings.Builder
	for i := 0; i < 2; i++ { // migrations run once, then are a no-op
		if code := run([]string{"migrate", "--data-dir", dir, "--database-url", dbURL}, func(string) string { return "" }, &stdout, &stderr); code != 0 {
			t.Fatalf("migrate exit code %d: %s", code, stderr.String())
		}
	}
	if !strings.Contains(stdout.String(), "migrations applied") {
		t.Errorf("stdout = %q", stdout.String())
	}
	db, err := storage.Open(context.Background(), dbURL, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrated(context.Background()); err != nil {
		t.Errorf("after mayfly migrate: %v", err)
	}
}

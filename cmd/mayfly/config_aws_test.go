package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfigAWS(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		enabled bool
		wantErr string
	}{
		{name: "off without AWS settings"},
		{name: "auto on with a region", env: map[string]string{"AWS_REGION": "eu-west-1"}, enabled: true},
		{name: "auto on with a default region", env: map[string]string{"AWS_DEFAULT_REGION": "eu-west-1"}, enabled: true},
		{name: "auto on with a profile", env: map[string]string{"AWS_PROFILE": "mayfly"}, enabled: true},
		{name: "forced on", env: map[string]string{"MAYFLY_AWS": "on"}, enabled: true},
		{name: "forced off despite a region", args: []string{"--aws", "off"}, env: map[string]string{"AWS_REGION": "eu-west-1"}},
		{name: "bad mode", args: []string{"--aws", "maybe"}, wantErr: "--aws"},
		{name: "bad interval", args: []string{"--orphan-sweep-interval", "0s"}, wantErr: "intervals"},
		{name: "bad health interval", args: []string{"--aws-health-interval", "-1s"}, wantErr: "intervals"},
		{name: "health outputs may reach loopback", args: []string{"--aws-health-allow", "127.0.0.0/8, ::1"}},
		{name: "health allow not a range", env: map[string]string{"MAYFLY_AWS_HEALTH_ALLOW": "metadata"}, wantErr: `--aws-health-allow (MAYFLY_AWS_HEALTH_ALLOW) "metadata": "metadata" is not an IP address or a CIDR`},
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
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.AWS.Enabled != tt.enabled {
				t.Errorf("enabled = %v, want %v", c.AWS.Enabled, tt.enabled)
			}
			if c.AWS.OrphanGrace != 24*time.Hour || c.AWS.OrphanDryRun || c.AWS.HealthInterval != time.Minute {
				t.Errorf("orphan defaults = %+v", c.AWS)
			}
		})
	}
}

func TestParseConfigOrphanSweep(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		grace  time.Duration
		dryRun bool
		every  time.Duration
	}{
		{name: "defaults", grace: 24 * time.Hour, every: 5 * time.Minute},
		{name: "flags", args: []string{"--orphan-grace", "1h", "--orphan-dry-run", "--orphan-sweep-interval", "30s"}, grace: time.Hour, dryRun: true, every: 30 * time.Second},
		{name: "the old aws names", args: []string{"--aws-orphan-grace", "2h", "--aws-orphan-dry-run", "--aws-orphan-sweep-interval", "1m"}, grace: 2 * time.Hour, dryRun: true, every: time.Minute},
		{name: "environment", env: map[string]string{"MAYFLY_ORPHAN_GRACE": "3h", "MAYFLY_ORPHAN_DRY_RUN": "1", "MAYFLY_ORPHAN_SWEEP_INTERVAL": "2m"}, grace: 3 * time.Hour, dryRun: true, every: 2 * time.Minute},
		{name: "the old aws environment", env: map[string]string{"MAYFLY_AWS_ORPHAN_GRACE": "4h", "MAYFLY_AWS_ORPHAN_DRY_RUN": "true"}, grace: 4 * time.Hour, dryRun: true, every: 5 * time.Minute},
		{name: "the new environment wins", env: map[string]string{"MAYFLY_ORPHAN_GRACE": "5h", "MAYFLY_AWS_ORPHAN_GRACE": "4h"}, grace: 5 * time.Hour, every: 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.AWS.OrphanGrace != tt.grace || c.AWS.OrphanDryRun != tt.dryRun || c.AWS.OrphanSweepInterval != tt.every {
				t.Errorf("grace %s, dry run %v, interval %s; want %s, %v, %s", c.AWS.OrphanGrace, c.AWS.OrphanDryRun, c.AWS.OrphanSweepInterval, tt.grace, tt.dryRun, tt.every)
			}
		})
	}
}

func TestAWSBadProfileFailsStartup(t *testing.T) {
	home := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "credentials"))
	t.Setenv("AWS_PROFILE", "no-such-profile")
	cfg, err := ParseConfig([]string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "error"}, os.Getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(cfg)
	defer m.Close()
	err = m.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no-such-profile") {
		t.Fatalf("Run: %v, want an error naming the profile", err)
	}
}

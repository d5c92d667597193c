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
		{name: "bad interval", args: []string{"--aws-orphan-sweep-interval", "0s"}, wantErr: "intervals"},
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

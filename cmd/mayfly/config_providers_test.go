package main

import (
	"io"
	"slices"
	"strings"
	"testing"
)

func TestParseConfigProviders(t *testing.T) {
	oidc := map[string]string{"MAYFLY_OIDC_ISSUER": "https://id.example.com", "MAYFLY_OIDC_CLIENT_ID": "mayfly", "MAYFLY_OIDC_CLIENT_SECRET": "s"}
	region := map[string]string{"AWS_REGION": "eu-west-1"}
	both := map[string]string{"AWS_REGION": "eu-west-1"}
	for k, v := range oidc {
		both[k] = v
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		on      []string
		aws     bool // the aws provider is built
		kube    bool // the kubernetes provider is built
		wantErr string
	}{
		{name: "local mode: local", on: []string{"local"}},
		{name: "local mode with AWS configured: both", env: region, on: []string{"local", "aws"}, aws: true},
		{name: "sign-in: local is off", env: oidc, on: nil},
		{name: "sign-in with AWS configured: aws only", env: both, on: []string{"aws"}, aws: true},
		{name: "sign-in, local listed", args: []string{"--providers", "local"}, env: oidc, on: []string{"local"}},
		{name: "from the environment", env: map[string]string{"MAYFLY_PROVIDERS": "local,aws", "MAYFLY_OIDC_ISSUER": "https://id.example.com",
			"MAYFLY_OIDC_CLIENT_ID": "mayfly", "MAYFLY_OIDC_CLIENT_SECRET": "s"}, on: []string{"local", "aws"}, aws: true},
		{name: "the flag wins", args: []string{"--providers", "aws"}, env: map[string]string{"MAYFLY_PROVIDERS": "local"}, on: []string{"aws"}, aws: true},
		{name: "listing aws turns it on", args: []string{"--providers", " local , aws,"}, on: []string{"local", "aws"}, aws: true},
		{name: "aws configured but not listed stays built, off", args: []string{"--providers", "local"}, env: region, on: []string{"local"}, aws: true},
		{name: "aws listed, --aws off", args: []string{"--providers", "aws", "--aws", "off"}, wantErr: "--providers \"aws\" turns aws on, but --aws is off"},
		{name: "unknown provider", args: []string{"--providers", "local,nomad"}, wantErr: `"nomad" is not a provider (local, aws, kubernetes, tofu)`},
		{name: "a kubeconfig turns kubernetes on", args: []string{"--kubeconfig", "/k/config"}, on: []string{"local", "kubernetes"}, kube: true},
		{name: "kubeconfig from the environment", env: map[string]string{"MAYFLY_KUBECONFIG": "/k/config"}, on: []string{"local", "kubernetes"}, kube: true},
		{name: "kubernetes listed: in-cluster", args: []string{"--providers", "kubernetes"}, on: []string{"kubernetes"}, kube: true},
		{name: "kubeconfig, --kube off", args: []string{"--kubeconfig", "/k/config", "--kube", "off"}, on: []string{"local"}},
		{name: "kubernetes listed, --kube off", args: []string{"--providers", "kubernetes", "--kube", "off"}, wantErr: "turns kubernetes on, but --kube is off"},
		{name: "bad --kube", args: []string{"--kube", "maybe"}, wantErr: `--kube "maybe": must be auto, on or off`},
		{name: "bad namespace prefix", args: []string{"--kube", "on", "--kube-namespace-prefix", "Mayfly_"}, wantErr: `--kube-namespace-prefix "Mayfly_"`},
		{name: "a tofu binary turns tofu on", args: []string{"--tofu-binary", "/bin/sh"}, on: []string{"local", "tofu"}},
		{name: "from the environment, tofu", env: map[string]string{"MAYFLY_TOFU_BINARY": "/bin/sh"}, on: []string{"local", "tofu"}},
		{name: "tofu built but not listed stays off", args: []string{"--tofu-binary", "/bin/sh", "--providers", "local"}, on: []string{"local"}},
		{name: "tofu listed without a binary", args: []string{"--providers", "tofu"}, wantErr: "turns tofu on, but --tofu-binary (MAYFLY_TOFU_BINARY) is not set"},
		{name: "tofu binary not executable", args: []string{"--tofu-binary", "/etc"}, wantErr: `--tofu-binary "/etc": not an executable file`},
		{name: "tofu steps longer than a job", args: []string{"--tofu-binary", "/bin/sh", "--tofu-apply-timeout", "9m"}, wantErr: "exceed --job-timeout (10m0s): a launch runs in one job step"},
		{name: "tofu steps fit a longer job", args: []string{"--tofu-binary", "/bin/sh", "--tofu-apply-timeout", "50m", "--job-timeout", "1h", "--rescue-after", "61m"}, on: []string{"local", "tofu"}},
		{name: "tofu destroy longer than a job", args: []string{"--tofu-binary", "/bin/sh", "--tofu-destroy-timeout", "9m"}, wantErr: "a destroy runs in one job step"},
		{name: "tofu mirror not a directory", args: []string{"--tofu-binary", "/bin/sh", "--tofu-mirror", "/nonexistent"}, wantErr: `--tofu-mirror "/nonexistent": not a directory`},
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
			if !slices.Equal(c.Providers.On, tt.on) {
				t.Errorf("on = %q, want %q", c.Providers.On, tt.on)
			}
			if c.Kube.Enabled != tt.kube {
				t.Errorf("kubernetes built = %v, want %v", c.Kube.Enabled, tt.kube)
			}
			if c.AWS.Enabled != tt.aws {
				t.Errorf("aws built = %v, want %v", c.AWS.Enabled, tt.aws)
			}
		})
	}
}

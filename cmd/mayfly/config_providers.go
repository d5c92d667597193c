package main

import (
	"flag"
	"fmt"
	"slices"
	"strings"
)

// ProvidersConfig says which providers are on: templates may be published
// and launched with them. A provider that is off but can be built (local
// always; aws when AWS is configured) still destroys what it made.
type ProvidersConfig struct {
	// List is --providers (MAYFLY_PROVIDERS) as given: comma-separated
	// provider names; empty for the defaults (see resolve).
	List string
	// On is the providers that are on, resolved.
	On []string
}

// knownProviders are the providers this binary has.
var knownProviders = []string{"local", "aws", "kubernetes", "tofu"}

func providersFlags(fs *flag.FlagSet, c *ProvidersConfig, env func(string, string) string) {
	fs.StringVar(&c.List, "providers", env("MAYFLY_PROVIDERS", ""),
		"providers templates may use, comma-separated: local, aws, kubernetes, tofu (MAYFLY_PROVIDERS; default: local in local mode, not with sign-in, aws when AWS is configured, kubernetes when --kube is on, tofu when --tofu-binary is set)")
}

// resolve decides which providers are on. Unless listed, local is on in
// local mode only: a local template runs its commands on this host as
// Mayfly's own user, so with sign-in, publishing one is shell access for
// every author. aws is on when the aws provider is (--aws); listing it
// turns that on. kubernetes likewise with --kube.
func (c *ProvidersConfig) resolve(signIn bool, aws *AWSConfig, kube *KubeConfig) error {
	if strings.TrimSpace(c.List) == "" {
		c.On = nil
		if !signIn {
			c.On = append(c.On, "local")
		}
		if aws.Enabled {
			c.On = append(c.On, "aws")
		}
		if kube.Enabled {
			c.On = append(c.On, "kubernetes")
		}
		return nil
	}
	c.On = nil
	for _, name := range strings.Split(c.List, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
		case !slices.Contains(knownProviders, name):
			return fmt.Errorf("--providers %q: %q is not a provider (%s)", c.List, name, strings.Join(knownProviders, ", "))
		case !slices.Contains(c.On, name):
			c.On = append(c.On, name)
		}
	}
	if slices.Contains(c.On, "aws") {
		switch aws.Mode {
		case "off", "0", "false":
			return fmt.Errorf("--providers %q turns aws on, but --aws is off", c.List)
		}
		aws.Enabled = true
	}
	if slices.Contains(c.On, "kubernetes") {
		switch kube.Mode {
		case "off", "0", "false":
			return fmt.Errorf("--providers %q turns kubernetes on, but --kube is off", c.List)
		}
		kube.Enabled = true
	}
	return nil
}

// has reports whether a provider is on.
func (c ProvidersConfig) has(name string) bool { return slices.Contains(c.On, name) }

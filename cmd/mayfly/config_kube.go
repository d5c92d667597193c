package main

import (
	"flag"
	"fmt"
	"regexp"
)

// KubeConfig is the kubernetes provider's configuration: where the cluster
// is (a kubeconfig file and context, or the pod's own service account when
// Mayfly runs in the cluster) and how its namespaces are named.
type KubeConfig struct {
	// Mode is auto (the default: on when a kubeconfig is given), on or off
	// (MAYFLY_KUBE, --kube).
	Mode    string
	Enabled bool
	// Kubeconfig is the kubeconfig file; empty with Mode on: in-cluster
	// configuration (the service account's token and CA).
	Kubeconfig string
	// Context is the kubeconfig context (empty: its current context).
	Context string
	// NamespacePrefix starts every stack namespace's name.
	NamespacePrefix string
}

func kubeFlags(fs *flag.FlagSet, c *KubeConfig, env func(string, string) string) {
	fs.StringVar(&c.Mode, "kube", env("MAYFLY_KUBE", "auto"),
		"kubernetes provider: auto (on when --kubeconfig is set), on (with no kubeconfig: in-cluster) or off (MAYFLY_KUBE)")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", env("MAYFLY_KUBECONFIG", ""), "kubernetes provider: kubeconfig file (MAYFLY_KUBECONFIG)")
	fs.StringVar(&c.Context, "kube-context", env("MAYFLY_KUBE_CONTEXT", ""), "kubernetes provider: kubeconfig context; default its current one (MAYFLY_KUBE_CONTEXT)")
	fs.StringVar(&c.NamespacePrefix, "kube-namespace-prefix", env("MAYFLY_KUBE_NAMESPACE_PREFIX", "mayfly-"),
		"kubernetes provider: what every stack namespace's name starts with (MAYFLY_KUBE_NAMESPACE_PREFIX)")
}

// resolve decides whether the provider is on: in auto mode a kubeconfig
// is the sign that this installation is meant to use a cluster.
func (c *KubeConfig) resolve() {
	switch c.Mode {
	case "on", "1", "true":
		c.Enabled = true
	case "auto", "":
		c.Enabled = c.Kubeconfig != ""
	}
}

var namespacePrefixRe = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,18}[a-z0-9-])?$`)

func (c KubeConfig) validate() error {
	switch c.Mode {
	case "on", "1", "true", "off", "0", "false", "auto", "":
	default:
		return fmt.Errorf("--kube %q: must be auto, on or off", c.Mode)
	}
	if !namespacePrefixRe.MatchString(c.NamespacePrefix) {
		return fmt.Errorf("--kube-namespace-prefix %q: must be 1 to 20 lower-case letters, digits and '-', starting with a letter", c.NamespacePrefix)
	}
	return nil
}

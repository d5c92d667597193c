package main

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/kube"
	"github.com/mayflyhq/mayfly/handlers"
)

// startKube builds the kubernetes provider when it is enabled, from the
// kubeconfig (and context) or, without one, the in-cluster configuration.
// It does not contact the cluster: an unreachable one never holds up
// start-up; the admin view shows whether it answers.
func (m *Main) startKube(instance string) ([]envs.Provider, error) {
	c := m.Config.Kube
	if !c.Enabled {
		return nil, nil
	}
	rc, where, err := restConfig(c)
	if err != nil {
		return nil, err
	}
	m.Kube, err = kube.New(kube.Config{REST: rc, InstanceID: instance, NamespacePrefix: c.NamespacePrefix,
		Logger: m.Log.With("provider", kube.Name)})
	if err != nil {
		return nil, err
	}
	m.Log.Info("kubernetes provider enabled", "cluster", rc.Host, "config", where)
	return []envs.Provider{m.Kube}, nil
}

// restConfig reads where the cluster is and how to authenticate.
func restConfig(c KubeConfig) (*rest.Config, string, error) {
	if c.Kubeconfig == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, "", fmt.Errorf("kubernetes: no --kubeconfig (MAYFLY_KUBECONFIG) and not in a cluster: %w", err)
		}
		return rc, "in-cluster", nil
	}
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: c.Kubeconfig}
	over := &clientcmd.ConfigOverrides{CurrentContext: c.Context}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, over).ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubernetes: --kubeconfig %s: %w", c.Kubeconfig, err)
	}
	return rc, c.Kubeconfig, nil
}

// kubeCheck asks the cluster for its version, for the admin view.
func (m *Main) kubeCheck() []handlers.ProviderCheck {
	if m.Kube == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c := handlers.ProviderCheck{Provider: kube.Name, Checked: true, CheckedAt: time.Now().UTC()}
	if v, err := m.Kube.Check(ctx); err != nil {
		c.Detail = err.Error()
	} else {
		c.Reachable, c.Detail = true, fmt.Sprintf("cluster %s, Kubernetes %s", m.Kube.Host(), v)
	}
	return []handlers.ProviderCheck{c}
}

package kube

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StackHealth implements envs.HealthChecker: a ready stack is unsound when
// its namespace was deleted outside Mayfly, or a workload it waits for is
// gone or no longer available (pods crashed, scaled to nothing). A stack
// that could not be read is left out, with the error; all are left out
// when the last check is less than HealthInterval ago.
func (p *Provider) StackHealth(ctx context.Context, handles []string) (map[string]string, error) {
	out := map[string]string{}
	p.mu.Lock()
	now := p.cfg.Clock()
	recent := !p.healthAt.IsZero() && now.Sub(p.healthAt) < p.cfg.HealthInterval
	if !recent {
		p.healthAt = now
	}
	p.mu.Unlock()
	if recent {
		return out, nil
	}
	var errs []error
	for _, h := range handles {
		reason, err := p.health(ctx, h)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[h] = reason
	}
	return out, errors.Join(errs...)
}

func (p *Provider) health(ctx context.Context, ns string) (string, error) {
	n, err := p.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Sprintf("namespace %s was deleted outside Mayfly", ns), nil
	}
	if err != nil {
		return "", fmt.Errorf("kubernetes: read namespace %s: %w", ns, err)
	}
	if n.DeletionTimestamp != nil {
		return fmt.Sprintf("namespace %s is being deleted", ns), nil
	}
	rec, err := p.record(ctx, ns)
	if err != nil {
		return "", err
	}
	if rec == nil {
		return fmt.Sprintf("the stack's record %s was deleted from namespace %s", RecordConfigMap, ns), nil
	}
	for _, r := range rec.Ready {
		ok, reason, err := p.available(ctx, ns, r)
		if err != nil {
			return "", err
		}
		if reason != "" {
			return reason, nil
		}
		if !ok {
			return r + " is no longer available", nil
		}
	}
	return "", nil
}

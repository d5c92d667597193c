package kube

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mayflyhq/mayfly/envs"
)

// Destroy implements envs.Provider: it deletes the namespace (Kubernetes
// deletes everything in it) and reports done only once the namespace is
// gone; while it is Terminating done is false and the orchestrator asks
// again. A namespace that is not this installation's stack is refused.
func (p *Provider) Destroy(ctx context.Context, handle string) (bool, error) {
	ns, err := p.cs.CoreV1().Namespaces().Get(ctx, handle, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		p.forget(handle)
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("kubernetes: read namespace %s: %w", handle, err)
	}
	if !p.ours(ns) {
		return false, fmt.Errorf("kubernetes: namespace %s is not a stack of this Mayfly (instance %s); it is left alone", handle, p.cfg.InstanceID)
	}
	if ns.DeletionTimestamp != nil {
		return false, nil
	}
	bg := metav1.DeletePropagationBackground
	// The UID precondition: never delete a namespace of the same name
	// created since the Get.
	err = p.cs.CoreV1().Namespaces().Delete(ctx, handle, metav1.DeleteOptions{PropagationPolicy: &bg,
		Preconditions: &metav1.Preconditions{UID: &ns.UID}})
	if apierrors.IsNotFound(err) {
		p.forget(handle)
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("kubernetes: delete namespace %s: %w", handle, err)
	}
	return false, nil
}

func (p *Provider) forget(ns string) {
	p.mu.Lock()
	delete(p.seen, ns)
	p.mu.Unlock()
}

// Logs implements envs.Provider. Pod logs live on the nodes and go with
// the namespace; Mayfly captures none, so there is nothing to show.
func (p *Provider) Logs(ctx context.Context, handle, service string, limit int) ([]envs.LogStream, error) {
	return nil, nil
}

// namespaces lists this installation's stack namespaces.
func (p *Provider) namespaces(ctx context.Context) ([]corev1.Namespace, error) {
	if p.cfg.InstanceID == "" {
		return nil, errors.New("kubernetes: no instance id: cannot tell this installation's namespaces")
	}
	list, err := p.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: LabelInstance + "=" + p.cfg.InstanceID})
	if err != nil {
		return nil, fmt.Errorf("kubernetes: list namespaces: %w", err)
	}
	var out []corev1.Namespace
	for _, ns := range list.Items {
		if p.ours(&ns) {
			out = append(out, ns)
		}
	}
	return out, nil
}

// Stacks implements envs.Provider: the namespaces labelled with this
// installation's id.
func (p *Provider) Stacks(ctx context.Context) ([]string, error) {
	list, err := p.namespaces(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list))
	for _, ns := range list {
		out = append(out, ns.Name)
	}
	return out, nil
}

// StackInfos implements envs.StackDescriber for the orphan sweep. There is
// one cluster, so scopes add nothing.
func (p *Provider) StackInfos(ctx context.Context, _ envs.StackScopes) ([]envs.StackInfo, error) {
	list, err := p.namespaces(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]envs.StackInfo, 0, len(list))
	for _, ns := range list {
		out = append(out, envs.StackInfo{Handle: ns.Name, Name: ns.Name, EnvironmentID: ns.Labels[LabelEnvironment],
			Status: string(ns.Status.Phase), CreatedAt: ns.CreationTimestamp.UTC()})
	}
	return out, nil
}

// Package kube is the Kubernetes provider: each stack is one namespace,
// labelled with Mayfly's ids, holding a ResourceQuota, a LimitRange, an
// optional default-deny NetworkPolicy and the objects of the template
// version's manifests (applied server-side, so a second Provision changes
// nothing). The stack is ready when its Deployments and StatefulSets are
// available; destroying it deletes the namespace and waits until it is
// gone. It talks to the cluster through client-go only; where the cluster
// is (a kubeconfig, or the pod's own service account) is decided by the
// caller, which hands over a rest.Config.
package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/mayflyhq/mayfly/envs"
)

// Name is the value templates put in their `provider` field.
const Name = "kubernetes"

// Labels and annotations Mayfly puts on every namespace it creates. Label
// values are Mayfly's ids (letters, digits and '-'), which labels allow;
// the rest, free text, are annotations.
const (
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	LabelInstance    = "mayfly.dev/instance-id"
	LabelEnvironment = "mayfly.dev/environment-id"
	LabelStack       = "mayfly.dev/stack-id"

	AnnotationExpiresAt = "mayfly.dev/expires-at"
	AnnotationName      = "mayfly.dev/name"
	AnnotationOwner     = "mayfly.dev/owner"
	AnnotationTemplate  = "mayfly.dev/template"
)

// Names of the objects Mayfly adds to a stack's namespace.
const (
	QuotaName       = "mayfly-quota"
	LimitRangeName  = "mayfly-limits"
	DenyPolicyName  = "mayfly-default-deny"
	RecordConfigMap = "mayfly-stack"
	fieldManager    = "mayfly"
)

// Config wires a Provider.
type Config struct {
	// REST reaches the cluster (from a kubeconfig or in-cluster).
	REST *rest.Config
	// InstanceID is this Mayfly installation's id; namespaces carry it so
	// the orphan sweep never touches another installation's.
	InstanceID string
	// NamespacePrefix starts every namespace name (default "mayfly-").
	NamespacePrefix string
	Logger          *slog.Logger
	// HealthInterval is the least time between two health checks of the
	// ready stacks (default 1m): each costs a few reads per stack.
	HealthInterval time.Duration
	// Clock paces the health checks (default time.Now).
	Clock func() time.Time
}

// Provider implements envs.Provider on a Kubernetes cluster.
type Provider struct {
	cfg    Config
	log    *slog.Logger
	cs     kubernetes.Interface
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper

	mu sync.Mutex
	// seen remembers, per namespace, the events already reported, so
	// Status reports each once while this process runs (after a restart
	// the orchestrator skips repeats: they carry an ID).
	seen map[string]map[string]bool
	// healthAt is when StackHealth last checked (guarded by mu).
	healthAt time.Time
}

// New returns a provider; it does not contact the cluster.
func New(cfg Config) (*Provider, error) {
	if cfg.REST == nil {
		return nil, errors.New("kubernetes: no cluster configuration")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.NamespacePrefix == "" {
		cfg.NamespacePrefix = "mayfly-"
	}
	rc := rest.CopyConfig(cfg.REST)
	rc.UserAgent = "mayfly"
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: dynamic client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: discovery client: %w", err)
	}
	return &Provider{cfg: cfg, log: cfg.Logger, cs: cs, dyn: dyn,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		seen:   map[string]map[string]bool{}}, nil
}

// Name implements envs.Provider.
func (p *Provider) Name() string { return Name }

// Host is the API server's address, for the admin view and logs.
func (p *Provider) Host() string { return p.cfg.REST.Host }

// Check asks the API server for its version: whether it is reachable.
func (p *Provider) Check(ctx context.Context) (string, error) {
	v, err := p.cs.Discovery().ServerVersion()
	if err != nil {
		return "", fmt.Errorf("kubernetes: %w", err)
	}
	return v.GitVersion, nil
}

// ValidateStack implements envs.Provider.
func (p *Provider) ValidateStack(stack json.RawMessage) error {
	_, err := ParseStack(stack)
	return err
}

// ProvisionTimeout: images are pulled and pods scheduled, which takes
// longer than local processes.
func (p *Provider) ProvisionTimeout() time.Duration { return 15 * time.Minute }

// DestroyTimeout: a namespace waits for its pods' grace periods and its
// finalizers before it is gone.
func (p *Provider) DestroyTimeout() time.Duration { return 15 * time.Minute }

// namespaceName derives the namespace from the stack: readable (the
// environment's name) and unique (the id's random part), within a label's
// 63 characters.
func (p *Provider) namespaceName(stackID, envName string) string {
	suffix := stackID
	if i := strings.IndexByte(stackID, '-'); i >= 0 {
		suffix = stackID[i+1:]
	}
	suffix = strings.ToLower(suffix)
	room := 63 - len(p.cfg.NamespacePrefix) - len(suffix) - 1
	name := strings.ToLower(envName)
	if len(name) > room {
		name = name[:max(room, 0)]
	}
	name = strings.Trim(name, "-")
	if name == "" {
		return p.cfg.NamespacePrefix + suffix
	}
	return p.cfg.NamespacePrefix + name + "-" + suffix
}

// ours reports whether a namespace is one of this installation's stacks.
func (p *Provider) ours(ns *corev1.Namespace) bool {
	return ns.Labels[LabelInstance] == p.cfg.InstanceID && ns.Labels[LabelStack] != ""
}

// apply creates or updates one object with server-side apply: applying the
// same object again changes nothing, and Mayfly owns the fields it sets.
func (p *Provider) apply(ctx context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	mapping, err := p.mapping(u)
	if err != nil {
		return nil, err
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		return nil, fmt.Errorf("%s is cluster-scoped: a stack's objects live in its own namespace", u.GetKind())
	}
	b, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	force := true // Mayfly's declaration wins over edits by hand
	return p.dyn.Resource(mapping.Resource).Namespace(u.GetNamespace()).Patch(ctx, u.GetName(), types.ApplyPatchType, b,
		metav1.PatchOptions{FieldManager: fieldManager, Force: &force})
}

// mapping finds the resource of an object's kind, asking discovery again
// once when the kind is unknown (a CRD installed since).
func (p *Provider) mapping(u *unstructured.Unstructured) (*meta.RESTMapping, error) {
	gvk := u.GroupVersionKind()
	m, err := p.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		p.mapper.Reset()
		m, err = p.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if meta.IsNoMatchError(err) {
		return nil, envs.Invalid("the cluster does not know a kind of the manifests",
			envs.FieldError{Field: "stack.manifests", Message: fmt.Sprintf("%s %s: the cluster has no such kind", u.GetAPIVersion(), u.GetKind())})
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes: discover %s: %w", gvk, err)
	}
	return m, nil
}

// get reads one object of the stack's namespace; nil when it is gone.
func (p *Provider) get(ctx context.Context, ns string, ref objectRef) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(ref.APIVersion)
	u.SetKind(ref.Kind)
	mapping, err := p.mapping(u)
	if err != nil {
		return nil, err
	}
	obj, err := p.dyn.Resource(mapping.Resource).Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return obj, err
}

package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mayflyhq/mayfly/envs"
)

// record is what a stack's namespace keeps about itself in the
// mayfly-stack ConfigMap, written once every object is applied: Status,
// drift checks and Destroy get only the handle, and a portal restarted
// since must still know what the stack declared. It holds no parameter
// values (they may be secrets), only what the version declares.
type record struct {
	Objects []objectRef       `json:"objects"`
	Ready   []string          `json:"ready"`
	Outputs map[string]string `json:"outputs,omitempty"`
}

// objectRef names one declared object; Replicas is a workload's declared
// spec.replicas, for the drift check.
type objectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Replicas   *int64 `json:"replicas,omitempty"`
}

func (r objectRef) String() string { return r.Kind + "/" + r.Name }

// Provision implements envs.Provider: it creates the namespace (or finds
// the one an earlier call created), applies the quota, limits, policy and
// manifests, and records the stack. Every step is idempotent, so a call
// retried after a crash finishes what the first began.
func (p *Provider) Provision(ctx context.Context, req envs.ProvisionRequest) (string, error) {
	s, err := ParseStack(req.Stack)
	if err != nil {
		return "", err
	}
	stackID := req.StackID
	if stackID == "" {
		stackID = req.EnvironmentID
	}
	nsName := p.namespaceName(stackID, req.Name)
	data := templateData{Params: req.Params, Namespace: nsName, EnvironmentID: req.EnvironmentID, StackID: stackID,
		Name: req.Name, Owner: req.Owner}
	// missingkey=error: a parameter the version does not define fails
	// the launch instead of rendering "<no value>" into an object.
	objs, err := s.objects("missingkey=error", data)
	if err != nil {
		var fe *fieldErr
		errors.As(err, &fe)
		return "", envs.Invalid("the rendered manifests are not valid", envs.FieldError{Field: "stack." + fe.Field, Message: fe.Msg})
	}
	if err := p.ensureNamespace(ctx, nsName, stackID, req); err != nil {
		return "", err
	}
	if req.Progress != nil {
		req.Progress.StackCreated(nsName)
	}
	event := func(msg string) {
		if req.Progress != nil {
			req.Progress.Event(envs.ProviderEvent{Message: msg})
		}
	}
	// The namespace's own policy objects first: the quota and limits then
	// apply to the workloads as they are created.
	for _, u := range p.policyObjects(s, nsName) {
		if err := ctx.Err(); err != nil {
			return nsName, err
		}
		if _, err := p.apply(ctx, u); err != nil {
			return nsName, fmt.Errorf("kubernetes: apply %s/%s: %w", u.GetKind(), u.GetName(), err)
		}
		event(fmt.Sprintf("Applied %s/%s", u.GetKind(), u.GetName()))
	}
	rec := record{Outputs: s.Outputs, Ready: s.Ready}
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return nsName, err // stop applying: a destroy was requested
		}
		if _, err := p.apply(ctx, o.Obj); err != nil {
			var de *envs.Error
			if errors.As(err, &de) {
				return nsName, err
			}
			if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) {
				return nsName, envs.Invalid("the cluster refused an object of the manifests", envs.FieldError{Field: "stack.manifests",
					Message: fmt.Sprintf("document %d (line %d of the manifests): %s: %s", o.Doc, o.Line, o.ref(), apierrors.ReasonForError(err))})
			}
			return nsName, fmt.Errorf("kubernetes: apply %s (document %d): %w", o.ref(), o.Doc, err)
		}
		ref := objectRef{APIVersion: o.Obj.GetAPIVersion(), Kind: o.Obj.GetKind(), Name: o.Obj.GetName()}
		if ref.Kind == "Deployment" || ref.Kind == "StatefulSet" {
			replicas, found, _ := unstructured.NestedInt64(o.Obj.Object, "spec", "replicas")
			if !found {
				replicas = 1 // the API's default
			}
			ref.Replicas = &replicas
			if len(s.Ready) == 0 {
				rec.Ready = append(rec.Ready, ref.String())
			}
		}
		rec.Objects = append(rec.Objects, ref)
		event("Applied " + ref.String())
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nsName, err
	}
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": RecordConfigMap, "namespace": nsName,
			"labels": map[string]any{LabelManagedBy: "mayfly", LabelStack: stackID}},
		"data": map[string]any{"stack": string(b)}}}
	if _, err := p.apply(ctx, cm); err != nil {
		return nsName, fmt.Errorf("kubernetes: record the stack: %w", err)
	}
	return nsName, nil
}

// ensureNamespace creates the stack's namespace, or accepts the one an
// earlier call for the same stack created. Its labels and expiry are
// applied each time (an extended TTL shows after a retry).
func (p *Provider) ensureNamespace(ctx context.Context, name, stackID string, req envs.ProvisionRequest) error {
	ns, err := p.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("kubernetes: read namespace %s: %w", name, err)
	case ns.Labels[LabelStack] != stackID || ns.Labels[LabelInstance] != p.cfg.InstanceID:
		return fmt.Errorf("kubernetes: namespace %s exists and is not this stack's (labels %v)", name, ns.Labels)
	case ns.DeletionTimestamp != nil:
		return fmt.Errorf("kubernetes: namespace %s is being deleted; the launch is retried once it is gone", name)
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": name,
			"labels": map[string]any{LabelManagedBy: "mayfly", LabelInstance: p.cfg.InstanceID,
				LabelEnvironment: req.EnvironmentID, LabelStack: stackID},
			"annotations": map[string]any{AnnotationExpiresAt: req.ExpiresAt.UTC().Format(time.RFC3339),
				AnnotationName: req.Name, AnnotationOwner: req.Owner, AnnotationTemplate: req.Template + "@" + req.Version}}}}
	b, _ := u.MarshalJSON()
	force := true
	if _, err := p.cs.CoreV1().Namespaces().Patch(ctx, name, types.ApplyPatchType, b,
		metav1.PatchOptions{FieldManager: fieldManager, Force: &force}); err != nil {
		return fmt.Errorf("kubernetes: create namespace %s: %w", name, err)
	}
	return nil
}

// policyObjects are the objects the stack's settings add to its
// namespace: the quota, the limit range and the default-deny policy.
func (p *Provider) policyObjects(s *Stack, ns string) []*unstructured.Unstructured {
	meta := func(name string) map[string]any {
		return map[string]any{"name": name, "namespace": ns, "labels": map[string]any{LabelManagedBy: "mayfly"}}
	}
	var out []*unstructured.Unstructured
	if len(s.Quota) > 0 {
		out = append(out, &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ResourceQuota",
			"metadata": meta(QuotaName), "spec": map[string]any{"hard": anyMap(s.Quota)}}})
	}
	if l := s.Limits; l != nil {
		item := map[string]any{"type": string(corev1.LimitTypeContainer)}
		for key, m := range map[string]map[string]string{"default": l.Default, "defaultRequest": l.DefaultRequest, "max": l.Max, "min": l.Min} {
			if len(m) > 0 {
				item[key] = anyMap(m)
			}
		}
		out = append(out, &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "LimitRange",
			"metadata": meta(LimitRangeName), "spec": map[string]any{"limits": []any{item}}}})
	}
	if s.DefaultDeny {
		out = append(out, &unstructured.Unstructured{Object: map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
			"metadata": meta(DenyPolicyName), "spec": map[string]any{"podSelector": map[string]any{},
				"policyTypes": []any{"Ingress", "Egress"}}}})
	}
	return out
}

func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

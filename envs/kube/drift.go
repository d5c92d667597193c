package kube

import (
	"context"
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mayflyhq/mayfly/envs"
)

// DetectDrift implements envs.DriftDetector: every object the stack
// declared (its record, and the quota, limits and policy) must still be
// there, and every Deployment and StatefulSet must still have the replicas
// it declared (scaled by hand is drift).
func (p *Provider) DetectDrift(ctx context.Context, req envs.DriftRequest) (envs.DriftReport, error) {
	rec, err := p.record(ctx, req.Handle)
	if err != nil {
		return envs.DriftReport{}, err
	}
	if rec == nil {
		return envs.DriftReport{Items: []envs.DriftItem{{Resource: RecordConfigMap, Type: "ConfigMap", Status: envs.DriftDeleted,
			Detail: "the stack's record was deleted from its namespace: what it declared is unknown"}}}, nil
	}
	refs := rec.Objects
	if s, err := ParseStack(req.Stack); err == nil {
		for _, u := range p.policyObjects(s, req.Handle) {
			refs = append(refs, objectRef{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Name: u.GetName()})
		}
	}
	var rep envs.DriftReport
	for _, ref := range refs {
		obj, err := p.get(ctx, req.Handle, ref)
		if err != nil {
			return envs.DriftReport{}, fmt.Errorf("kubernetes: read %s: %w", ref, err)
		}
		if obj == nil {
			rep.Items = append(rep.Items, envs.DriftItem{Resource: ref.Name, Type: ref.Kind, Status: envs.DriftDeleted,
				Detail: ref.String() + " was deleted"})
			continue
		}
		if ref.Replicas == nil {
			continue
		}
		got, found, _ := unstructured.NestedInt64(obj.Object, "spec", "replicas")
		if !found {
			got = 1
		}
		if got != *ref.Replicas {
			want := strconv.FormatInt(*ref.Replicas, 10)
			rep.Items = append(rep.Items, envs.DriftItem{Resource: ref.Name, Type: ref.Kind, Status: envs.DriftModified,
				Detail:      fmt.Sprintf("%s was scaled to %d replicas; the version declares %s", ref, got, want),
				Differences: []envs.DriftDifference{{Path: "spec.replicas", Expected: want, Actual: strconv.FormatInt(got, 10), Kind: "NOT_EQUAL"}}})
		}
	}
	return rep, nil
}

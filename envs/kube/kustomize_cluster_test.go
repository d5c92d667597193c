package kube_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mayflyhq/mayfly/envs"
)

// A kustomized stack on the real API server: a base, an overlay that
// prefixes names, patches the replicas and generates a ConfigMap from a
// templated file; it is applied, becomes ready and is destroyed like
// plain manifests.
func TestProvisionKustomizedStack(t *testing.T) {
	p, cs, _ := newProvider(t)
	ctx := context.Background()
	stack := stackJSON(t, map[string]any{
		"kustomize": map[string]string{
			"base/kustomization.yaml": "resources: [deployment.yaml, service.yaml]\n",
			"base/deployment.yaml":    deployment,
			"base/service.yaml":       "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{name: http, port: 8080}]}\n",
			"kustomization.yaml": "resources: [base]\nnamePrefix: shop-\npatches: [{path: replicas.yaml}]\n" +
				"configMapGenerator: [{name: settings, envs: [settings.env]}]\ngeneratorOptions: {disableNameSuffixHash: true}\n",
			"replicas.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2}\n",
			"settings.env":  "GREETING={{.Params.greeting}}\nOWNER={{.Owner}}\n",
		},
		"ready":   []string{"Deployment/shop-web"},
		"outputs": map[string]any{"url": `http://{{(index .Services "shop-web").Address}}/`},
	})
	req := request(stack, "env-kustom0001", "kustom", nil)
	req.Params = map[string]string{"image": "mayfly:latest", "greeting": "hello"}
	h, err := p.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer destroyNow(t, p, h)
	d, err := cs.AppsV1().Deployments(h).Get(ctx, "shop-web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "mayfly:latest" {
		t.Errorf("image %q: the parameter was not rendered", got)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want the overlay's 2", d.Spec.Replicas)
	}
	cm, err := cs.CoreV1().ConfigMaps(h).Get(ctx, "shop-settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["GREETING"] != "hello" || cm.Data["OWNER"] != "alice" {
		t.Errorf("generated ConfigMap %v, want the rendered parameters", cm.Data)
	}
	markReady(t, cs, h, 2)
	var st envs.StackStatus
	eventually(t, "ready", 30*time.Second, func() (bool, error) {
		st, err = p.Status(ctx, h)
		return st.State == envs.StackReady, err
	})
	svc, err := cs.CoreV1().Services(h).Get(ctx, "shop-web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Outputs["url"], "http://"+svc.Spec.ClusterIP+":8080/"; got != want || svc.Spec.ClusterIP == "" {
		t.Errorf("output url %q, want %q", got, want)
	}
	// The record keeps the kustomized objects and the overlay's replicas.
	if rep, err := p.DetectDrift(ctx, envs.DriftRequest{Handle: h, Stack: stack}); err != nil || len(rep.Items) != 0 {
		t.Errorf("drift right after provisioning: %+v %v", rep, err)
	}
}

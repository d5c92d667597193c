package main

import (
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mayflyhq/mayfly/catalog"
	"github.com/mayflyhq/mayfly/envs/kube"
	"github.com/mayflyhq/mayfly/envs/kube/kubetest"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// startKubeMain runs the real portal with the built-in catalog and the
// kubernetes provider pointed at the test cluster through a kubeconfig, as
// an administrator would.
func startKubeMain(t *testing.T, extra ...string) (*testServer, kubernetes.Interface) {
	t.Helper()
	c := kubetest.Shared(t)
	args := append([]string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "warn",
		"--database-url", storagetest.URL(t), "--reaper-sweep-interval", "1s", "--kubeconfig", c.Kubeconfig}, extra...)
	cfg, err := ParseConfig(args, os.Getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Providers.has(kube.Name) {
		t.Fatalf("--kubeconfig given: kubernetes should be on (on: %v)", cfg.Providers.On)
	}
	return runTestMain(t, cfg), c.Client(t)
}

// waitNamespace waits for an environment's namespace and its pods, and
// marks the pods ready as the kubelets would.
func waitPodsAndMarkReady(t *testing.T, cs kubernetes.Interface, envID string) *corev1.Namespace {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: kube.LabelEnvironment + "=" + envID})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) == 1 {
			ns := &list.Items[0]
			if n, err := kubetest.MarkPodsReady(ctx, cs, ns.Name); err != nil {
				t.Fatal(err)
			} else if n > 0 {
				return ns
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no namespace with pods for %s", envID)
	return nil
}

func TestKubeLaunchReadyDestroyed(t *testing.T) {
	s, cs := startKubeMain(t)
	e := s.launch(map[string]any{"template": "demo-shop-kube", "name": "kshop", "params": map[string]any{"customer": "Acme"}})
	ns := waitPodsAndMarkReady(t, cs, e.ID)
	e = s.waitStatus(e.ID, "ready", 60*time.Second)
	ctx := context.Background()
	if got := ns.Labels[kube.LabelInstance]; !strings.HasPrefix(got, "mfi-") {
		t.Errorf("instance label %q", got)
	}
	if got := ns.Labels[kube.LabelStack]; got != e.ID {
		t.Errorf("stack label %q, want %q", got, e.ID)
	}
	if got := ns.Annotations[kube.AnnotationExpiresAt]; got != e.ExpiresAt.UTC().Format(time.RFC3339) {
		t.Errorf("expiry annotation %q, want %s", got, e.ExpiresAt)
	}
	for _, get := range []func() error{
		func() error {
			_, err := cs.CoreV1().ResourceQuotas(ns.Name).Get(ctx, kube.QuotaName, metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := cs.CoreV1().LimitRanges(ns.Name).Get(ctx, kube.LimitRangeName, metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := cs.NetworkingV1().NetworkPolicies(ns.Name).Get(ctx, kube.DenyPolicyName, metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); err != nil {
			t.Error(err)
		}
	}
	svc, err := cs.CoreV1().Services(ns.Name).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.Outputs["url"], "http://"+svc.Spec.ClusterIP+":80/"; got != want {
		t.Errorf("output url %q, want %q", got, want)
	}
	d, _ := cs.AppsV1().Deployments(ns.Name).Get(ctx, "shop", metav1.GetOptions{})
	if got := d.Spec.Template.Spec.Containers[0].Env[0].Value; got != "Demo shop for Acme" {
		t.Errorf("SHOP_TITLE %q: the parameter was not rendered", got)
	}
	if !containsAny(s.events(e.ID), "Applied Deployment/shop") {
		t.Errorf("timeline lacks the applied objects: %q", s.events(e.ID))
	}
	if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
		t.Fatalf("destroy: %d %s", r.Status, r.Body)
	}
	s.waitStatus(e.ID, "destroyed", 60*time.Second)
	if _, err := cs.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace after destroyed: %v", err)
	}
}

// A namespace labelled with this installation's id whose environment
// Mayfly does not know is an orphan: the sweep deletes it (grace 0), and
// leaves another installation's alone.
func TestKubeOrphanSweepDeletesUnknownNamespace(t *testing.T) {
	s, cs := startKubeMain(t, "--orphan-grace", "0")
	ctx := context.Background()
	instance, err := s.DB.SetSettingOnce(ctx, "instance_id", "unused")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name, inst string) {
		t.Helper()
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			kube.LabelInstance: inst, kube.LabelEnvironment: "env-ghost00000", kube.LabelStack: "env-ghost00000"}}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("mayfly-ghost-"+strings.ToLower(instance[4:]), instance)
	mk("mayfly-other-"+strings.ToLower(instance[4:]), "mfi-someoneelse")
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(ctx, "mayfly-other-"+strings.ToLower(instance[4:]), metav1.DeleteOptions{})
	})
	swept, err := s.Service.SweepCloudOrphans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, o := range swept {
		if o.Deleted {
			deleted = append(deleted, o.Handle)
		}
	}
	if len(deleted) != 1 || deleted[0] != "mayfly-ghost-"+strings.ToLower(instance[4:]) {
		t.Fatalf("deleted %v (swept %+v), want the ghost namespace only", deleted, swept)
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, deleted[0], metav1.GetOptions{})
	if err == nil && ns.DeletionTimestamp == nil {
		t.Errorf("orphan namespace not being deleted: %+v", ns.Status)
	}
	other, err := cs.CoreV1().Namespaces().Get(ctx, "mayfly-other-"+strings.ToLower(instance[4:]), metav1.GetOptions{})
	if err != nil || other.DeletionTimestamp != nil {
		t.Errorf("another installation's namespace was touched: %v", err)
	}
}

const kubeTemplate = `name: kube-bad
version: 1.0.0
kind: demo
description: A template whose second document is broken.
owner: platform
provider: kubernetes
ttl: {default: 1h, max: 2h}
stack:
  manifests: |
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: ok}
    ---
    apiVersion: v1
    kind: Service
    metadata: {labels: {app: x}}
`

const kubeKustomizeTemplate = `name: kube-remote
version: 1.0.0
kind: demo
description: A kustomization whose overlay pulls a remote base.
owner: platform
provider: kubernetes
ttl: {default: 1h, max: 2h}
stack:
  kustomize:
    kustomization.yaml: "resources: [overlay]"
    overlay/kustomization.yaml: "resources: ['github.com/example/app//base?ref=main']"
`

// Bad manifests are refused at publish with the document and its line;
// with the provider not configured, the refusal says how to turn it on.
func TestKubePublishRefusals(t *testing.T) {
	t.Run("bad manifests", func(t *testing.T) {
		s, _ := startKubeMain(t)
		r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(kubeTemplate))
		assertProblem(t, r, http.StatusUnprocessableEntity, "stack.manifests")
		if !strings.Contains(string(r.Body), "document 2 (line 5 of the manifests): Service has no metadata.name") {
			t.Errorf("problem does not name the document and line: %s", r.Body)
		}
	})
	t.Run("remote kustomize base", func(t *testing.T) {
		s, _ := startKubeMain(t)
		r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(kubeKustomizeTemplate))
		assertProblem(t, r, http.StatusUnprocessableEntity, "stack.kustomize.overlay/kustomization.yaml")
		if !strings.Contains(string(r.Body), "remote bases and files are not supported") {
			t.Errorf("problem does not say why: %s", r.Body)
		}
	})
	t.Run("provider not configured", func(t *testing.T) {
		s := startMain(t, testCatalog(t))
		r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(kubeTemplate))
		assertProblem(t, r, http.StatusUnprocessableEntity, "provider")
		if !strings.Contains(string(r.Body), `not a configured provider`) || !strings.Contains(string(r.Body), "--kubeconfig") {
			t.Errorf("refusal does not name the provider and how to set it up: %s", r.Body)
		}
		if r := s.api("GET", "/api/v1/templates", nil); strings.Contains(string(r.Body), "demo-shop-kube") {
			t.Error("the kubernetes sample is listed without the provider")
		}
	})
}

// kubeCatalog is a catalog directory holding the Kubernetes sample.
func kubeCatalog(t *testing.T) string {
	t.Helper()
	src, err := fs.ReadFile(catalog.FS, "kube/demo-shop-kube.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "demo-shop-kube.yaml"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A portal SIGKILLed as soon as the launch's namespace exists (mid-way
// through applying, or just after) is started again: it finishes the
// launch in that one namespace, and destroys it.
func TestKubeCrashMidProvisionAndRestart(t *testing.T) {
	c := kubetest.Shared(t)
	cs := c.Client(t)
	ctx := context.Background()
	dataDir, dbURL, addr := t.TempDir(), storagetest.URL(t), freeAddr(t)
	flags := []string{"--kubeconfig", c.Kubeconfig, "--catalog-dir", kubeCatalog(t)}
	p := startPortal(t, dataDir, dbURL, addr, flags...)
	e := p.server().launch(map[string]any{"template": "demo-shop-kube", "name": "crashk", "params": map[string]any{"customer": "Acme"}})
	selector := metav1.ListOptions{LabelSelector: kube.LabelEnvironment + "=" + e.ID}
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := cs.CoreV1().Namespaces().List(ctx, selector)
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no namespace for the launch")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.kill()

	p = startPortal(t, dataDir, dbURL, addr, flags...)
	defer p.kill()
	s := p.server()
	waitPodsAndMarkReady(t, cs, e.ID)
	ready := s.waitStatus(e.ID, "ready", 60*time.Second)
	if !strings.HasPrefix(ready.Outputs["url"], "http://10.96.") {
		t.Errorf("output url %q, want the Service's cluster address", ready.Outputs["url"])
	}
	list, err := cs.CoreV1().Namespaces().List(ctx, selector)
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("%d namespaces for the environment (%v), want one", len(list.Items), err)
	}
	if deps, _ := cs.AppsV1().Deployments(list.Items[0].Name).List(ctx, metav1.ListOptions{}); len(deps.Items) != 1 {
		t.Errorf("%d deployments, want one", len(deps.Items))
	}
	if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
		t.Fatalf("destroy: %d %s", r.Status, r.Body)
	}
	s.waitStatus(e.ID, "destroyed", 60*time.Second)
	if list, _ := cs.CoreV1().Namespaces().List(ctx, selector); len(list.Items) != 0 {
		t.Errorf("namespace left after destroyed: %s", list.Items[0].Name)
	}
}

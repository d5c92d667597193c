package kube_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/kube"
	"github.com/mayflyhq/mayfly/envs/kube/kubetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	kubetest.StopShared()
	os.Exit(code)
}

func asError(err error, target **envs.Error) bool { return errors.As(err, target) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newProvider is a provider on the package's cluster with an instance id
// of its own, so tests never see each other's namespaces.
func newProvider(t *testing.T) (*kube.Provider, kubernetes.Interface, string) {
	t.Helper()
	c := kubetest.Shared(t)
	instance := "mfi-" + randomHex(4)
	p, err := kube.New(kube.Config{REST: c.Config, InstanceID: instance})
	if err != nil {
		t.Fatal(err)
	}
	return p, c.Client(t), instance
}

// recorder is a Progress that keeps what it was told.
type recorder struct {
	mu      sync.Mutex
	created []string
	events  []string
}

func (r *recorder) StackCreated(h string) {
	r.mu.Lock()
	r.created = append(r.created, h)
	r.mu.Unlock()
}
func (r *recorder) Event(ev envs.ProviderEvent) {
	r.mu.Lock()
	r.events = append(r.events, ev.Message)
	r.mu.Unlock()
}

const shopManifests = deployment + `---
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {owner: "{{.Owner}}"}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8080}]
`

func shopStack(t *testing.T) json.RawMessage {
	return stackJSON(t, map[string]any{
		"manifests":    shopManifests,
		"quota":        map[string]any{"pods": "4", "requests.cpu": "2"},
		"limits":       map[string]any{"default": map[string]any{"cpu": "250m", "memory": "128Mi"}, "default_request": map[string]any{"cpu": "50m"}},
		"default_deny": true,
		"outputs":      map[string]any{"url": "http://{{.Services.web.Address}}/", "dns": "{{.Services.web.DNS}}"},
	})
}

func request(stack json.RawMessage, id, name string, progress envs.Progress) envs.ProvisionRequest {
	return envs.ProvisionRequest{EnvironmentID: id, StackID: id, Name: name, Owner: "alice", Template: "shop", Version: "1.0.0",
		Stack: stack, Params: map[string]string{"image": "mayfly:latest"}, ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		Progress: progress}
}

// eventually polls the cluster (real processes changing state on their
// own) until cond holds.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// markReady plays the kubelet: it waits for the Deployment's pods and
// reports them running and ready.
func markReady(t *testing.T, cs kubernetes.Interface, ns string, pods int) {
	t.Helper()
	eventually(t, "pods created", 30*time.Second, func() (bool, error) {
		list, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		return err == nil && len(list.Items) >= pods, err
	})
	if _, err := kubetest.MarkPodsReady(context.Background(), cs, ns); err != nil {
		t.Fatal(err)
	}
}

func TestProvisionReadyDestroy(t *testing.T) {
	p, cs, instance := newProvider(t)
	ctx := context.Background()
	rec := &recorder{}
	h, err := p.Provision(ctx, request(shopStack(t), "env-lifecycle01", "shop", rec))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h, "mayfly-shop-lifecycle01"; got != want {
		t.Errorf("handle %q, want %q", got, want)
	}
	if len(rec.created) != 1 || rec.created[0] != h {
		t.Errorf("StackCreated %v, want [%s]", rec.created, h)
	}
	for _, want := range []string{"Applied ResourceQuota/mayfly-quota", "Applied LimitRange/mayfly-limits",
		"Applied NetworkPolicy/mayfly-default-deny", "Applied Deployment/web", "Applied Service/web"} {
		if !strings.Contains(strings.Join(rec.events, "\n"), want) {
			t.Errorf("progress lacks %q: %q", want, rec.events)
		}
	}

	ns, err := cs.CoreV1().Namespaces().Get(ctx, h, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{kube.LabelInstance: instance, kube.LabelEnvironment: "env-lifecycle01",
		kube.LabelStack: "env-lifecycle01", kube.LabelManagedBy: "mayfly"} {
		if got := ns.Labels[k]; got != want {
			t.Errorf("label %s: got %q, want %q", k, got, want)
		}
	}
	if got, want := ns.Annotations[kube.AnnotationExpiresAt], "2030-01-02T03:04:05Z"; got != want {
		t.Errorf("expiry annotation %q, want %q", got, want)
	}
	q, err := cs.CoreV1().ResourceQuotas(h).Get(ctx, kube.QuotaName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Spec.Hard.Pods().String(); got != "4" {
		t.Errorf("quota pods %s, want 4", got)
	}
	lr, err := cs.CoreV1().LimitRanges(h).Get(ctx, kube.LimitRangeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := lr.Spec.Limits[0].Default.Cpu().String(); got != "250m" {
		t.Errorf("limit range default cpu %s, want 250m", got)
	}
	np, err := cs.NetworkingV1().NetworkPolicies(h).Get(ctx, kube.DenyPolicyName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(np.Spec.PolicyTypes) != 2 || len(np.Spec.Ingress) != 0 || len(np.Spec.Egress) != 0 {
		t.Errorf("network policy %+v, want deny all ingress and egress", np.Spec)
	}
	d, err := cs.AppsV1().Deployments(h).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "mayfly:latest" {
		t.Errorf("image %q: the parameter was not rendered", got)
	}

	st, err := p.Status(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != envs.StackInProgress {
		t.Fatalf("status before the pods are ready: %+v", st)
	}
	markReady(t, cs, h, 1)
	eventually(t, "ready", 30*time.Second, func() (bool, error) {
		st, err = p.Status(ctx, h)
		return st.State == envs.StackReady, err
	})
	svc, _ := cs.CoreV1().Services(h).Get(ctx, "web", metav1.GetOptions{})
	if got, want := st.Outputs["url"], "http://"+svc.Spec.ClusterIP+":8080/"; got != want || svc.Spec.ClusterIP == "" {
		t.Errorf("output url %q, want %q", got, want)
	}
	if got, want := st.Outputs["dns"], "web."+h+".svc:8080"; got != want {
		t.Errorf("output dns %q, want %q", got, want)
	}

	done, err := p.Destroy(ctx, h)
	if err != nil || done {
		t.Fatalf("first destroy: done %v, err %v; want in progress", done, err)
	}
	if st, _ := p.Status(ctx, h); st.State != envs.StackFailed {
		t.Errorf("status while terminating: %+v", st)
	}
	eventually(t, "namespace gone", 60*time.Second, func() (bool, error) {
		done, err := p.Destroy(ctx, h)
		return done, err
	})
	if _, err := cs.CoreV1().Namespaces().Get(ctx, h, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace after destroy: %v", err)
	}
	if done, err := p.Destroy(ctx, h); !done || err != nil {
		t.Errorf("destroy of a gone stack: %v %v", done, err)
	}
}

func TestProvisionTwiceIsOneNamespace(t *testing.T) {
	p, cs, _ := newProvider(t)
	ctx := context.Background()
	h1, err := p.Provision(ctx, request(shopStack(t), "env-twice00001", "twice", nil))
	if err != nil {
		t.Fatal(err)
	}
	h2, err := p.Provision(ctx, request(shopStack(t), "env-twice00001", "twice", nil))
	if err != nil {
		t.Fatal(err)
	}
	if h1 != h2 {
		t.Errorf("handles %q and %q, want one", h1, h2)
	}
	stacks, err := p.Stacks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stacks) != 1 || stacks[0] != h1 {
		t.Errorf("stacks %v, want [%s]", stacks, h1)
	}
	deps, _ := cs.AppsV1().Deployments(h1).List(ctx, metav1.ListOptions{})
	rss, _ := cs.CoreV1().ResourceQuotas(h1).List(ctx, metav1.ListOptions{})
	if len(deps.Items) != 1 || len(rss.Items) != 1 {
		t.Errorf("%d deployments, %d quotas, want one each", len(deps.Items), len(rss.Items))
	}
	// A namespace of the same name that is not this stack's is refused.
	if _, err := p.Provision(ctx, request(shopStack(t), "stk-twice00001", "twice", nil)); err == nil {
		t.Error("another stack took over the namespace")
	}
	destroyNow(t, p, h1)
}

func destroyNow(t *testing.T, p *kube.Provider, h string) {
	t.Helper()
	eventually(t, "destroy "+h, 60*time.Second, func() (bool, error) { return p.Destroy(context.Background(), h) })
}

func TestStackInfosListOnlyThisInstance(t *testing.T) {
	p, _, _ := newProvider(t)
	other, _, _ := newProvider(t)
	ctx := context.Background()
	mine, err := p.Provision(ctx, request(shopStack(t), "env-mine000001", "mine", nil))
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := other.Provision(ctx, request(shopStack(t), "env-theirs0001", "theirs", nil))
	if err != nil {
		t.Fatal(err)
	}
	infos, err := p.StackInfos(ctx, envs.StackScopes{})
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Handle != mine || infos[0].EnvironmentID != "env-mine000001" || infos[0].CreatedAt.IsZero() {
		t.Errorf("stack infos %+v, want only %s", infos, mine)
	}
	// Another installation's namespace is never deleted.
	if _, err := p.Destroy(ctx, theirs); err == nil || !strings.Contains(err.Error(), "left alone") {
		t.Errorf("destroying another instance's namespace: %v", err)
	}
	destroyNow(t, p, mine)
	destroyNow(t, other, theirs)
}

func TestDriftDeletedAndScaled(t *testing.T) {
	p, cs, _ := newProvider(t)
	ctx := context.Background()
	stack := shopStack(t)
	h, err := p.Provision(ctx, request(stack, "env-drift00001", "drift", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer destroyNow(t, p, h)
	rep, err := p.DetectDrift(ctx, envs.DriftRequest{Handle: h, Stack: stack})
	if err != nil || len(rep.Items) != 0 {
		t.Fatalf("fresh stack drifted: %+v %v", rep, err)
	}
	if err := cs.CoreV1().Services(h).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	d, err := cs.AppsV1().Deployments(h).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	three := int32(3)
	d.Spec.Replicas = &three
	if _, err := cs.AppsV1().Deployments(h).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.NetworkingV1().NetworkPolicies(h).Delete(ctx, kube.DenyPolicyName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err = p.DetectDrift(ctx, envs.DriftRequest{Handle: h, Stack: stack})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, it := range rep.Items {
		got[it.Type+"/"+it.Resource] = it.Status
	}
	want := map[string]string{"Service/web": envs.DriftDeleted, "Deployment/web": envs.DriftModified,
		"NetworkPolicy/" + kube.DenyPolicyName: envs.DriftDeleted}
	if len(got) != len(want) {
		t.Errorf("drift %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("drift of %s: %q, want %q (all: %+v)", k, got[k], v, rep.Items)
		}
	}
}

func TestProvisionRefusesWhatTheClusterRefuses(t *testing.T) {
	p, _, _ := newProvider(t)
	ctx := context.Background()
	stack := stackJSON(t, map[string]any{"manifests": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\n" +
		"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"})
	h, err := p.Provision(ctx, request(stack, "env-nokind0001", "nokind", nil))
	var de *envs.Error
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "Widget: the cluster has no such kind") {
		t.Errorf("unknown kind: %v", err)
	}
	if h != "" {
		destroyNow(t, p, h)
	}
	// A parameter the version does not define fails the launch.
	stack = stackJSON(t, map[string]any{"manifests": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"{{.Params.nope}}\"}\n"})
	if _, err := p.Provision(ctx, request(stack, "env-noparam001", "noparam", nil)); !errors.As(err, &de) {
		t.Errorf("missing parameter: %v", err)
	}
}

// cancelOnCreate cancels the Provision call as soon as the namespace
// exists: the portal died half-way through applying.
type cancelOnCreate struct {
	recorder
	cancel context.CancelFunc
}

func (c *cancelOnCreate) StackCreated(h string) { c.recorder.StackCreated(h); c.cancel() }

// A portal that dies mid-provision leaves a namespace without its record:
// the stack is not ready, and the retried Provision of a fresh process (no
// memory of the first) finishes it in the same namespace.
func TestProvisionResumesAfterRestart(t *testing.T) {
	p, cs, instance := newProvider(t)
	ctx, cancel := context.WithCancel(context.Background())
	stack := shopStack(t)
	h, err := p.Provision(ctx, request(stack, "env-restart001", "restart", &cancelOnCreate{cancel: cancel}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cut provision: %q %v, want canceled", h, err)
	}
	if _, err := cs.AppsV1().Deployments(h).Get(context.Background(), "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the cut provision applied the manifests: %v", err)
	}
	restarted, err := kube.New(kube.Config{REST: kubetest.Shared(t).Config, InstanceID: instance})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := restarted.Status(context.Background(), h); err != nil || st.State != envs.StackInProgress {
		t.Fatalf("status of the cut stack: %+v %v", st, err)
	}
	h2, err := restarted.Provision(context.Background(), request(stack, "env-restart001", "restart", nil))
	if err != nil || h2 != h {
		t.Fatalf("resumed provision: %q %v, want %q", h2, err, h)
	}
	markReady(t, cs, h, 1)
	eventually(t, "ready after restart", 30*time.Second, func() (bool, error) {
		st, err := restarted.Status(context.Background(), h)
		return st.State == envs.StackReady, err
	})
	destroyNow(t, restarted, h)
}

func TestStackHealth(t *testing.T) {
	_, cs, instance := newProvider(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p, err := kube.New(kube.Config{REST: kubetest.Shared(t).Config, InstanceID: instance,
		Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := p.Provision(ctx, request(shopStack(t), "env-health0001", "health", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer destroyNow(t, p, h)
	markReady(t, cs, h, 1)
	eventually(t, "ready", 30*time.Second, func() (bool, error) {
		st, err := p.Status(ctx, h)
		return st.State == envs.StackReady, err
	})
	got, err := p.StackHealth(ctx, []string{h, "mayfly-gone-0000000000"})
	if err != nil {
		t.Fatal(err)
	}
	if got[h] != "" || !strings.Contains(got["mayfly-gone-0000000000"], "was deleted outside Mayfly") {
		t.Errorf("health %q, want %s sound and the missing namespace deleted", got, h)
	}
	if err := cs.AppsV1().Deployments(h).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.StackHealth(ctx, []string{h}); len(got) != 0 {
		t.Errorf("checked again within the interval: %q", got)
	}
	now = now.Add(time.Minute)
	got, err = p.StackHealth(ctx, []string{h})
	if err != nil || got[h] != "Deployment/web was deleted" {
		t.Errorf("health after the deployment was deleted: %q %v", got, err)
	}
}

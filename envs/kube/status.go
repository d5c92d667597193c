package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mayflyhq/mayfly/envs"
)

// Status implements envs.Provider: in progress until the stack is
// recorded and its declared workloads are available, failed when the
// namespace is gone or a Deployment missed its progress deadline. The
// namespace's Kubernetes events go into the timeline.
func (p *Provider) Status(ctx context.Context, handle string) (envs.StackStatus, error) {
	ns, err := p.cs.CoreV1().Namespaces().Get(ctx, handle, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return envs.StackStatus{State: envs.StackFailed, Reason: fmt.Sprintf("namespace %s no longer exists", handle)}, nil
	}
	if err != nil {
		return envs.StackStatus{}, fmt.Errorf("kubernetes: read namespace %s: %w", handle, err)
	}
	if ns.DeletionTimestamp != nil {
		return envs.StackStatus{State: envs.StackFailed, Reason: fmt.Sprintf("namespace %s is being deleted", handle)}, nil
	}
	st := envs.StackStatus{State: envs.StackInProgress, Events: p.events(ctx, handle)}
	rec, err := p.record(ctx, handle)
	if err != nil || rec == nil {
		return st, err // not recorded yet: Provision is still applying
	}
	for _, r := range rec.Ready {
		ok, reason, err := p.available(ctx, handle, r)
		if err != nil {
			return st, err
		}
		if reason != "" {
			st.State, st.Reason = envs.StackFailed, reason
			return st, nil
		}
		if !ok {
			return st, nil
		}
	}
	outs, err := p.outputs(ctx, handle, rec)
	if err != nil {
		st.State, st.Reason = envs.StackFailed, err.Error()
		return st, nil
	}
	st.State, st.Outputs = envs.StackReady, outs
	return st, nil
}

// record reads the stack's mayfly-stack ConfigMap; nil when not written yet.
func (p *Provider) record(ctx context.Context, ns string) (*record, error) {
	cm, err := p.cs.CoreV1().ConfigMaps(ns).Get(ctx, RecordConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes: read %s/%s: %w", ns, RecordConfigMap, err)
	}
	var rec record
	if err := json.Unmarshal([]byte(cm.Data["stack"]), &rec); err != nil {
		return nil, fmt.Errorf("kubernetes: %s/%s is not a stack record: %w", ns, RecordConfigMap, err)
	}
	return &rec, nil
}

// available reports whether one declared workload (Deployment/NAME,
// StatefulSet/NAME) is available: every replica of its current generation
// up and ready. reason is set when it will not become available.
func (p *Provider) available(ctx context.Context, ns, ref string) (ok bool, reason string, err error) {
	kind, name, _ := strings.Cut(ref, "/")
	switch kind {
	case "Deployment":
		d, err := p.cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, ref + " was deleted", nil
		}
		if err != nil {
			return false, "", fmt.Errorf("kubernetes: read %s: %w", ref, err)
		}
		return deploymentAvailable(d)
	case "StatefulSet":
		s, err := p.cs.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, ref + " was deleted", nil
		}
		if err != nil {
			return false, "", fmt.Errorf("kubernetes: read %s: %w", ref, err)
		}
		want := int32(1)
		if s.Spec.Replicas != nil {
			want = *s.Spec.Replicas
		}
		return s.Status.ObservedGeneration >= s.Generation && s.Status.ReadyReplicas >= want && s.Status.AvailableReplicas >= want, "", nil
	}
	return false, "", fmt.Errorf("kubernetes: %s is not a workload Mayfly waits for", ref)
}

func deploymentAvailable(d *appsv1.Deployment) (bool, string, error) {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return false, fmt.Sprintf("Deployment/%s did not become available: %s", d.Name, c.Message), nil
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas >= want && s.AvailableReplicas >= want, "", nil
}

// service is what an output sees of a Service.
type service struct {
	ClusterIP    string
	Port         int32
	Ports        map[string]int32
	Address      string // ClusterIP:Port
	DNS          string // name.namespace.svc:Port
	LoadBalancer string // the first load-balancer ingress address, "" if none
}

// ingress is what an output sees of an Ingress.
type ingress struct {
	Host    string // the first rule's host
	Address string // the first load-balancer address, "" until assigned
	URL     string // http(s)://host-or-address/
}

type outputData struct {
	Services      map[string]service
	Ingresses     map[string]ingress
	Namespace     string
	EnvironmentID string
	StackID       string
	Name          string
}

// outputs renders the declared outputs over the namespace's live Services
// and Ingresses.
func (p *Provider) outputs(ctx context.Context, ns string, rec *record) (map[string]string, error) {
	if len(rec.Outputs) == 0 {
		return nil, nil
	}
	nsObj, err := p.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("kubernetes: read namespace %s: %w", ns, err)
	}
	d := outputData{Services: map[string]service{}, Ingresses: map[string]ingress{}, Namespace: ns,
		EnvironmentID: nsObj.Labels[LabelEnvironment], StackID: nsObj.Labels[LabelStack], Name: nsObj.Annotations[AnnotationName]}
	for _, o := range rec.Objects {
		switch o.Kind {
		case "Service":
			svc, err := p.cs.CoreV1().Services(ns).Get(ctx, o.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("kubernetes: read Service/%s: %w", o.Name, err)
			}
			d.Services[o.Name] = serviceOf(svc)
		case "Ingress":
			ing, err := p.cs.NetworkingV1().Ingresses(ns).Get(ctx, o.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("kubernetes: read Ingress/%s: %w", o.Name, err)
			}
			d.Ingresses[o.Name] = ingressOf(ing)
		}
	}
	out := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(rec.Outputs)) {
		v, err := render("outputs."+name, rec.Outputs[name], "missingkey=error", d)
		if err != nil {
			return nil, fmt.Errorf("output %s %s", name, err)
		}
		out[name] = v
	}
	return out, nil
}

func serviceOf(svc *corev1.Service) service {
	s := service{ClusterIP: svc.Spec.ClusterIP, Ports: map[string]int32{}}
	for i, port := range svc.Spec.Ports {
		if i == 0 {
			s.Port = port.Port
		}
		if port.Name != "" {
			s.Ports[port.Name] = port.Port
		}
	}
	port := strconv.Itoa(int(s.Port))
	if s.ClusterIP != "" && s.ClusterIP != corev1.ClusterIPNone {
		s.Address = net.JoinHostPort(s.ClusterIP, port)
	}
	s.DNS = net.JoinHostPort(svc.Name+"."+svc.Namespace+".svc", port)
	if lbs := svc.Status.LoadBalancer.Ingress; len(lbs) > 0 {
		s.LoadBalancer = cmpOr(lbs[0].IP, lbs[0].Hostname)
	}
	return s
}

func ingressOf(ing *networkingv1.Ingress) ingress {
	var in ingress
	if len(ing.Spec.Rules) > 0 {
		in.Host = ing.Spec.Rules[0].Host
	}
	if lbs := ing.Status.LoadBalancer.Ingress; len(lbs) > 0 {
		in.Address = cmpOr(lbs[0].IP, lbs[0].Hostname)
	}
	scheme := "http"
	if len(ing.Spec.TLS) > 0 {
		scheme = "https"
	}
	if host := cmpOr(in.Host, in.Address); host != "" {
		in.URL = scheme + "://" + host + "/"
	}
	return in
}

// events are the namespace's Kubernetes events not reported before, oldest
// first, as timeline lines. A failure to list them is logged: the timeline
// is not worth failing a status for.
func (p *Provider) events(ctx context.Context, ns string) []envs.ProviderEvent {
	list, err := p.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		p.log.Warn("list events", "namespace", ns, "err", err)
		return nil
	}
	items := list.Items
	slices.SortStableFunc(items, func(a, b corev1.Event) int { return eventTime(a).Compare(eventTime(b).Time) })
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := p.seen[ns]
	if seen == nil {
		seen = map[string]bool{}
		p.seen[ns] = seen
	}
	var out []envs.ProviderEvent
	for _, e := range items {
		key := string(e.UID) + "/" + strconv.Itoa(int(e.Count))
		if seen[key] {
			continue
		}
		seen[key] = true
		at := eventTime(e)
		msg := fmt.Sprintf("%s %s/%s %s: %s", at.UTC().Format("15:04:05Z"), e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		out = append(out, envs.ProviderEvent{At: at.Time, Message: msg, ID: key})
	}
	return out
}

func eventTime(e corev1.Event) metav1.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.EventTime.IsZero():
		return metav1.Time{Time: e.EventTime.Time}
	}
	return e.CreationTimestamp
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

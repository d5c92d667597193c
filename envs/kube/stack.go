package kube

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/tmpl"
)

// Stack is the `stack:` body of a template version with
// `provider: kubernetes`.
type Stack struct {
	// Manifests are the namespace's objects: YAML documents separated by
	// `---`, as one Go template over .Params.<name>, .Namespace,
	// .EnvironmentID, .StackID, .Name and .Owner. Every object goes into
	// the stack's namespace; cluster-scoped kinds are refused.
	Manifests string `json:"manifests,omitempty"`
	// Kustomize, instead of Manifests, is a kustomization: file path to
	// contents, with a kustomization.yaml at the top. Each file is a Go
	// template over the same values as Manifests; the kustomization is
	// built in memory, and what it outputs is applied like Manifests.
	// Every file it refers to must be one of these: remote bases and
	// files, Helm charts and plugins are refused.
	Kustomize map[string]string `json:"kustomize,omitempty"`
	// Quota is the namespace's ResourceQuota (spec.hard): resource name to
	// quantity, such as pods: "10" or requests.cpu: "2".
	Quota map[string]string `json:"quota,omitempty"`
	// Limits is the namespace's LimitRange for containers.
	Limits *Limits `json:"limits,omitempty"`
	// DefaultDeny adds a NetworkPolicy that denies all ingress and egress
	// of the namespace's pods; the manifests allow what they need with
	// NetworkPolicies of their own.
	DefaultDeny bool `json:"default_deny,omitempty"`
	// Ready lists the workloads (Deployment/NAME or StatefulSet/NAME) that
	// must be available before the environment is ready; empty: every
	// Deployment and StatefulSet of the manifests.
	Ready []string `json:"ready,omitempty"`
	// Outputs are Go templates over the live objects: .Services.<name>
	// (.ClusterIP, .Port, .Ports.<port name>, .Address "ip:port", .DNS
	// "name.namespace.svc:port", .LoadBalancer), .Ingresses.<name> (.Host,
	// .Address, .URL), .Namespace, .EnvironmentID, .StackID and .Name.
	// Parameters are not there: they reach objects through the manifests.
	Outputs map[string]string `json:"outputs,omitempty"`
}

// Limits are a LimitRange's container values: resource name to quantity.
type Limits struct {
	Default        map[string]string `json:"default,omitempty"`
	DefaultRequest map[string]string `json:"default_request,omitempty"`
	Max            map[string]string `json:"max,omitempty"`
	Min            map[string]string `json:"min,omitempty"`
}

// clusterScoped are the built-in kinds that live outside namespaces: a
// stack cannot own them (destroying the namespace would leave them).
var clusterScoped = map[string]bool{"Namespace": true, "Node": true, "PersistentVolume": true,
	"ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true, "StorageClass": true,
	"PriorityClass": true, "IngressClass": true, "RuntimeClass": true, "APIService": true, "CSIDriver": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true, "ValidatingAdmissionPolicy": true,
	"CertificateSigningRequest": true, "VolumeAttachment": true}

var (
	// An object name: a DNS-1123 subdomain.
	objectNameRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
	readyRe      = regexp.MustCompile(`^(Deployment|StatefulSet)/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$`)
)

// templateData is what the manifests are rendered over.
type templateData struct {
	Params        map[string]string
	Namespace     string
	EnvironmentID string
	StackID       string
	Name          string
	Owner         string
}

// object is one document of the manifests.
type object struct {
	Doc  int // 1-based
	Line int // of the document's first line in the rendered manifests
	Obj  *unstructured.Unstructured
}

func (o object) ref() string { return o.Obj.GetKind() + "/" + o.Obj.GetName() }

// ParseStack decodes and checks a stack body, rendering the manifests over
// sample values so that a document that is not YAML, or not an object a
// namespace can hold, is refused at publish naming the document and its
// line. Every problem is one field error, all in one error.
func ParseStack(raw json.RawMessage) (*Stack, error) {
	var s Stack
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields() // a misspelt key is an error, not ignored
	if err := dec.Decode(&s); err != nil {
		return nil, envs.Invalid("template is not valid", envs.FieldError{Field: "stack", Message: err.Error()})
	}
	var errs []envs.FieldError
	// Line stays 0: a FieldError's line is one of the template file, and
	// a document's line (in the message) is one of the manifests.
	add := func(field string, format string, args ...any) {
		errs = append(errs, envs.FieldError{Field: "stack." + field, Message: fmt.Sprintf(format, args...)})
	}
	var objs []object
	switch {
	case strings.TrimSpace(s.Manifests) == "" && len(s.Kustomize) == 0:
		add("manifests", "is required: the namespace's objects as YAML documents (or kustomize: a kustomization's files)")
	case s.Manifests != "" && len(s.Kustomize) > 0:
		add("kustomize", "cannot be given with manifests: the objects are either the manifests or the kustomization's output")
	default:
		// Parameters are only known at launch: missing ones render empty
		// here, so what does not depend on them is checked now.
		var err error
		if objs, err = s.objects("missingkey=zero", sampleData()); err != nil {
			var fe *fieldErr
			errors.As(err, &fe)
			add(fe.Field, "%s", fe.Msg)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(s.Quota)) {
		if _, err := resource.ParseQuantity(s.Quota[key]); err != nil {
			add("quota."+key, "%q is not a quantity such as 10, 500m or 2Gi", s.Quota[key])
		}
	}
	if s.Limits != nil {
		for name, m := range map[string]map[string]string{"default": s.Limits.Default, "default_request": s.Limits.DefaultRequest,
			"max": s.Limits.Max, "min": s.Limits.Min} {
			for _, key := range slices.Sorted(maps.Keys(m)) {
				if _, err := resource.ParseQuantity(m[key]); err != nil {
					add("limits."+name+"."+key, "%q is not a quantity such as 500m or 256Mi", m[key])
				}
			}
		}
	}
	for i, r := range s.Ready {
		if !readyRe.MatchString(r) {
			add(fmt.Sprintf("ready[%d]", i), "%q is not Deployment/NAME or StatefulSet/NAME", r)
			continue
		}
		if objs != nil && !slices.ContainsFunc(objs, func(o object) bool { return o.ref() == r }) {
			add(fmt.Sprintf("ready[%d]", i), "the manifests declare no %s", r)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Outputs)) {
		if _, err := render("outputs."+name, s.Outputs[name], "missingkey=zero", outputData{}); err != nil {
			add("outputs."+name, "%s", err)
		}
	}
	if len(errs) > 0 {
		return nil, envs.Invalid("template is not valid", errs...)
	}
	return &s, nil
}

func sampleData() templateData {
	return templateData{Params: map[string]string{}, Namespace: "mayfly-sample-0000000000",
		EnvironmentID: "env-sample", StackID: "env-sample", Name: "sample", Owner: "owner"}
}

// render runs one template of the stack within envs/tmpl's bounds.
func render(name, text, missing string, data any) (string, error) {
	t, err := tmpl.Parse(name, text, missing)
	if err != nil {
		return "", fmt.Errorf("is not a valid Go template: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
	out, err := t.Execute(tmpl.NewBudget(tmpl.DefaultLimits), data)
	if le, ok := tmpl.AsLimit(err); ok {
		return "", le
	}
	if err != nil {
		return "", fmt.Errorf("cannot be rendered: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
	return out, nil
}

// objects renders the manifests, or builds the kustomization, over data,
// and decodes the objects into data's namespace. Its error is a *fieldErr.
func (s *Stack) objects(missing string, data templateData) ([]object, error) {
	if len(s.Kustomize) > 0 {
		text, err := kustomizeFiles(s.Kustomize, missing, data)
		if err != nil {
			return nil, err
		}
		objs, err := splitManifests(text, data.Namespace)
		if err != nil {
			return nil, &fieldErr{"kustomize", "its output: " + err.Error()}
		}
		return objs, nil
	}
	text, err := render("manifests", s.Manifests, missing, data)
	if err != nil {
		return nil, &fieldErr{"manifests", err.Error()}
	}
	objs, err := splitManifests(text, data.Namespace)
	if err != nil {
		return nil, &fieldErr{"manifests", err.Error()}
	}
	return objs, nil
}

// docError is a problem with one document of the manifests.
type docError struct {
	Doc, Line int
	Msg       string
}

func (e *docError) Error() string {
	return fmt.Sprintf("document %d (line %d of the manifests): %s", e.Doc, e.Line, e.Msg)
}

// splitManifests decodes the rendered manifests into objects, each put in
// namespace. Empty documents are skipped.
func splitManifests(text, namespace string) ([]object, error) {
	dec := yaml.NewDecoder(strings.NewReader(text))
	var objs []object
	seen := map[string]int{}
	starts := docStarts(text)
	for doc := 1; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// yaml.v3 says "yaml: line N: ...", N counted in the whole
			// stream.
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			line := 0
			if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil {
				_, msg, _ = strings.Cut(msg, ": ")
			} else {
				line = startOf(starts, doc)
			}
			return nil, &docError{Doc: doc, Line: line, Msg: "is not valid YAML: " + msg}
		}
		if len(n.Content) == 0 || (n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null") {
			continue // an empty document (a trailing ---, a comment)
		}
		root := n.Content[0]
		line := root.Line
		if root.Kind != yaml.MappingNode {
			return nil, &docError{Doc: doc, Line: line, Msg: "is not a mapping (an object with apiVersion, kind and metadata)"}
		}
		var m map[string]any
		if err := root.Decode(&m); err != nil {
			return nil, &docError{Doc: doc, Line: line, Msg: err.Error()}
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, &docError{Doc: doc, Line: line, Msg: "cannot be read as JSON: " + err.Error()}
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			return nil, &docError{Doc: doc, Line: line, Msg: strings.TrimPrefix(err.Error(), "Object 'Kind' is missing in ")}
		}
		kind, name := u.GetKind(), u.GetName()
		switch {
		case u.GetAPIVersion() == "":
			return nil, &docError{Doc: doc, Line: line, Msg: "has no apiVersion"}
		case name == "":
			return nil, &docError{Doc: doc, Line: line, Msg: kind + " has no metadata.name"}
		case !objectNameRe.MatchString(name):
			return nil, &docError{Doc: doc, Line: line, Msg: fmt.Sprintf("%s %q: metadata.name must be lower-case letters, digits, '-' and '.'", kind, name)}
		case clusterScoped[kind]:
			return nil, &docError{Doc: doc, Line: line, Msg: fmt.Sprintf("%s is cluster-scoped: a stack's objects live in its own namespace, which Mayfly creates", kind)}
		case u.GetNamespace() != "" && u.GetNamespace() != namespace:
			return nil, &docError{Doc: doc, Line: line, Msg: fmt.Sprintf("%s/%s names namespace %q: leave metadata.namespace out (or use {{.Namespace}})", kind, name, u.GetNamespace())}
		}
		key := u.GetAPIVersion() + " " + kind + "/" + name
		if d, dup := seen[key]; dup {
			return nil, &docError{Doc: doc, Line: line, Msg: fmt.Sprintf("%s/%s is already declared by document %d", kind, name, d)}
		}
		seen[key] = doc
		u.SetNamespace(namespace)
		objs = append(objs, object{Doc: doc, Line: line, Obj: u})
	}
	if len(objs) == 0 {
		return nil, &docError{Doc: 1, Line: 1, Msg: "the manifests declare no object"}
	}
	return objs, nil
}

// docStarts are the first lines of the documents (1-based), for errors
// yaml.v3 reports without one.
func docStarts(text string) []int {
	starts := []int{1}
	for i, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "---") && i > 0 {
			starts = append(starts, i+2)
		}
	}
	return starts
}

func startOf(starts []int, doc int) int {
	if doc-1 < len(starts) {
		return starts[doc-1]
	}
	return starts[len(starts)-1]
}

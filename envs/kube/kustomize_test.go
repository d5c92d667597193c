package kube

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/envs"
)

const kustDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: "{{.Params.image}}"
`

const kustService = `apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
`

// kustShop is a base with an overlay that prefixes names, labels, patches
// the replicas and generates a ConfigMap from a file.
func kustShop() map[string]string {
	return map[string]string{
		"base/kustomization.yaml": "resources: [deployment.yaml, service.yaml]\n",
		"base/deployment.yaml":    kustDeployment,
		"base/service.yaml":       kustService,
		"kustomization.yaml": `resources: [base]
namePrefix: shop-
labels:
  - pairs: {owner: "{{.Owner}}"}
patches:
  - path: replicas.yaml
configMapGenerator:
  - name: settings
    files: [settings.env]
generatorOptions: {disableNameSuffixHash: true}
`,
		"replicas.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n",
		"settings.env":  "greeting={{.Params.greeting}}\n",
	}
}

func TestKustomizeRendersAfterTheParameters(t *testing.T) {
	data := templateData{Params: map[string]string{"image": "nginx:1.27", "greeting": "hello"},
		Namespace: "mayfly-k-1", EnvironmentID: "env-1", StackID: "env-1", Name: "k", Owner: "alice"}
	s := &Stack{Kustomize: kustShop()}
	objs, err := s.objects("missingkey=error", data)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]object{}
	for _, o := range objs {
		got[o.ref()] = o
	}
	for _, tc := range []struct {
		ref, path, want string
	}{
		{"Deployment/shop-web", "spec.replicas", "3"},
		{"Deployment/shop-web", "spec.template.spec.containers.0.image", "nginx:1.27"},
		{"Deployment/shop-web", "metadata.labels.owner", "alice"},
		{"Deployment/shop-web", "metadata.namespace", "mayfly-k-1"},
		{"Service/shop-web", "metadata.labels.owner", "alice"},
		{"Service/shop-web", "spec.selector.app", "web"},
		{"ConfigMap/shop-settings", "data.settings\\.env", "greeting=hello\n"},
	} {
		t.Run(tc.ref+" "+tc.path, func(t *testing.T) {
			o, ok := got[tc.ref]
			if !ok {
				t.Fatalf("no %s among %v", tc.ref, objs)
			}
			if v := lookup(o.Obj.Object, tc.path); v != tc.want {
				t.Errorf("%s = %q, want %q", tc.path, v, tc.want)
			}
		})
	}
	if len(objs) != 3 {
		t.Errorf("%d objects, want 3", len(objs))
	}
	// A parameter the version does not define fails, naming the file.
	_, err = (&Stack{Kustomize: kustShop()}).objects("missingkey=error", templateData{Params: map[string]string{"image": "x"}})
	var fe *fieldErr
	if !errors.As(err, &fe) || fe.Field != "kustomize.settings.env" {
		t.Errorf("without greeting: got %v, want an error on kustomize.settings.env", err)
	}
}

// lookup reads a dotted path (\. escapes a dot) of an object as text.
func lookup(m any, p string) string {
	parts := strings.Split(strings.ReplaceAll(p, "\\.", "\x00"), ".")
	for _, part := range parts {
		part = strings.ReplaceAll(part, "\x00", ".")
		switch v := m.(type) {
		case map[string]any:
			m = v[part]
		case []any:
			if part != "0" || len(v) == 0 {
				return ""
			}
			m = v[0]
		default:
			return ""
		}
	}
	switch v := m.(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func TestParseStackRefusesBadKustomizations(t *testing.T) {
	with := func(name, text string) map[string]string {
		f := kustShop()
		f[name] = text
		return f
	}
	for _, tc := range []struct {
		name  string
		stack map[string]any
		field string
		want  string
	}{
		{"both", map[string]any{"manifests": kustDeployment, "kustomize": kustShop()}, "stack.kustomize", "cannot be given with manifests"},
		{"no kustomization", map[string]any{"kustomize": map[string]string{"deployment.yaml": kustDeployment}}, "stack.kustomize",
			"has no kustomization.yaml"},
		{"not a kustomization", map[string]any{"kustomize": with("kustomization.yaml", "resources: [base]\nresourcez: [x]\n")},
			"stack.kustomize.kustomization.yaml", `unknown field "resourcez"`},
		{"not YAML", map[string]any{"kustomize": with("base/kustomization.yaml", "resources: [deployment.yaml\n")},
			"stack.kustomize.base/kustomization.yaml", "is not a valid kustomization"},
		{"remote base", map[string]any{"kustomize": with("kustomization.yaml",
			"resources: [\"https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v1.0.6\"]\n")},
			"stack.kustomize.kustomization.yaml", "remote bases and files are not supported"},
		{"git base", map[string]any{"kustomize": with("kustomization.yaml", "resources: [github.com/example/app/base]\n")},
			"stack.kustomize.kustomization.yaml", "remote bases"},
		{"remote patch", map[string]any{"kustomize": with("kustomization.yaml",
			"resources: [base]\npatches: [{path: \"http://example.com/p.yaml\"}]\n")},
			"stack.kustomize.kustomization.yaml", `patches[0].path "http://example.com/p.yaml": remote bases`},
		{"missing file", map[string]any{"kustomize": with("kustomization.yaml", "resources: [base, extra.yaml]\n")},
			"stack.kustomize.kustomization.yaml", `resources[1] "extra.yaml": is neither a file`},
		{"outside the files", map[string]any{"kustomize": with("base/kustomization.yaml", "resources: [../../etc/passwd]\n")},
			"stack.kustomize.base/kustomization.yaml", "is outside the stack's files"},
		{"generator file missing", map[string]any{"kustomize": with("kustomization.yaml",
			"resources: [base]\nsecretGenerator: [{name: s, files: [key=secret.txt]}]\n")},
			"stack.kustomize.kustomization.yaml", `secretGenerator[0] "secret.txt": is not a file`},
		{"exec plugin", map[string]any{"kustomize": with("kustomization.yaml", "resources: [base]\ngenerators: [gen.yaml]\n")},
			"stack.kustomize.kustomization.yaml", "can run plugins"},
		{"helm", map[string]any{"kustomize": with("kustomization.yaml", "helmCharts: [{name: redis, repo: https://charts.example.com}]\n")},
			"stack.kustomize.kustomization.yaml", "helmCharts are not supported"},
		{"absolute file name", map[string]any{"kustomize": with("/etc/x.yaml", "a: b\n")}, "stack.kustomize./etc/x.yaml",
			"must be a relative path"},
		{"bad template", map[string]any{"kustomize": with("base/service.yaml", "{{.Params.x")}, "stack.kustomize.base/service.yaml",
			"is not a valid Go template"},
		{"build fails", map[string]any{"kustomize": with("replicas.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nosuch}\n")},
			"stack.kustomize", "cannot be built"},
		{"cluster-scoped output", map[string]any{"kustomize": with("base/service.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")},
			"stack.kustomize", "its output: document 2"},
		{"ready not in the output", map[string]any{"kustomize": kustShop(), "ready": []string{"Deployment/web"}}, "stack.ready[0]",
			"declare no Deployment/web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.stack)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseStack(b)
			var de *envs.Error
			if !errors.As(err, &de) {
				t.Fatalf("got %T %v, want an *envs.Error", err, err)
			}
			for _, f := range de.Fields {
				if f.Field == tc.field && strings.Contains(f.Message, tc.want) {
					return
				}
			}
			t.Errorf("got %v, want field %s saying %q", de.Fields, tc.field, tc.want)
		})
	}
}

func TestParseStackAcceptsAKustomization(t *testing.T) {
	b, _ := json.Marshal(map[string]any{"kustomize": kustShop(), "ready": []string{"Deployment/shop-web"},
		"outputs": map[string]string{"url": `http://{{(index .Services "shop-web").Address}}/`}})
	if _, err := ParseStack(b); err != nil {
		t.Fatal(err)
	}
}

// The usual layout: an overlay in overlays/dev over ../../base, with the
// top kustomization pointing at the overlay.
func TestKustomizeOverlayOverAParentBase(t *testing.T) {
	s := &Stack{Kustomize: map[string]string{
		"kustomization.yaml":              "resources: [overlays/dev]\n",
		"overlays/dev/kustomization.yaml": "resources: [../../base]\nnameSuffix: -dev\n",
		"base/kustomization.yaml":         "resources: [service.yaml]\n",
		"base/service.yaml":               kustService,
	}}
	objs, err := s.objects("missingkey=error", templateData{Namespace: "mayfly-k-2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].ref() != "Service/web-dev" || objs[0].Obj.GetNamespace() != "mayfly-k-2" {
		t.Errorf("objects %v, want Service/web-dev in mayfly-k-2", objs)
	}
}

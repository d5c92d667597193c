package kube_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/kube"
)

func stackJSON(t *testing.T, s map[string]any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const deployment = `apiVersion: apps/v1
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

func TestParseStackRefusesBadManifests(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stack map[string]any
		field string
		want  string
	}{
		{"no manifests", map[string]any{}, "stack.manifests", "is required"},
		{"unknown field", map[string]any{"manifests": deployment, "replica": 2}, "stack", `unknown field "replica"`},
		{"not YAML", map[string]any{"manifests": deployment + "---\nkind: Service\nmetadata: [name\n"}, "stack.manifests",
			"document 2 (line 15 of the manifests): is not valid YAML: did not find"},
		{"no kind", map[string]any{"manifests": "apiVersion: v1\nmetadata: {name: x}\n"}, "stack.manifests", "document 1 (line 1 of the manifests)"},
		{"no name", map[string]any{"manifests": deployment + "---\napiVersion: v1\nkind: Service\nmetadata: {}\n"}, "stack.manifests",
			"document 2 (line 15 of the manifests): Service has no metadata.name"},
		{"a namespace", map[string]any{"manifests": "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"}, "stack.manifests",
			"Namespace is cluster-scoped"},
		{"another namespace", map[string]any{"manifests": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: prod}\n"},
			"stack.manifests", `names namespace "prod"`},
		{"a scalar document", map[string]any{"manifests": "just text\n"}, "stack.manifests", "is not a mapping"},
		{"twice the same object", map[string]any{"manifests": deployment + "---\n" + deployment}, "stack.manifests",
			"Deployment/web is already declared by document 1"},
		{"bad template", map[string]any{"manifests": "{{.Params.x"}, "stack.manifests", "is not a valid Go template"},
		{"bad quota", map[string]any{"manifests": deployment, "quota": map[string]any{"pods": "ten"}}, "stack.quota.pods", "is not a quantity"},
		{"bad limit", map[string]any{"manifests": deployment, "limits": map[string]any{"default": map[string]any{"cpu": "lots"}}},
			"stack.limits.default.cpu", "is not a quantity"},
		{"ready not declared", map[string]any{"manifests": deployment, "ready": []string{"StatefulSet/db"}}, "stack.ready[0]",
			"declare no StatefulSet/db"},
		{"ready not a workload", map[string]any{"manifests": deployment, "ready": []string{"Service/web"}}, "stack.ready[0]",
			"is not Deployment/NAME"},
		{"bad output", map[string]any{"manifests": deployment, "outputs": map[string]any{"url": "{{.Services.web"}}, "stack.outputs.url",
			"is not a valid Go template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kube.ParseStack(stackJSON(t, tc.stack))
			if err == nil {
				t.Fatal("accepted")
			}
			var de *envs.Error
			if !asError(err, &de) {
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

func TestParseStackAcceptsASample(t *testing.T) {
	_, err := kube.ParseStack(stackJSON(t, map[string]any{
		"manifests":    deployment + "---\n# a comment only\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: \"{{.Namespace}}\"}\nspec: {ports: [{port: 80}]}\n---\n",
		"quota":        map[string]any{"pods": "10", "requests.cpu": "2"},
		"limits":       map[string]any{"default": map[string]any{"cpu": "500m", "memory": "256Mi"}},
		"default_deny": true,
		"ready":        []string{"Deployment/web"},
		"outputs":      map[string]any{"url": "http://{{.Services.web.Address}}/"},
	}))
	if err != nil {
		t.Fatal(err)
	}
}

package kube_test

import (
	"io/fs"
	"testing"

	"github.com/mayflyhq/mayfly/catalog"
	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/kube"
)

// The Kubernetes samples must publish: the spec parses and the stack
// passes the provider's checks.
func TestSampleCatalogTemplates(t *testing.T) {
	names, err := fs.Glob(catalog.FS, "kube/*.yaml")
	if err != nil || len(names) == 0 {
		t.Fatalf("no Kubernetes samples: %v", err)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			src, err := fs.ReadFile(catalog.FS, name)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := envs.ParseSpec(src)
			if err != nil {
				t.Fatalf("ParseSpec: %v", err)
			}
			if spec.Provider != kube.Name {
				t.Errorf("provider %q", spec.Provider)
			}
			if _, err := kube.ParseStack(spec.Stack); err != nil {
				t.Fatalf("ParseStack: %v", err)
			}
		})
	}
}

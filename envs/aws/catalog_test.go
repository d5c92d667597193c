package aws_test

import (
	"io/fs"
	"testing"

	"github.com/mayflyhq/mayfly/catalog"
	"github.com/mayflyhq/mayfly/envs"
	mfaws "github.com/mayflyhq/mayfly/envs/aws"
)

// The AWS samples must publish: the spec parses and the stack passes the
// provider's checks.
func TestSampleCatalogTemplates(t *testing.T) {
	names, err := fs.Glob(catalog.FS, "aws/*.yaml")
	if err != nil || len(names) == 0 {
		t.Fatalf("no AWS samples: %v", err)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			src, err := fs.ReadFile(catalog.FS, name)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := envs.ParseSpec(src)
			if err != nil {
				t.Fatalf("ParseSpec: %v %s", err, fieldsOf(err))
			}
			if spec.Provider != mfaws.Name {
				t.Errorf("provider %q", spec.Provider)
			}
			if _, _, err := mfaws.ParseStack(spec.Stack); err != nil {
				t.Fatalf("ParseStack: %v %s", err, fieldsOf(err))
			}
		})
	}
}

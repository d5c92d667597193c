package kube

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kustomizeRoot is where a stack's kustomize files are put in the
// in-memory filesystem; errors are reported without it.
const kustomizeRoot = "/stack"

// kustomizationNames are the file names kustomize reads as a
// kustomization in a directory.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// fieldErr is a problem with one field of the stack, relative to
// "stack.".
type fieldErr struct{ Field, Msg string }

func (e *fieldErr) Error() string { return e.Field + ": " + e.Msg }

// kustomizeFiles renders each file as a Go template over data, checks the
// kustomizations refer only to files of the set (no remote base, URL, or
// plugin), and builds the root kustomization in memory. It returns the
// resulting YAML documents.
func kustomizeFiles(files map[string]string, missing string, data any) (string, error) {
	rendered := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		field := "kustomize." + name
		clean := path.Clean(name)
		if name == "" || path.IsAbs(name) || clean != name || clean == ".." || strings.HasPrefix(clean, "../") {
			return "", &fieldErr{field, "must be a relative path such as base/deployment.yaml, without . or .. parts"}
		}
		text, err := render(field, files[name], missing, data)
		if err != nil {
			return "", &fieldErr{field, err.Error()}
		}
		rendered[name] = text
	}
	if kustomizationIn(rendered, ".") == "" {
		return "", &fieldErr{"kustomize", "has no kustomization.yaml at its top"}
	}
	for _, name := range slices.Sorted(maps.Keys(rendered)) {
		if !slices.Contains(kustomizationNames, path.Base(name)) {
			continue
		}
		if err := checkKustomization(rendered, name); err != nil {
			return "", &fieldErr{"kustomize." + name, err.Error()}
		}
	}
	fs := filesys.MakeFsInMemory()
	for name, text := range rendered {
		p := path.Join(kustomizeRoot, name)
		if err := fs.MkdirAll(path.Dir(p)); err != nil {
			return "", &fieldErr{"kustomize." + name, err.Error()}
		}
		if err := fs.WriteFile(p, []byte(text)); err != nil {
			return "", &fieldErr{"kustomize." + name, err.Error()}
		}
	}
	opts := krusty.MakeDefaultOptions() // root-only loading, plugins disabled
	opts.PluginConfig = types.DisabledPluginConfig()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	m, err := krusty.MakeKustomizer(opts).Run(fs, kustomizeRoot)
	if err != nil {
		return "", &fieldErr{"kustomize", "cannot be built: " + strings.ReplaceAll(err.Error(), kustomizeRoot+"/", "")}
	}
	out, err := m.AsYaml()
	if err != nil {
		return "", &fieldErr{"kustomize", "cannot be written as YAML: " + err.Error()}
	}
	return string(out), nil
}

// kustomizationIn is the kustomization file of dir in files, or "".
func kustomizationIn(files map[string]string, dir string) string {
	for _, n := range kustomizationNames {
		if _, ok := files[path.Join(dir, n)]; ok {
			return path.Join(dir, n)
		}
	}
	return ""
}

// checkKustomization refuses what would reach outside the file set: a
// remote base or file (a URL, a git repository), a path that is not one of
// the files, Helm charts (an exec of helm) and plugins.
func checkKustomization(files map[string]string, name string) error {
	var k types.Kustomization
	if err := k.Unmarshal([]byte(files[name])); err != nil {
		return fmt.Errorf("is not a valid kustomization: %s", strings.TrimPrefix(err.Error(), "invalid Kustomization: "))
	}
	if len(k.HelmCharts) > 0 || k.HelmGlobals != nil || len(k.HelmChartInflationGenerator) > 0 {
		return fmt.Errorf("helmCharts are not supported: rendering them runs helm and fetches charts")
	}
	for _, g := range [][]string{k.Generators, k.Transformers, k.Validators} {
		if len(g) > 0 {
			return fmt.Errorf("generators, transformers and validators are not supported: they can run plugins")
		}
	}
	dir := path.Dir(name)
	// Entries that may be a file or a directory with a kustomization.
	//lint:ignore SA1019 kustomizations still written with the deprecated fields are checked too
	for field, list := range map[string][]string{"resources": k.Resources, "components": k.Components, "bases": k.Bases} {
		for i, e := range list {
			if err := checkRef(files, dir, e, true); err != nil {
				return fmt.Errorf("%s[%d] %q: %s", field, i, e, err)
			}
		}
	}
	// Entries that are files.
	refs := map[string][]string{"crds": k.Crds, "configurations": k.Configurations}
	//lint:ignore SA1019 kustomizations still written with the deprecated fields are checked too
	for i, p := range k.PatchesStrategicMerge {
		if s := string(p); !strings.Contains(s, "\n") { // else an inline patch
			refs[fmt.Sprintf("patchesStrategicMerge[%d]", i)] = []string{s}
		}
	}
	//lint:ignore SA1019 kustomizations still written with the deprecated fields are checked too
	for i, p := range append(slices.Clone(k.Patches), k.PatchesJson6902...) {
		if p.Path != "" {
			refs[fmt.Sprintf("patches[%d].path", i)] = []string{p.Path}
		}
	}
	for i, r := range k.Replacements {
		if r.Path != "" {
			refs[fmt.Sprintf("replacements[%d].path", i)] = []string{r.Path}
		}
	}
	kv := func(field string, s types.KvPairSources) {
		var l []string
		for _, f := range s.FileSources {
			if _, p, ok := strings.Cut(f, "="); ok {
				f = p
			}
			l = append(l, f)
		}
		l = append(l, s.EnvSources...)
		if s.EnvSource != "" {
			l = append(l, s.EnvSource)
		}
		refs[field] = l
	}
	for i, g := range k.ConfigMapGenerator {
		kv(fmt.Sprintf("configMapGenerator[%d]", i), g.KvPairSources)
	}
	for i, g := range k.SecretGenerator {
		kv(fmt.Sprintf("secretGenerator[%d]", i), g.KvPairSources)
	}
	if p := k.OpenAPI["path"]; p != "" {
		refs["openapi.path"] = []string{p}
	}
	for _, field := range slices.Sorted(maps.Keys(refs)) {
		for _, e := range refs[field] {
			if err := checkRef(files, dir, e, false); err != nil {
				return fmt.Errorf("%s %q: %s", field, e, err)
			}
		}
	}
	return nil
}

// checkRef checks that e, relative to dir, names a file of the set (or,
// with dirOK, a directory of the set holding a kustomization).
func checkRef(files map[string]string, dir, e string, dirOK bool) error {
	if strings.Contains(e, "://") || strings.HasPrefix(e, "git@") || strings.HasPrefix(e, "github.com/") {
		return fmt.Errorf("remote bases and files are not supported: every file must be in the stack")
	}
	if path.IsAbs(e) {
		return fmt.Errorf("must be a path relative to the kustomization")
	}
	p := path.Join(dir, e)
	if p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("is outside the stack's files")
	}
	if _, ok := files[p]; ok {
		return nil
	}
	if dirOK && kustomizationIn(files, p) != "" {
		return nil
	}
	if dirOK {
		return fmt.Errorf("is neither a file of the stack nor a directory with a kustomization.yaml")
	}
	return fmt.Errorf("is not a file of the stack")
}

package tofu

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/mayflyhq/mayfly/envs"
)

// Bounds of a module directory inlined at publish (a template is at most
// 1 MiB; a module is configuration, not data).
const (
	maxModuleFiles = 200
	maxModuleBytes = 4 << 20
)

// ResolveStack inlines a `module:` directory of the catalog (Config.Modules)
// into the stack's files at publish, so the version holds the
// configuration itself.
func (p *Provider) ResolveStack(raw json.RawMessage) (json.RawMessage, error) {
	var st struct {
		Module string            `json:"module"`
		Files  map[string]string `json:"files"`
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.Module == "" {
		return raw, nil // ParseStack says what is wrong with it
	}
	field := envs.FieldError{Field: "stack.module"}
	switch {
	case len(st.Files) > 0:
		field.Message = "a stack has files or a module, not both"
		return nil, envs.Invalid("invalid stack", field)
	case p.cfg.Modules == nil:
		field.Message = "module directories come from the catalog directory, and this server has none (--catalog-dir)"
		return nil, envs.Invalid("invalid stack", field)
	}
	dir := strings.Trim(path.Clean(st.Module), "/")
	if !fs.ValidPath(dir) || dir == "." {
		field.Message = fmt.Sprintf("%q must be a directory of the catalog, relative to it", st.Module)
		return nil, envs.Invalid("invalid stack", field)
	}
	files := map[string]string{}
	total := 0
	err := fs.WalkDir(p.cfg.Modules, dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(name, dir), "/")
		switch {
		case d.IsDir() && (strings.HasPrefix(d.Name(), ".") && name != dir):
			return fs.SkipDir // .terraform and the like
		case d.IsDir():
			return nil
		case !d.Type().IsRegular() || strings.HasPrefix(d.Name(), "."):
			return nil // a symlink could lead out of the catalog
		}
		b, err := fs.ReadFile(p.cfg.Modules, name)
		if err != nil {
			return err
		}
		if total += len(b); total > maxModuleBytes || len(files) >= maxModuleFiles {
			return fmt.Errorf("more than %d files or %d MiB", maxModuleFiles, maxModuleBytes>>20)
		}
		files[rel] = string(b)
		return nil
	})
	if err != nil {
		field.Message = fmt.Sprintf("module directory %q: %v", st.Module, err)
		return nil, envs.Invalid("invalid stack", field)
	}
	return json.Marshal(Stack{Files: files})
}

package tofu

import (
	"bufio"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/mayflyhq/mayfly/envs"
)

// Stack is a tofu template version's stack body: an OpenTofu/Terraform
// root module given file by file. Parameters become its variables
// (TF_VAR_<name>); its non-sensitive outputs become the environment's.
type Stack struct {
	// Files maps a file name (relative, "/" allowed for sub-modules) to
	// its content.
	Files map[string]string `json:"files"`
	// Module names a directory of the catalog instead; publishing inlines
	// its files (see ResolveStack), so a stored version never has one.
	Module string `json:"module,omitempty"`
}

// backendFile is the file Mayfly adds to every configuration: the http
// backend whose address and credential come from the environment.
const backendFile = "mayfly_backend.tf"

var (
	fileNamePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$`)
	// A configuration must not choose its own state storage: the state is
	// Mayfly's (backend "http", served by Mayfly), and a cloud block or
	// another backend would put it elsewhere.
	backendPattern = regexp.MustCompile(`^\s*(backend\s+"|cloud\s*\{)`)
)

// ParseStack decodes and checks a stack body, naming the field (and the
// file's line) at fault.
func ParseStack(raw json.RawMessage) (*Stack, error) {
	var st Stack
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, envs.Invalid("invalid stack", envs.FieldError{Field: "stack", Message: "must be a mapping with files (a map of file name to content): " + err.Error()})
	}
	var errs []envs.FieldError
	switch {
	case st.Module != "":
		errs = append(errs, envs.FieldError{Field: "stack.module", Message: "is resolved at publish from the catalog directory; this stack was not"})
	case len(st.Files) == 0:
		errs = append(errs, envs.FieldError{Field: "stack.files", Message: "is required: the configuration's files, such as main.tf (or module: a directory of the catalog)"})
	}
	tf := 0
	for _, name := range sortedNames(st.Files) {
		field := fmt.Sprintf("stack.files[%s]", name)
		switch {
		case !fileNamePattern.MatchString(name) || strings.Contains(name, ".."):
			errs = append(errs, envs.FieldError{Field: field, Message: "must be a relative file name of letters, digits, '.', '-', '_' and '/' (no '..')"})
			continue
		case path.Base(name) == backendFile || strings.HasPrefix(name, ".terraform") || strings.HasPrefix(name, ".mayfly"):
			errs = append(errs, envs.FieldError{Field: field, Message: "is a name Mayfly keeps for itself"})
			continue
		case strings.HasSuffix(name, ".tfstate") || strings.HasSuffix(name, ".tfstate.backup"):
			errs = append(errs, envs.FieldError{Field: field, Message: "a state file cannot be part of a configuration: the state is kept by Mayfly"})
			continue
		}
		if !strings.Contains(name, "/") && (strings.HasSuffix(name, ".tf") || strings.HasSuffix(name, ".tf.json")) {
			tf++
		}
		if strings.HasSuffix(name, ".tf") {
			sc := bufio.NewScanner(strings.NewReader(st.Files[name]))
			sc.Buffer(nil, 1<<20)
			for line := 1; sc.Scan(); line++ {
				if backendPattern.MatchString(sc.Text()) {
					errs = append(errs, envs.FieldError{Field: field, Message: fmt.Sprintf("line %d: declares its own state storage (a backend or cloud block); remove it: Mayfly keeps the state", line)})
				}
			}
		}
	}
	if len(st.Files) > 0 && tf == 0 && len(errs) == 0 {
		errs = append(errs, envs.FieldError{Field: "stack.files", Message: "has no .tf or .tf.json file at its top level"})
	}
	if len(errs) > 0 {
		return nil, envs.Invalid("invalid stack", errs...)
	}
	return &st, nil
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

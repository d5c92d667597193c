package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/tmpl"
)

// stackSpec is the `stack:` body of a template version that uses the local
// provider. Durations stay strings here so that validation can name the
// field of a bad one; the rendered plan holds parsed values.
type stackSpec struct {
	Restore  *restoreSpec  `json:"restore"`
	Setup    []commandSpec `json:"setup"`
	Services []serviceSpec `json:"services"`
	Verify   []commandSpec `json:"verify"`
	// Drift declares what a drift check compares besides the services'
	// processes and ports (see drift.go).
	Drift *driftSpec `json:"drift"`
}

type restoreSpec struct {
	// Snapshot is the dataset whose latest snapshot is restored.
	Snapshot string `json:"snapshot"`
	// Into is a directory relative to the work directory.
	Into string `json:"into"`
}

// commandSpec is one setup or verify command.
type commandSpec struct {
	// Name labels the command in events and errors (optional; derived from
	// the command line when empty).
	Name    string            `json:"name"`
	Command []string          `json:"command"`
	Timeout string            `json:"timeout"`
	Env     map[string]string `json:"env"`
}

type serviceSpec struct {
	Name    string            `json:"name"`
	Command []string          `json:"command"`
	Env     map[string]string `json:"env"`
	Health  *healthSpec       `json:"health"`
	Outputs map[string]string `json:"outputs"`
}

type healthSpec struct {
	Path     string `json:"path"`
	Interval string `json:"interval"`
	Timeout  string `json:"timeout"`
}

const (
	defaultCommandTimeout = 60 * time.Second
	defaultHealthInterval = 500 * time.Millisecond
	defaultHealthTimeout  = 60 * time.Second
)

var (
	// handlePattern keeps a handle usable as one path element: no "/", no
	// "..", nothing that could escape Root or LogsDir.
	handlePattern      = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	datasetPattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	serviceNamePattern = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	envNamePattern     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	outputNamePattern  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
	goTypeSuffix       = regexp.MustCompile(` in type local\.\w+`)
)

// reservedLogNames are log streams the provider writes itself, so no service
// may take their name.
var reservedLogNames = []string{setupLog, verifyLog}

// reservedDirs are top-level names in a work directory that belong to the
// provider; a restore must not land on them.
var reservedDirs = []string{logsDirName, stateFile}

// parseStack decodes and validates a stack body. Every problem found is
// reported as an envs.FieldError naming the field, e.g.
// "stack.services[0].health.path".
func parseStack(raw json.RawMessage) (*stackSpec, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, envs.Invalid("invalid stack", envs.FieldError{Field: "stack", Message: "is required"})
	}

	// First pass on a generic value, so an unknown field or a wrong type is
	// reported with its full path (encoding/json only names the Go field).
	var generic any
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return nil, envs.Invalid("invalid stack", envs.FieldError{Field: "stack", Message: "is not valid JSON: " + err.Error()})
	}
	var v validator
	v.shape(generic, reflect.TypeFor[stackSpec](), "stack")
	if err := v.err(); err != nil {
		return nil, err
	}

	var spec stackSpec
	dec = json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		// The shape check above should have caught it; keep the safety net.
		return nil, envs.Invalid("invalid stack", envs.FieldError{Field: "stack", Message: err.Error()})
	}
	v.stack(&spec)
	if err := v.err(); err != nil {
		return nil, err
	}
	return &spec, nil
}

// validator collects field errors.
type validator struct {
	errs []envs.FieldError
	// sample is what templates are tried against at publish time, so a
	// typo such as {{.Prot}} fails then rather than at launch.
	sample templateData
	// budget bounds the work of trying every template of the stack.
	budget *tmpl.Budget
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, envs.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return envs.Invalid("invalid stack", v.errs...)
}

// shape checks a decoded JSON value against the Go type it will be decoded
// into: unknown fields and wrong types, with their paths. JSON null is
// accepted anywhere and means "absent".
func (v *validator) shape(value any, t reflect.Type, path string) {
	if value == nil {
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		v.shape(value, t.Elem(), path)
	case reflect.String:
		if _, ok := value.(string); !ok {
			v.add(path, "must be a string")
		}
	case reflect.Slice:
		list, ok := value.([]any)
		if !ok {
			v.add(path, "must be a list")
			return
		}
		for i, item := range list {
			v.shape(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		m, ok := value.(map[string]any)
		if !ok {
			v.add(path, "must be a mapping")
			return
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			v.shape(m[k], t.Elem(), path+"."+k)
		}
	case reflect.Struct:
		m, ok := value.(map[string]any)
		if !ok {
			v.add(path, "must be a mapping")
			return
		}
		fields := make(map[string]reflect.Type, t.NumField())
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			fields[name] = f.Type
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ft, known := fields[k]
			if !known {
				v.add(path+"."+k, "unknown field")
				continue
			}
			v.shape(m[k], ft, path+"."+k)
		}
	}
}

func (v *validator) stack(s *stackSpec) {
	v.sample = templateData{
		Mayfly:        "/usr/bin/mayfly",
		Dir:           "/stacks/env",
		Port:          1,
		Ports:         map[string]int{},
		Params:        map[string]string{},
		EnvironmentID: "env",
		Name:          "env",
		Snapshot:      snapshotData{Dir: "/stacks/env/data", Manifest: "/stacks/env/data/manifest.json", TakenAt: "2006-01-02T15:04:05Z"},
	}
	for _, svc := range s.Services {
		v.sample.Ports[svc.Name] = 1
	}
	if s.Restore != nil {
		v.restore(s.Restore, "stack.restore")
	}
	for i, c := range s.Setup {
		v.command(c, fmt.Sprintf("stack.setup[%d]", i))
	}
	if len(s.Services) == 0 {
		v.add("stack.services", "at least one service is required")
	}
	names := map[string]bool{}
	outputs := map[string]string{} // output name -> field that declared it first
	for i, svc := range s.Services {
		field := fmt.Sprintf("stack.services[%d]", i)
		switch {
		case svc.Name == "":
			v.add(field+".name", "is required")
		case len(svc.Name) > 63 || !serviceNamePattern.MatchString(svc.Name):
			v.add(field+".name", "must match %s (at most 63 characters)", serviceNamePattern)
		case slices.Contains(reservedLogNames, svc.Name):
			v.add(field+".name", "%q is reserved for the provider's own logs", svc.Name)
		case names[svc.Name]:
			v.add(field+".name", "duplicate service name %q", svc.Name)
		}
		names[svc.Name] = true
		v.argv(svc.Command, field+".command")
		v.env(svc.Env, field+".env")
		if h := svc.Health; h != nil {
			if !strings.HasPrefix(h.Path, "/") {
				v.add(field+".health.path", "must start with \"/\"")
			}
			v.duration(h.Interval, field+".health.interval")
			v.duration(h.Timeout, field+".health.timeout")
		}
		for _, name := range slices.Sorted(maps.Keys(svc.Outputs)) {
			ofield := field + ".outputs." + name
			if !outputNamePattern.MatchString(name) {
				v.add(ofield, "output name must match %s", outputNamePattern)
			}
			if first, dup := outputs[name]; dup {
				v.add(ofield, "output %q is already declared by %s", name, first)
			} else {
				outputs[name] = ofield
			}
			v.template(svc.Outputs[name], ofield)
		}
	}
	for i, c := range s.Verify {
		v.command(c, fmt.Sprintf("stack.verify[%d]", i))
	}
	if s.Drift != nil {
		v.driftFiles(s.Drift.Files, "stack.drift.files")
	}
}

func (v *validator) restore(r *restoreSpec, field string) {
	switch {
	case r.Snapshot == "":
		v.add(field+".snapshot", "is required")
	case !datasetPattern.MatchString(r.Snapshot):
		v.add(field+".snapshot", "must match %s", datasetPattern)
	}
	if msg := checkInto(r.Into); msg != "" {
		v.add(field+".into", "%s", msg)
	}
}

// checkInto returns why a restore target is unacceptable, or "".
func checkInto(into string) string {
	if into == "" {
		return "is required"
	}
	if filepath.IsAbs(into) || strings.HasPrefix(into, "/") {
		return "must be a relative path inside the work directory"
	}
	parts := strings.Split(filepath.ToSlash(into), "/")
	if slices.Contains(parts, "..") {
		return "must not contain \"..\""
	}
	clean := filepath.Clean(into)
	if clean == "." {
		return "must name a directory inside the work directory"
	}
	if first, _, _ := strings.Cut(filepath.ToSlash(clean), "/"); slices.Contains(reservedDirs, first) {
		return fmt.Sprintf("%q is reserved for the provider", first)
	}
	return ""
}

func (v *validator) command(c commandSpec, field string) {
	v.argv(c.Command, field+".command")
	v.duration(c.Timeout, field+".timeout")
	v.env(c.Env, field+".env")
}

func (v *validator) argv(argv []string, field string) {
	if len(argv) == 0 {
		v.add(field, "is required")
		return
	}
	if strings.TrimSpace(argv[0]) == "" {
		v.add(field+"[0]", "must name a program")
	}
	for i, arg := range argv {
		v.template(arg, fmt.Sprintf("%s[%d]", field, i))
	}
}

func (v *validator) env(env map[string]string, field string) {
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if !envNamePattern.MatchString(k) {
			v.add(field+"."+k, "variable name must match %s", envNamePattern)
		}
		v.template(env[k], field+"."+k)
	}
}

// duration checks an optional duration; empty means the default.
func (v *validator) duration(s, field string) {
	if s == "" {
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		v.add(field, "must be a duration such as \"30s\" or \"2m\"")
		return
	}
	if d <= 0 {
		v.add(field, "must be greater than zero")
	}
}

func (v *validator) template(text, field string) {
	t, err := parseTemplate(field, text)
	if err != nil {
		v.add(field, "%s", templateMessage(field, err))
		return
	}
	if v.budget == nil {
		v.budget = tmpl.NewBudget(tmpl.DefaultLimits)
	}
	if v.budget.Spent() {
		return // reported at the field that spent it
	}
	// Parameters are only known at launch: a missing one is not an error
	// here (render reports it then).
	if _, err := t.Execute(v.budget, v.sample); err != nil && !strings.Contains(err.Error(), "<.Params.") {
		v.add(field, "%s", templateMessage(field, err))
	}
}

// parseDuration returns s as a duration, or def when s is empty. s has been
// validated by parseStack.
func parseDuration(s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return def
	}
	return d
}

// templateData is what every template string of a stack sees.
type templateData struct {
	Mayfly        string
	Dir           string
	Port          int
	Ports         map[string]int
	Params        map[string]string
	EnvironmentID string
	// StackID is the stack's own id: the environment's for its first
	// stack, another for a replace's (see envs.ProvisionRequest.StackID).
	StackID  string
	Name     string
	Snapshot snapshotData
}

type snapshotData struct {
	Dir      string
	Manifest string
	TakenAt  string
}

// parseTemplate parses a template string of the stack with the brakes of
// envs/tmpl in place: a rendering (every string of the stack, at publish
// and at launch) is bounded in loops, time and size.
func parseTemplate(name, text string) (*tmpl.Template, error) {
	// missingkey=error: a parameter the version does not define fails
	// loudly instead of rendering "<no value>" into a command line.
	return tmpl.Parse(name, text, "missingkey=error")
}

// templateMessage strips text/template's "template: NAME:" noise, since the
// field error already names the field.
func templateMessage(name string, err error) string {
	if le, ok := tmpl.AsLimit(err); ok {
		return le.Error()
	}
	msg := strings.TrimPrefix(err.Error(), "template: "+name+":")
	if i := strings.Index(msg, `executing "`+name+`" at `); i >= 0 {
		msg = msg[i+len(`executing "`+name+`" at `):]
		// "can't evaluate field X in type local.templateData": the Go type
		// means nothing to a template author.
		return goTypeSuffix.ReplaceAllString(msg, "")
	}
	return "invalid template: line " + msg
}

// plan is a stack with every template rendered: what Provision runs.
type plan struct {
	setup    []runCommand
	services []serviceRun
	outputs  map[string]string
	verify   []runCommand
}

// runCommand is a rendered setup or verify command. Verify commands are kept
// in stack.json, so Status can run them after a portal restart.
type runCommand struct {
	Label   string   `json:"label"`
	Args    []string `json:"args"`
	Env     []string `json:"env"`
	Timeout duration `json:"timeout"`
}

type serviceRun struct {
	name string
	port int
	args []string
	env  []string
}

// renderer renders template strings and collects the errors.
type renderer struct {
	data    templateData
	baseEnv []string
	errs    []envs.FieldError
	// budget bounds the rendering of the whole stack.
	budget *tmpl.Budget
}

func (r *renderer) text(field, text string, port int) string {
	if r.budget.Spent() {
		return "" // reported at the field that spent it
	}
	t, err := parseTemplate(field, text)
	if err == nil {
		data := r.data
		data.Port = port
		var s string
		if s, err = t.Execute(r.budget, data); err == nil {
			return s
		}
	}
	r.errs = append(r.errs, envs.FieldError{Field: field, Message: templateMessage(field, err)})
	return ""
}

func (r *renderer) argv(field string, argv []string, port int) []string {
	out := make([]string, len(argv))
	for i, arg := range argv {
		out[i] = r.text(fmt.Sprintf("%s[%d]", field, i), arg, port)
	}
	if len(out) > 0 && out[0] == "" && !r.budget.Spent() {
		r.errs = append(r.errs, envs.FieldError{Field: field + "[0]", Message: "renders to an empty program name"})
	}
	return out
}

// environ builds a process environment. The portal's own environment is not
// inherited wholesale (it may hold database URLs and keys): only baseEnv,
// Mayfly's variables and what the stack declares.
func (r *renderer) environ(field string, declared map[string]string, port int) []string {
	env := map[string]string{}
	for _, kv := range r.baseEnv {
		k, val, _ := strings.Cut(kv, "=")
		env[k] = val
	}
	env["MAYFLY_ENVIRONMENT_ID"] = r.data.EnvironmentID
	env["MAYFLY_STACK_ID"] = cmpOr(r.data.StackID, r.data.EnvironmentID)
	// Each stack has a temporary directory of its own, in its work dir
	// (the sandbox may not grant /tmp).
	env["TMPDIR"] = filepath.Join(r.data.Dir, tmpDirName)
	if port > 0 {
		env["MAYFLY_PORT"] = strconv.Itoa(port)
	}
	for name, val := range r.data.Params {
		env["MAYFLY_PARAM_"+paramEnvName(name)] = val
	}
	for _, k := range slices.Sorted(maps.Keys(declared)) {
		env[k] = r.text(field+"."+k, declared[k], port)
	}
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

func (r *renderer) command(c commandSpec, field string) runCommand {
	args := r.argv(field+".command", c.Command, 0)
	return runCommand{
		Label:   commandLabel(c.Name, args),
		Args:    args,
		Env:     r.environ(field+".env", c.Env, 0),
		Timeout: duration(parseDuration(c.Timeout, defaultCommandTimeout)),
	}
}

// render turns a validated spec into a plan. Template errors (a parameter
// the version does not define, say) come back as envs.FieldErrors.
func render(spec *stackSpec, data templateData, baseEnv []string) (*plan, error) {
	r := &renderer{data: data, baseEnv: baseEnv, budget: tmpl.NewBudget(tmpl.DefaultLimits)}
	pl := &plan{outputs: map[string]string{}}
	for i, c := range spec.Setup {
		pl.setup = append(pl.setup, r.command(c, fmt.Sprintf("stack.setup[%d]", i)))
	}
	for i, svc := range spec.Services {
		field := fmt.Sprintf("stack.services[%d]", i)
		port := data.Ports[svc.Name]
		pl.services = append(pl.services, serviceRun{
			name: svc.Name,
			port: port,
			args: r.argv(field+".command", svc.Command, port),
			env:  r.environ(field+".env", svc.Env, port),
		})
		for _, name := range slices.Sorted(maps.Keys(svc.Outputs)) {
			pl.outputs[name] = r.text(field+".outputs."+name, svc.Outputs[name], port)
		}
	}
	for i, c := range spec.Verify {
		pl.verify = append(pl.verify, r.command(c, fmt.Sprintf("stack.verify[%d]", i)))
	}
	if len(r.errs) > 0 {
		return nil, envs.Invalid("cannot render stack", r.errs...)
	}
	return pl, nil
}

// paramEnvName turns a parameter name into the tail of MAYFLY_PARAM_<NAME>.
func paramEnvName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		default:
			return '_'
		}
	}, name)
}

// commandLabel names a command in events and errors: its declared name, or
// the program's base name followed by its leading subcommand words, e.g.
// "mayfly sample-app seed" for [/usr/bin/mayfly sample-app seed --db x].
func commandLabel(name string, args []string) string {
	if name != "" {
		return name
	}
	if len(args) == 0 {
		return "command"
	}
	words := []string{filepath.Base(args[0])}
	for _, arg := range args[1:] {
		if len(words) == 3 || arg == "" || strings.HasPrefix(arg, "-") || strings.ContainsAny(arg, "/=.: \t") {
			break
		}
		words = append(words, arg)
	}
	return strings.Join(words, " ")
}

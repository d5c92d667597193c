package envs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Kind is what an environment is for.
type Kind string

const (
	KindReplica Kind = "replica"
	KindDemo    Kind = "demo"
	KindDR      Kind = "dr"
)

// MaxTemplateSize bounds a template document (bytes), and each part of it
// that is stored apart (the stack and the parameters, as JSON).
const MaxTemplateSize = 1 << 20

// MaxExpandedSize bounds a template document with its YAML aliases
// expanded: anchors and aliases save typing, but a small document of
// aliases to aliases would otherwise be stored (and decoded, and shown)
// many times its size.
const MaxExpandedSize = 4 * MaxTemplateSize

// Spec is a parsed, validated template version document (template.yaml).
type Spec struct {
	Name        string          `json:"name"`
	Version     string          `json:"version"`
	Kind        Kind            `json:"kind"`
	Description string          `json:"description"`
	Owner       string          `json:"owner"`
	Provider    string          `json:"provider"`
	TTL         TTLPolicy       `json:"ttl"`
	Parameters  []Param         `json:"parameters"`
	Stack       json.RawMessage `json:"stack"`
	// Teams limits who may launch the template (empty: everyone). omitempty
	// keeps the digests of versions published before the field existed.
	Teams []string `json:"teams,omitempty"`
	// Drift is how the stacks of its environments are checked for drift
	// (nil: the defaults, see DriftPolicy); omitempty keeps older digests.
	Drift *DriftPolicy `json:"drift,omitempty"`
	// OnFailure says what happens to the stack of a failed launch (nil:
	// it is cleaned up at once); omitempty keeps older digests likewise.
	OnFailure *FailurePolicy `json:"on_failure,omitempty"`
	// Rollback says how long the stack a replace to this version took out
	// of service is kept for an instant rollback (nil: the server's
	// --rollback-grace); omitempty keeps older digests likewise.
	Rollback *RollbackPolicy `json:"rollback,omitempty"`
	// Inactivity destroys its environments once unused that long (nil:
	// never for inactivity); omitempty keeps older digests likewise.
	Inactivity *InactivityPolicy `json:"inactivity,omitempty"`
	// Cost is the estimate of what an environment costs an hour (nil:
	// none declared); omitempty keeps older digests likewise.
	Cost *CostPolicy `json:"cost,omitempty"`
	// ExpiryWarnings are when owners are warned before expiry (nil: the
	// defaults, see WarningLeads); omitempty keeps older digests likewise.
	ExpiryWarnings *ExpiryWarnings `json:"expiry_warnings,omitempty"`
}

// RollbackPolicy is a template's rollback: Grace keeps the old stack of a
// replace that long on standby (0: destroyed at once), bounded by the
// environment's expiry.
type RollbackPolicy struct {
	Grace time.Duration `json:"grace"`
}

// FailurePolicy is a template's on_failure: KeepStack keeps a failed
// launch's stack (processes, work directory, cloud stack) that long for
// debugging before it is cleaned up; the environment stays failed either
// way. Bounded by ttl.max, and by the environment's expiry.
type FailurePolicy struct {
	KeepStack time.Duration `json:"keep_stack"`
}

// TTLPolicy bounds how long an environment may live.
type TTLPolicy struct {
	Default time.Duration `json:"default"`
	Max     time.Duration `json:"max"`
}

// Digest is the content digest of the spec: a SHA-256 over its canonical
// JSON, so comments and formatting in the YAML do not change it.
func (s *Spec) Digest() string {
	b, _ := json.Marshal(s) // a Spec always marshals: plain fields and valid JSON
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

var (
	templateNameRe = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)
	paramNameRe    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	semverRe       = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$`)
)

// Semver is a parsed semantic version.
type Semver struct {
	Major, Minor, Patch int
	Prerelease          string
}

// ParseSemver parses "1.2.3" or "1.2.3-rc.1".
func ParseSemver(s string) (Semver, bool) {
	m := semverRe.FindStringSubmatch(s)
	if m == nil {
		return Semver{}, false
	}
	var v Semver
	var err error
	if v.Major, err = strconv.Atoi(m[1]); err != nil {
		return Semver{}, false
	}
	if v.Minor, err = strconv.Atoi(m[2]); err != nil {
		return Semver{}, false
	}
	if v.Patch, err = strconv.Atoi(m[3]); err != nil {
		return Semver{}, false
	}
	v.Prerelease = m[4]
	return v, true
}

// rawSpec mirrors the YAML document; durations stay strings so that errors
// can name the field and line.
type rawSpec struct {
	Name        string         `yaml:"name"`
	Version     string         `yaml:"version"`
	Kind        string         `yaml:"kind"`
	Description string         `yaml:"description"`
	Owner       string         `yaml:"owner"`
	Provider    string         `yaml:"provider"`
	TTL         rawTTL         `yaml:"ttl"`
	Parameters  []rawParam     `yaml:"parameters"`
	Stack       yaml.Node      `yaml:"stack"`
	Teams       []string       `yaml:"teams"`
	Drift       *rawDrift      `yaml:"drift"`
	OnFailure   *rawOnFailure  `yaml:"on_failure"`
	Rollback    *rawRollback   `yaml:"rollback"`
	Inactivity  *rawInactivity `yaml:"inactivity"`
	Cost        *rawCost       `yaml:"cost"`
	// ExpiryWarnings is a node: absent (the defaults) and [] (none) differ.
	ExpiryWarnings yaml.Node `yaml:"expiry_warnings"`
}

type rawInactivity struct {
	Idle       string `yaml:"idle"`
	WarnBefore string `yaml:"warn_before"`
}

type rawRollback struct {
	Grace string `yaml:"grace"`
}

type rawOnFailure struct {
	KeepStack string `yaml:"keep_stack"`
}

type rawTTL struct {
	Default string `yaml:"default"`
	Max     string `yaml:"max"`
}

type rawParam struct {
	Name        string    `yaml:"name"`
	Label       string    `yaml:"label"`
	Description string    `yaml:"description"`
	Type        string    `yaml:"type"`
	Required    bool      `yaml:"required"`
	Default     yaml.Node `yaml:"default"`
	Pattern     string    `yaml:"pattern"`
	PatternHint string    `yaml:"pattern_hint"`
	Min         *int64    `yaml:"min"`
	Max         *int64    `yaml:"max"`
	Options     []string  `yaml:"options"`
	Secret      bool      `yaml:"secret"`
}

var yamlLineRe = regexp.MustCompile(`line (\d+)`)

// ParseSpec parses and validates a template document. Every problem found is
// reported as a FieldError naming the field and its line, in one EInvalid
// error, so an author fixes everything in one round.
func ParseSpec(src []byte) (*Spec, error) {
	if len(src) > MaxTemplateSize {
		return nil, Errorf(ETooLarge, "template is larger than %d bytes", MaxTemplateSize)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, Invalid("template is not valid YAML", yamlError(err))
	}
	if len(doc.Content) == 0 {
		return nil, Invalid("template is empty", FieldError{Message: "the document is empty"})
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, Invalid("template is not valid", FieldError{Field: "(root)", Message: "must be a mapping of fields", Line: root.Line})
	}
	// Before anything decodes the aliases (the decode below does).
	if fe, ok := overExpanded(root); ok {
		return nil, Invalid("template is too large once its aliases are expanded", fe)
	}
	var raw rawSpec
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true) // a misspelt field is an error, not silently ignored
	if err := dec.Decode(&raw); err != nil {
		return nil, Invalid("template is not valid", yamlError(err))
	}
	v := &validator{root: root}
	spec := &Spec{
		Name:        strings.TrimSpace(raw.Name),
		Version:     strings.TrimSpace(raw.Version),
		Kind:        Kind(raw.Kind),
		Description: strings.TrimSpace(raw.Description),
		Owner:       strings.TrimSpace(raw.Owner),
		Provider:    raw.Provider,
	}
	for _, t := range raw.Teams {
		if t = strings.TrimSpace(t); t != "" {
			spec.Teams = append(spec.Teams, t)
		}
	}
	switch {
	case spec.Name == "":
		v.add("name", "is required")
	case !templateNameRe.MatchString(spec.Name):
		v.add("name", "must be 2-63 lowercase letters, digits or dashes, starting with a letter")
	}
	switch _, ok := ParseSemver(spec.Version); {
	case spec.Version == "":
		v.add("version", "is required")
	case !ok:
		v.add("version", fmt.Sprintf("%q is not a semantic version such as 1.2.0", spec.Version))
	}
	switch spec.Kind {
	case KindReplica, KindDemo, KindDR:
	case "":
		v.add("kind", "is required (replica, demo or dr)")
	default:
		v.add("kind", fmt.Sprintf("%q is not one of replica, demo, dr", raw.Kind))
	}
	if spec.Provider == "" {
		v.add("provider", "is required")
	}
	if len(spec.Description) > 2000 {
		v.add("description", "must be at most 2000 characters")
	}
	spec.TTL.Default = v.duration("ttl.default", raw.TTL.Default)
	spec.TTL.Max = v.duration("ttl.max", raw.TTL.Max)
	if spec.TTL.Default > 0 && spec.TTL.Max > 0 && spec.TTL.Default > spec.TTL.Max {
		v.add("ttl.default", fmt.Sprintf("%s is longer than ttl.max %s", raw.TTL.Default, raw.TTL.Max))
	}
	if raw.OnFailure != nil {
		spec.OnFailure = v.onFailure(*raw.OnFailure, spec.TTL.Max)
	}
	if raw.Rollback != nil {
		spec.Rollback = v.rollback(*raw.Rollback, spec.TTL.Max)
	}
	if raw.Inactivity != nil {
		spec.Inactivity = v.inactivity(*raw.Inactivity)
	}
	if raw.ExpiryWarnings.Kind != 0 {
		spec.ExpiryWarnings = v.expiryWarnings(&raw.ExpiryWarnings, spec.TTL.Max)
	}
	seen := map[string]bool{}
	for i, rp := range raw.Parameters {
		p := v.param(i, rp)
		if p.Name != "" && seen[p.Name] {
			v.add(fmt.Sprintf("parameters[%d].name", i), fmt.Sprintf("%q is declared twice", p.Name))
		}
		seen[p.Name] = true
		spec.Parameters = append(spec.Parameters, p)
	}
	if raw.Stack.Kind == 0 {
		v.add("stack", "is required")
	} else {
		var body any
		if err := raw.Stack.Decode(&body); err != nil {
			v.add("stack", err.Error())
		} else if b, err := json.Marshal(body); err != nil {
			v.add("stack", "must use string keys: "+err.Error())
		} else if len(b) > MaxTemplateSize {
			v.add("stack", fmt.Sprintf("is %d bytes once its aliases are expanded; at most %d", len(b), MaxTemplateSize))
		} else {
			spec.Stack = b
		}
	}
	if raw.Drift != nil {
		spec.Drift = v.drift(*raw.Drift)
	}
	if raw.Cost != nil {
		spec.Cost = v.cost(*raw.Cost, spec.Parameters)
	}
	if b, _ := json.Marshal(spec.Parameters); len(b) > MaxTemplateSize {
		v.add("parameters", fmt.Sprintf("are %d bytes once their aliases are expanded; at most %d", len(b), MaxTemplateSize))
	}
	if len(v.errs) > 0 {
		return nil, Invalid("template is not valid", v.errs...)
	}
	return spec, nil
}

func yamlError(err error) FieldError {
	fe := FieldError{Message: strings.TrimPrefix(err.Error(), "yaml: ")}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		fe.Message = strings.Join(te.Errors, "; ")
	}
	if m := yamlLineRe.FindStringSubmatch(fe.Message); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
	}
	return fe
}

type validator struct {
	root *yaml.Node
	errs []FieldError
}

func (v *validator) add(field, msg string) {
	v.errs = append(v.errs, FieldError{Field: field, Message: msg, Line: lineOf(v.root, field)})
}

func (v *validator) duration(field, s string) time.Duration {
	if s == "" {
		v.add(field, "is required (a duration such as 2h)")
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		v.add(field, fmt.Sprintf("%q is not a positive duration such as 90m or 2h", s))
		return 0
	}
	return d
}

// onFailure validates on_failure (nil when it asks for nothing).
func (v *validator) onFailure(raw rawOnFailure, maxTTL time.Duration) *FailurePolicy {
	if raw.KeepStack == "" {
		v.add("on_failure.keep_stack", "is required in on_failure (a duration such as 30m)")
		return nil
	}
	d, err := time.ParseDuration(raw.KeepStack)
	switch {
	case err != nil || d <= 0:
		v.add("on_failure.keep_stack", fmt.Sprintf("%q is not a positive duration such as 30m or 2h", raw.KeepStack))
		return nil
	case d < time.Second:
		v.add("on_failure.keep_stack", "must be at least 1s")
		return nil
	case maxTTL > 0 && d > maxTTL:
		v.add("on_failure.keep_stack", fmt.Sprintf("%s is longer than ttl.max %s: the environment is destroyed by then", raw.KeepStack, FormatDuration(maxTTL)))
		return nil
	}
	return &FailurePolicy{KeepStack: d}
}

// rollback validates rollback (nil when it asks for nothing).
func (v *validator) rollback(raw rawRollback, maxTTL time.Duration) *RollbackPolicy {
	if raw.Grace == "" {
		v.add("rollback.grace", "is required in rollback (a duration such as 30m, or 0s to keep no old stack)")
		return nil
	}
	d, err := time.ParseDuration(raw.Grace)
	switch {
	case err != nil || d < 0:
		v.add("rollback.grace", fmt.Sprintf("%q is not a duration such as 30m or 0s", raw.Grace))
		return nil
	case maxTTL > 0 && d > maxTTL:
		v.add("rollback.grace", fmt.Sprintf("%s is longer than ttl.max %s: the environment is destroyed by then", raw.Grace, FormatDuration(maxTTL)))
		return nil
	}
	return &RollbackPolicy{Grace: d}
}

func (v *validator) param(i int, rp rawParam) Param {
	at := func(f string) string { return fmt.Sprintf("parameters[%d].%s", i, f) }
	p := Param{
		Name:        rp.Name,
		Label:       rp.Label,
		Description: rp.Description,
		Type:        ParamType(rp.Type),
		Required:    rp.Required,
		Pattern:     rp.Pattern,
		PatternHint: rp.PatternHint,
		Min:         rp.Min,
		Max:         rp.Max,
		Options:     rp.Options,
		Secret:      rp.Secret,
	}
	if !paramNameRe.MatchString(p.Name) {
		v.add(at("name"), "must be lowercase letters, digits or underscores, starting with a letter")
	}
	switch p.Type {
	case ParamString, ParamInt, ParamBool, ParamEnum:
	case "":
		v.add(at("type"), "is required (string, int, bool or enum)")
	default:
		v.add(at("type"), fmt.Sprintf("%q is not one of string, int, bool, enum", rp.Type))
	}
	if p.Pattern != "" {
		if p.Type != ParamString {
			v.add(at("pattern"), "applies to string parameters only")
		} else if _, err := regexp.Compile(p.Pattern); err != nil {
			v.add(at("pattern"), "is not a valid regular expression: "+err.Error())
		}
	}
	switch {
	case p.PatternHint == "":
	case p.Pattern == "":
		v.add(at("pattern_hint"), "needs a pattern to describe")
	case len(p.PatternHint) > maxPatternHint:
		v.add(at("pattern_hint"), fmt.Sprintf("must be at most %d bytes", maxPatternHint))
	case strings.ContainsAny(p.PatternHint, "\r\n"):
		v.add(at("pattern_hint"), "must be a single line")
	}
	if p.Min != nil && p.Max != nil && *p.Min > *p.Max {
		v.add(at("min"), "is greater than max")
	}
	if (p.Min != nil || p.Max != nil) && p.Type != ParamInt && p.Type != ParamString {
		v.add(at("min"), "applies to int and string parameters only")
	}
	if p.Type == ParamEnum && len(p.Options) == 0 {
		v.add(at("options"), "an enum needs at least one option")
	}
	if len(p.Options) > 0 && p.Type != ParamEnum {
		v.add(at("options"), "applies to enum parameters only")
	}
	if p.Secret && p.Type != ParamString {
		v.add(at("secret"), "only string parameters can be secret")
	}
	if rp.Default.Kind != 0 {
		if rp.Default.Kind != yaml.ScalarNode {
			v.add(at("default"), "must be a single value")
		} else {
			p.Default = rp.Default.Value
			p.HasDefault = true
			if p.Secret {
				v.add(at("default"), "a secret parameter cannot have a default")
			} else if _, msg := p.normalize(p.Default); msg != "" {
				v.add(at("default"), msg)
			}
		}
	}
	return p
}

// lineOf finds the line of a dotted field path such as
// "parameters[1].type" in the document, or the nearest existing parent.
func lineOf(root *yaml.Node, field string) int {
	node, line := root, root.Line
	for _, part := range strings.Split(field, ".") {
		name, idx := part, -1
		if open := strings.Index(part, "["); open >= 0 && strings.HasSuffix(part, "]") {
			name = part[:open]
			idx, _ = strconv.Atoi(part[open+1 : len(part)-1])
		}
		next := mappingValue(node, name)
		if next == nil {
			return line
		}
		line = next.key.Line
		node = next.value
		if idx >= 0 {
			if node.Kind != yaml.SequenceNode || idx >= len(node.Content) {
				return line
			}
			node = node.Content[idx]
			line = node.Line
		}
	}
	return line
}

type keyValue struct{ key, value *yaml.Node }

func mappingValue(n *yaml.Node, key string) *keyValue {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return &keyValue{n.Content[i], n.Content[i+1]}
		}
	}
	return nil
}

// overExpanded reports, when the document under root is larger than
// MaxExpandedSize with its aliases expanded, the alias at which it grows
// past it: its field and line. The expanded size is counted on the node
// tree, each anchored node once (aliases of aliases cost nothing more to
// count), and it saturates past the limit, so a billion laughs is counted
// in microseconds.
func overExpanded(root *yaml.Node) (FieldError, bool) {
	e := expansion{sizes: map[*yaml.Node]int{}}
	if e.size(root) <= MaxExpandedSize {
		return FieldError{}, false
	}
	total := 0
	if fe, ok := e.find(root, "", &total); ok {
		return fe, true
	}
	return FieldError{Field: "(root)", Line: root.Line, Message: fmt.Sprintf( // an alias as a mapping key
		"the document is more than %d bytes once its aliases are expanded", MaxExpandedSize)}, true
}

type expansion struct {
	sizes map[*yaml.Node]int // anchored nodes' expanded sizes
}

// size is about the length of n expanded as JSON (quotes, commas,
// brackets), at most MaxExpandedSize+1.
func (e *expansion) size(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	if s, ok := e.sizes[n]; ok {
		return s
	}
	s := 0
	switch n.Kind {
	case yaml.ScalarNode:
		s = len(n.Value) + 3
	case yaml.AliasNode:
		s = e.size(n.Alias)
	default:
		s = 2
		for _, c := range n.Content {
			if s += e.size(c) + 1; s > MaxExpandedSize {
				break
			}
		}
	}
	s = min(s, MaxExpandedSize+1)
	if n.Anchor != "" {
		e.sizes[n] = s
	}
	return s
}

// find walks the document in order, adding up expanded sizes, and returns
// the alias at which the total passes MaxExpandedSize.
func (e *expansion) find(n *yaml.Node, path string, total *int) (FieldError, bool) {
	switch n.Kind {
	case yaml.AliasNode:
		if *total += e.size(n); *total > MaxExpandedSize {
			return FieldError{Field: cmpOr(path, "(root)"), Line: n.Line, Message: fmt.Sprintf(
				"the alias *%s expands the document past %d bytes (aliases may make it at most %d times its %d-byte limit)",
				n.Value, MaxExpandedSize, MaxExpandedSize/MaxTemplateSize, MaxTemplateSize)}, true
		}
	case yaml.MappingNode:
		*total += 2 + len(n.Content)
		for i := 0; i+1 < len(n.Content); i += 2 {
			*total += e.size(n.Content[i])
			key := n.Content[i].Value
			if path != "" {
				key = path + "." + key
			}
			if fe, ok := e.find(n.Content[i+1], key, total); ok {
				return fe, true
			}
		}
	case yaml.SequenceNode:
		*total += 2 + len(n.Content)
		for i, c := range n.Content {
			if fe, ok := e.find(c, fmt.Sprintf("%s[%d]", path, i), total); ok {
				return fe, true
			}
		}
	default:
		*total += e.size(n)
	}
	return FieldError{}, false
}

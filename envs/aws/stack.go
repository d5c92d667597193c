package aws

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/tmpl"
)

// Stack is the `stack:` body of a template version with `provider: aws`.
// The envs parser turns the YAML into JSON, so the CloudFormation template
// travels as one string (YAML or JSON, short tags such as !Ref allowed).
type Stack struct {
	// Template is the CloudFormation template body.
	Template string `json:"template"`
	// Parameters maps CloudFormation parameter names to values; values are
	// Go templates over .Params.<name>, .EnvironmentID, .Name, .Owner.
	Parameters map[string]string `json:"parameters,omitempty"`
	// Capabilities the template needs (CAPABILITY_IAM, ...).
	Capabilities []string `json:"capabilities,omitempty"`
	// Region overrides the default region; RoleARN is assumed through STS.
	Region  string `json:"region,omitempty"`
	RoleARN string `json:"role_arn,omitempty"`
	// HealthOutput names a stack output holding a URL that must answer 2xx
	// or 3xx before the environment is ready (and, for DR drills, before
	// the RTO clock stops).
	HealthOutput string `json:"health_output,omitempty"`
	// Choices gives Mayfly parameters their choices from AWS, by parameter
	// name.
	Choices map[string]ChoiceSource `json:"choices,omitempty"`
}

// ChoiceSource is where a parameter's choices come from: the RDS snapshots
// of one DB instance or one Aurora cluster, newest first.
type ChoiceSource struct {
	RDSSnapshots *RDSSnapshots `json:"rds_snapshots,omitempty"`
}

// RDSSnapshots selects snapshots of one instance or one cluster.
type RDSSnapshots struct {
	DBInstance string `json:"db_instance,omitempty"`
	DBCluster  string `json:"db_cluster,omitempty"`
}

// maxTemplateBody is CloudFormation's limit for an inline TemplateBody.
const maxTemplateBody = 51200

var (
	cfnParamNameRe = regexp.MustCompile(`^[A-Za-z0-9]{1,255}$`)
	regionRe       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	roleARNRe      = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$`)
)

var knownCapabilities = map[string]bool{"CAPABILITY_IAM": true, "CAPABILITY_NAMED_IAM": true, "CAPABILITY_AUTO_EXPAND": true}

// pseudo parameters are always defined for !Ref.
var pseudoParams = map[string]bool{"AWS::AccountId": true, "AWS::NotificationARNs": true, "AWS::NoValue": true,
	"AWS::Partition": true, "AWS::Region": true, "AWS::StackId": true, "AWS::StackName": true, "AWS::URLSuffix": true}

// cfnTemplate is what Mayfly checks of a CloudFormation template.
type cfnTemplate struct {
	Parameters map[string]cfnParam // name -> declaration
	Resources  map[string]string   // logical id -> type
	Outputs    []string
	refs       []ref
}

type cfnParam struct{ HasDefault bool }

type ref struct {
	Name string
	Line int
}

// ParseStack decodes and checks a stack body. Every problem is reported as
// a field error naming the field ("stack.parameters.DBName"), in one error.
func ParseStack(raw json.RawMessage) (*Stack, *cfnTemplate, error) {
	var s Stack
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields() // a misspelt key is an error, not ignored
	if err := dec.Decode(&s); err != nil {
		return nil, nil, envs.Invalid("template is not valid", envs.FieldError{Field: "stack", Message: err.Error()})
	}
	var errs []envs.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, envs.FieldError{Field: "stack." + field, Message: fmt.Sprintf(format, args...)})
	}
	var tpl *cfnTemplate
	switch {
	case strings.TrimSpace(s.Template) == "":
		add("template", "is required: the CloudFormation template (YAML or JSON) as a string")
	case len(s.Template) > maxTemplateBody:
		add("template", "is %d bytes; CloudFormation accepts at most %d inline", len(s.Template), maxTemplateBody)
	default:
		var err error
		tpl, err = parseCFN(s.Template)
		if err != nil {
			add("template", "%v", err)
		}
	}
	// Each value is tried against sample data, so one that loops or grows
	// without bound is refused at publish; other errors wait for the
	// launch's real values (a slice of an empty parameter fails here).
	sample := tmpl.NewBudget(tmpl.DefaultLimits)
	for _, name := range slices.Sorted(maps.Keys(s.Parameters)) {
		if !cfnParamNameRe.MatchString(name) {
			add("parameters."+name, "is not a CloudFormation parameter name (letters and digits)")
			continue
		}
		if tpl != nil {
			if _, ok := tpl.Parameters[name]; !ok {
				add("parameters."+name, "the CloudFormation template declares no parameter %q", name)
			}
		}
		t, err := parseValue(name, s.Parameters[name])
		if err != nil {
			add("parameters."+name, "is not a valid Go template: %v", err)
			continue
		}
		if sample.Spent() {
			continue // reported at the parameter that spent it
		}
		sampleData := templateData{Params: map[string]string{}, EnvironmentID: "env-sample", Name: "sample", Owner: "owner"}
		if _, err := t.Execute(sample, sampleData); err != nil {
			if le, ok := tmpl.AsLimit(err); ok {
				add("parameters."+name, "%s", le)
			}
		}
	}
	if tpl != nil {
		for _, name := range slices.Sorted(maps.Keys(tpl.Parameters)) {
			if _, mapped := s.Parameters[name]; !mapped && !tpl.Parameters[name].HasDefault {
				add("parameters", "the CloudFormation parameter %q has no default and no value here", name)
			}
		}
		for _, r := range tpl.refs {
			if _, ok := tpl.Parameters[r.Name]; ok || pseudoParams[r.Name] {
				continue
			}
			if _, ok := tpl.Resources[r.Name]; ok {
				continue
			}
			add("template", "line %d: !Ref %s: no parameter or resource of that name", r.Line, r.Name)
		}
		if s.HealthOutput != "" && !contains(tpl.Outputs, s.HealthOutput) {
			add("health_output", "the CloudFormation template has no output %q", s.HealthOutput)
		}
	}
	for i, c := range s.Capabilities {
		if !knownCapabilities[c] {
			add(fmt.Sprintf("capabilities[%d]", i), "%q is not one of CAPABILITY_IAM, CAPABILITY_NAMED_IAM, CAPABILITY_AUTO_EXPAND", c)
		}
	}
	if s.Region != "" && !regionRe.MatchString(s.Region) {
		add("region", "%q is not an AWS region such as eu-west-1", s.Region)
	}
	if s.RoleARN != "" && !roleARNRe.MatchString(s.RoleARN) {
		add("role_arn", "%q is not an IAM role ARN such as arn:aws:iam::123456789012:role/mayfly", s.RoleARN)
	}
	for _, name := range slices.Sorted(maps.Keys(s.Choices)) {
		src := s.Choices[name].RDSSnapshots
		switch {
		case src == nil:
			add("choices."+name, "needs a source: rds_snapshots")
		case (src.DBInstance == "") == (src.DBCluster == ""):
			add("choices."+name+".rds_snapshots", "needs exactly one of db_instance or db_cluster")
		}
	}
	if len(errs) > 0 {
		return nil, nil, envs.Invalid("template is not valid", errs...)
	}
	return &s, tpl, nil
}

// parseCFN reads a CloudFormation template in YAML or JSON (JSON is YAML).
// yaml.v3 keeps CloudFormation's short tags (!Ref, !Sub, !GetAtt, ...) on
// the nodes instead of failing on them, so the template parses as written.
func parseCFN(body string) (*cfnTemplate, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(body), &doc); err != nil {
		return nil, fmt.Errorf("is not valid YAML or JSON: %v", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("must be a mapping with a Resources section")
	}
	root := doc.Content[0]
	t := &cfnTemplate{Parameters: map[string]cfnParam{}, Resources: map[string]string{}}
	resources := mapValue(root, "Resources")
	if resources == nil || resources.Kind != yaml.MappingNode || len(resources.Content) == 0 {
		return nil, fmt.Errorf("needs a Resources section with at least one resource")
	}
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id, body := resources.Content[i], resources.Content[i+1]
		typ := mapValue(body, "Type")
		if typ == nil || typ.Kind != yaml.ScalarNode || typ.Value == "" {
			return nil, fmt.Errorf("line %d: resource %s has no Type", id.Line, id.Value)
		}
		t.Resources[id.Value] = typ.Value
	}
	if params := mapValue(root, "Parameters"); params != nil {
		if params.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("line %d: Parameters must be a mapping", params.Line)
		}
		for i := 0; i+1 < len(params.Content); i += 2 {
			t.Parameters[params.Content[i].Value] = cfnParam{HasDefault: mapValue(params.Content[i+1], "Default") != nil}
		}
	}
	if outputs := mapValue(root, "Outputs"); outputs != nil && outputs.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(outputs.Content); i += 2 {
			t.Outputs = append(t.Outputs, outputs.Content[i].Value)
		}
	}
	collectRefs(root, &t.refs)
	return t, nil
}

// collectRefs finds every reference by name: the short form `!Ref X` and the
// long form `{"Ref": "X"}`.
func collectRefs(n *yaml.Node, out *[]ref) {
	if n.Tag == "!Ref" && n.Kind == yaml.ScalarNode {
		*out = append(*out, ref{n.Value, n.Line})
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "Ref" && n.Content[i+1].Kind == yaml.ScalarNode {
				*out = append(*out, ref{n.Content[i+1].Value, n.Content[i+1].Line})
			}
		}
	}
	for _, c := range n.Content {
		collectRefs(c, out)
	}
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// templateData is what parameter values are rendered over.
type templateData struct {
	Params        map[string]string
	EnvironmentID string
	Name          string
	Owner         string
}

// parseValue parses a parameter value's template, with the brakes of
// envs/tmpl in place. An optional Mayfly parameter left empty renders as "".
func parseValue(name, text string) (*tmpl.Template, error) {
	return tmpl.Parse(name, text, "missingkey=zero")
}

// renderParameters turns the stack's parameter mapping into values, within
// one budget for them all. A limit hit is the author's error, named by its
// field.
func (s *Stack) renderParameters(d templateData) (map[string]string, error) {
	out := map[string]string{}
	budget := tmpl.NewBudget(tmpl.DefaultLimits)
	for _, name := range slices.Sorted(maps.Keys(s.Parameters)) {
		t, err := parseValue(name, s.Parameters[name])
		if err != nil {
			return nil, fmt.Errorf("aws: parameter %s: %w", name, err)
		}
		v, err := t.Execute(budget, d)
		if le, ok := tmpl.AsLimit(err); ok {
			return nil, envs.Invalid("cannot render the stack's parameters", envs.FieldError{Field: "stack.parameters." + name, Message: le.Error()})
		}
		if err != nil {
			return nil, fmt.Errorf("aws: parameter %s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

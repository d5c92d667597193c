package aws_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	mfaws "github.com/mayflyhq/mayfly/envs/aws"
)

func TestParseStack(t *testing.T) {
	ok := func(s *mfaws.Stack) {}
	tests := []struct {
		name   string
		edit   func(s *mfaws.Stack)
		field  string // "" when valid
		reason string
	}{
		{"valid YAML with short tags", ok, "", ""},
		{"valid JSON template", func(s *mfaws.Stack) {
			s.Template = `{"Resources":{"Topic":{"Type":"AWS::SNS::Topic","Properties":{"DisplayName":{"Ref":"AWS::StackName"}}}}}`
			s.Parameters = nil
		}, "", ""},
		{"template missing", func(s *mfaws.Stack) { s.Template = "" }, "stack.template", "is required"},
		{"template not YAML", func(s *mfaws.Stack) { s.Template = "Resources: [\n" }, "stack.template", "not valid YAML"},
		{"no resources", func(s *mfaws.Stack) { s.Template = "Parameters: {}\n" }, "stack.template", "Resources"},
		{"resource without type", func(s *mfaws.Stack) { s.Template = "Resources:\n  A:\n    Properties: {}\n" }, "stack.template", "resource A has no Type"},
		{"unknown parameter mapped", func(s *mfaws.Stack) { s.Parameters["Nope"] = "x" }, "stack.parameters.Nope", "declares no parameter"},
		{"required parameter unmapped", func(s *mfaws.Stack) { delete(s.Parameters, "SiteName") }, "stack.parameters", `"SiteName" has no default`},
		{"bad Go template", func(s *mfaws.Stack) { s.Parameters["SiteName"] = "{{.Params.x" }, "stack.parameters.SiteName", "Go template"},
		{"ref to nothing", func(s *mfaws.Stack) {
			s.Template = strings.Replace(siteTemplate, "!Ref SiteName", "!Ref Missing", 1)
		}, "stack.template", "!Ref Missing"},
		{"bad capability", func(s *mfaws.Stack) { s.Capabilities = []string{"CAPABILITY_ALL"} }, "stack.capabilities[0]", "CAPABILITY_IAM"},
		{"bad region", func(s *mfaws.Stack) { s.Region = "mars" }, "stack.region", "region"},
		{"bad role", func(s *mfaws.Stack) { s.RoleARN = "admin" }, "stack.role_arn", "role ARN"},
		{"unknown health output", func(s *mfaws.Stack) { s.HealthOutput = "Nope" }, "stack.health_output", "no output"},
		{"a value that loops", func(s *mfaws.Stack) { s.Parameters["SiteName"] = "{{range 1000000000000}}{{end}}" }, "stack.parameters.SiteName", "more than 100000 times"},
		{"a value too long", func(s *mfaws.Stack) { s.Parameters["SiteName"] = `{{printf "%999999d" 1}}` }, "stack.parameters.SiteName", "longer than 64 KiB"},
		{"a value failing only with real values", func(s *mfaws.Stack) { s.Parameters["SiteName"] = "{{slice .Params.customer 1 3}}" }, "", ""},
		{"choice without instance", func(s *mfaws.Stack) {
			s.Choices = map[string]mfaws.ChoiceSource{"snap": {RDSSnapshots: &mfaws.RDSSnapshots{}}}
		}, "stack.choices.snap.rds_snapshots", "exactly one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mfaws.Stack{Template: siteTemplate, Parameters: map[string]string{"SiteName": "{{.Name}}"}}
			tt.edit(&s)
			_, _, err := mfaws.ParseStack(stackBody(t, s))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			var de *envs.Error
			if !errorAs(err, &de) {
				t.Fatalf("got %v, want a field error on %s", err, tt.field)
			}
			for _, f := range de.Fields {
				if f.Field == tt.field && strings.Contains(f.Message, tt.reason) {
					return
				}
			}
			t.Errorf("got fields %+v, want %s containing %q", de.Fields, tt.field, tt.reason)
		})
	}
}

func TestParseStackRejectsUnknownKeys(t *testing.T) {
	_, _, err := mfaws.ParseStack([]byte(`{"template":"Resources: {A: {Type: AWS::SNS::Topic}}","capabilites":[]}`))
	if err == nil || !strings.Contains(err.Error(), "capabilites") && !strings.Contains(envs.ErrorMessage(err)+fieldsOf(err), "capabilites") {
		t.Fatalf("got %v, want the misspelt key named", err)
	}
}

// A value that loops only over the launch's real parameters fails the
// launch, naming the parameter, before anything is asked of AWS.
func TestProvisionBoundsParameterTemplates(t *testing.T) {
	p, srv := newProvider(t)
	nested := strings.Repeat("{{range $.Params}}", 6) + strings.Repeat("{{end}}", 6)
	stack := stackBody(t, mfaws.Stack{Template: siteTemplate, Parameters: map[string]string{"SiteName": nested}})
	if _, _, err := mfaws.ParseStack(stack); err != nil {
		t.Fatalf("ParseStack: %v, want it to pass with sample data", err)
	}
	req := request(t, stack)
	for i := range 10 {
		req.Params[fmt.Sprintf("p%d", i)] = "x"
	}
	start := time.Now()
	_, err := p.Provision(context.Background(), req)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Provision took %s", took)
	}
	fields := envs.ErrorFields(err)
	if len(fields) != 1 || fields[0].Field != "stack.parameters.SiteName" || !strings.Contains(fields[0].Message, "more than 100000 times") {
		t.Fatalf("err = %v, want a field error on stack.parameters.SiteName naming the limit", err)
	}
	if n := len(srv.Stacks()); n != 0 {
		t.Errorf("%d stacks created, want none", n)
	}
}

package aws_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	mfaws "github.com/mayflyhq/mayfly/envs/aws"
)

// dbTemplate has a NoEcho parameter that goes into two properties, one
// directly and one through a Sub.
const dbTemplate = `Parameters:
  Password: {Type: String, NoEcho: true}
  Owner: {Type: String}
Resources:
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: !Sub "${Owner}-db"
      SecretString: !Ref Password
      Description: "plain text"
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      DelaySeconds: "5"
      Tags:
        - {Key: token, Value: !Sub "tok-${Password}"}
`

// TestDetectDrift drives CloudFormation's drift calls through the real
// SDK against the fake: a resource changed by hand (a property modified,
// one removed) and one deleted are reported with each difference, values
// of NoEcho parameters masked, and an untouched stack is in sync.
func TestDetectDrift(t *testing.T) {
	p, srv := newProvider(t)
	stack := stackBody(t, mfaws.Stack{Template: dbTemplate,
		Parameters: map[string]string{"Password": "{{.Params.password}}", "Owner": "{{.Owner}}"}})
	req := request(t, stack)
	req.Params["password"] = "hunter2-very-secret"
	h, err := p.Provision(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := waitState(t, p, h); st.State != envs.StackReady {
		t.Fatalf("state %s (%s)", st.State, st.Reason)
	}
	detect := func() envs.DriftReport {
		t.Helper()
		rep, err := p.DetectDrift(context.Background(), envs.DriftRequest{Handle: h, Stack: stack})
		if err != nil {
			t.Fatalf("DetectDrift: %v", err)
		}
		return rep
	}
	if rep := detect(); len(rep.Items) != 0 {
		t.Fatalf("a stack nobody touched drifted: %+v", rep.Items)
	}
	if n := srv.Calls("DescribeStackResourceDrifts"); n != 0 {
		t.Errorf("an in-sync stack's resources were listed %d times; its detection status says it is in sync", n)
	}

	stackID := srv.Stacks()[0].ID
	srv.DriftResource(stackID, "Secret", "SecretString", "changed-by-hand-123")
	srv.DriftResource(stackID, "Secret", "Description", nil)
	srv.DriftResource(stackID, "Queue", "DelaySeconds", "30")
	srv.DriftResource(stackID, "Queue", "Tags", []any{map[string]any{"Key": "token", "Value": "tok-other"}})
	rep := detect()
	if len(rep.Items) != 2 {
		t.Fatalf("items %+v, want the two modified resources", rep.Items)
	}
	byRes := map[string]envs.DriftItem{}
	for _, it := range rep.Items {
		byRes[it.Resource] = it
	}
	secret := byRes["Secret"]
	if secret.Type != "AWS::SecretsManager::Secret" || secret.Status != envs.DriftModified {
		t.Errorf("Secret: %+v", secret)
	}
	diffs := map[string]envs.DriftDifference{}
	for _, d := range append(secret.Differences, byRes["Queue"].Differences...) {
		diffs[d.Path] = d
	}
	for path, want := range map[string]envs.DriftDifference{
		"/SecretString": {Path: "/SecretString", Expected: "***", Actual: "***", Kind: "NOT_EQUAL"},
		"/Description":  {Path: "/Description", Expected: "plain text", Actual: "", Kind: "REMOVE"},
		"/DelaySeconds": {Path: "/DelaySeconds", Expected: "5", Actual: "30", Kind: "NOT_EQUAL"},
		"/Tags/0/Value": {Path: "/Tags/0/Value", Expected: "***", Actual: "***", Kind: "NOT_EQUAL"},
	} {
		if got := diffs[path]; got != want {
			t.Errorf("difference at %s: %+v, want %+v", path, got, want)
		}
	}
	for _, it := range rep.Items {
		for _, d := range it.Differences {
			if strings.Contains(d.Expected+d.Actual, "hunter2") {
				t.Errorf("a NoEcho value is shown: %+v", d)
			}
		}
	}

	srv.RestoreResource(stackID, "Secret")
	srv.DeleteResource(stackID, "Queue")
	rep = detect()
	if len(rep.Items) != 1 || rep.Items[0].Resource != "Queue" || rep.Items[0].Status != envs.DriftDeleted ||
		!strings.Contains(rep.Items[0].Detail, "deleted outside CloudFormation") {
		t.Errorf("items %+v, want the deleted queue alone", rep.Items)
	}

	srv.RestoreResource(stackID, "Queue")
	if rep := detect(); len(rep.Items) != 0 {
		t.Errorf("put back as declared, it still drifted: %+v", rep.Items)
	}
}

// A detection in progress is waited for; CloudFormation's refusals and a
// stack that is gone come back as such.
func TestDetectDriftWaitsAndFails(t *testing.T) {
	p, srv := newProvider(t)
	stack := siteStack(t)
	srv.Step = 5 * time.Millisecond
	h, err := p.Provision(context.Background(), request(t, stack))
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, p, h)
	srv.Step = 600 * time.Millisecond // the detection takes a while
	rep, err := p.DetectDrift(context.Background(), envs.DriftRequest{Handle: h, Stack: stack})
	if err != nil || len(rep.Items) != 0 {
		t.Fatalf("DetectDrift: %+v, %v", rep, err)
	}
	if n := srv.Calls("DescribeStackDriftDetectionStatus"); n < 2 {
		t.Errorf("detection status asked %d times, want it polled until done", n)
	}

	srv.Fail("DetectStackDrift", "AccessDenied", 1)
	if _, err := p.DetectDrift(context.Background(), envs.DriftRequest{Handle: h, Stack: stack}); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("refused: %v, want the AccessDenied error", err)
	}

	srv.SetStatus(srv.Stacks()[0].ID, "DELETE_COMPLETE", "")
	rep, err = p.DetectDrift(context.Background(), envs.DriftRequest{Handle: h, Stack: stack})
	if err != nil || len(rep.Items) != 1 || rep.Items[0].Status != envs.DriftDeleted || rep.Items[0].Type != "AWS::CloudFormation::Stack" {
		t.Errorf("a deleted stack: %+v, %v; want the stack itself deleted", rep, err)
	}
}

package aws_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mayflyhq/mayfly/envs"
	mfaws "github.com/mayflyhq/mayfly/envs/aws"
	"github.com/mayflyhq/mayfly/envs/aws/awstest"
)

func TestProvisionReady(t *testing.T) {
	p, srv := newProvider(t)
	srv.Outputs = map[string]string{"URL": "http://demo-acme-site.example/"}
	ctx := context.Background()
	h, err := p.Provision(ctx, request(t, siteStack(t)))
	if err != nil {
		t.Fatal(err)
	}
	st, msgs := waitState(t, p, h)
	if st.State != envs.StackReady {
		t.Fatalf("state %s (%s), want ready", st.State, st.Reason)
	}
	if got, want := st.Outputs["URL"], "http://demo-acme-site.example/"; got != want {
		t.Errorf("output URL: got %q, want %q", got, want)
	}
	stack := stackOf(t, srv, "mayfly-demo-abc123")
	wantTags := map[string]string{
		mfaws.TagEnvironment: "env-abc123", mfaws.TagInstance: instance, mfaws.TagOwner: "ada",
		mfaws.TagTemplate: "site@1.2.0", mfaws.TagExpiresAt: "2030-01-02T03:04:05Z",
	}
	for k, v := range wantTags {
		if stack.Tags[k] != v {
			t.Errorf("tag %s: got %q, want %q", k, stack.Tags[k], v)
		}
	}
	if got, want := stack.Params["SiteName"], "demo-acme"; got != want {
		t.Errorf("parameter SiteName: got %q, want %q", got, want)
	}
	if !strings.HasPrefix(stack.Token, "mayfly-env-abc123-") {
		t.Errorf("client request token %q is not derived from the environment", stack.Token)
	}
	// Every event once, in order, the stack's own first.
	wantEvents := []string{
		"mayfly-demo-abc123 AWS::CloudFormation::Stack CREATE_IN_PROGRESS: User Initiated",
		"Bucket AWS::S3::Bucket CREATE_IN_PROGRESS", "Bucket AWS::S3::Bucket CREATE_COMPLETE",
		"Topic AWS::SNS::Topic CREATE_IN_PROGRESS", "Topic AWS::SNS::Topic CREATE_COMPLETE",
		"mayfly-demo-abc123 AWS::CloudFormation::Stack CREATE_COMPLETE",
	}
	var bare []string // without the leading event time
	for _, m := range msgs {
		if _, rest, ok := strings.Cut(m, "Z "); ok {
			bare = append(bare, rest)
		}
	}
	if !slices.Equal(bare, wantEvents) {
		t.Errorf("events:\n got %q\nwant %q", msgs, wantEvents)
	}
	again, err := p.Status(ctx, h)
	if err != nil || len(again.Events) != 0 {
		t.Errorf("a second Status reported %d events again (err %v)", len(again.Events), err)
	}
	waitDestroyed(t, p, h)
	if got := stackOf(t, srv, "mayfly-demo").Status; got != "DELETE_COMPLETE" {
		t.Errorf("after destroy: %s, want DELETE_COMPLETE", got)
	}
	// Destroying again (a retried job) is still success.
	if done, err := p.Destroy(ctx, h); !done || err != nil {
		t.Errorf("second Destroy: done %v, err %v", done, err)
	}
}

func TestProvisionIsIdempotent(t *testing.T) {
	tests := []struct {
		name  string
		fault func(srvFault)
	}{
		{"called twice", func(srvFault) {}},
		{"answer lost after the stack was created", func(f srvFault) { f.DropAfter("CreateStack", 1) }},
		{"connection dropped before", func(f srvFault) { f.Drop("CreateStack", 2) }},
		{"throttled", func(f srvFault) { f.Throttle("CreateStack", 2) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, srv := newProvider(t)
			tt.fault(srv)
			req := request(t, siteStack(t))
			h1, err := p.Provision(context.Background(), req)
			if err != nil {
				t.Fatalf("first Provision: %v", err)
			}
			h2, err := p.Provision(context.Background(), req)
			if err != nil {
				t.Fatalf("second Provision: %v", err)
			}
			if h1 != h2 {
				t.Errorf("handles differ: %s, %s", h1, h2)
			}
			if n := len(srv.Stacks()); n != 1 {
				t.Errorf("got %d stacks, want 1", n)
			}
		})
	}
}

type srvFault interface {
	Drop(string, int)
	DropAfter(string, int)
	Throttle(string, int)
}

func TestProvisionRefusesAnotherStackOfTheName(t *testing.T) {
	p, srv := newProvider(t)
	srv.AddForeignStack("mayfly-demo-abc123", map[string]string{"team": "x"})
	_, err := p.Provision(context.Background(), request(t, siteStack(t)))
	if err == nil || !strings.Contains(err.Error(), "not this environment's") {
		t.Fatalf("got %v, want a refusal to adopt a foreign stack", err)
	}
}

func TestCreateFailedRollsBackAndIsDeleted(t *testing.T) {
	p, srv := newProvider(t)
	srv.FailCreate("Topic", "Resource handler returned message: \"Access Denied\"")
	h, err := p.Provision(context.Background(), request(t, siteStack(t)))
	if err != nil {
		t.Fatal(err)
	}
	st, msgs := waitState(t, p, h)
	if st.State != envs.StackFailed {
		t.Fatalf("state %s, want failed", st.State)
	}
	for _, want := range []string{"ROLLBACK_COMPLETE", "Access Denied", "Topic", "AWS::SNS::Topic"} {
		if !strings.Contains(st.Reason, want) {
			t.Errorf("reason %q lacks %q", st.Reason, want)
		}
	}
	if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, "CREATE_FAILED") }) {
		t.Errorf("events %q lack the CREATE_FAILED one", msgs)
	}
	waitDestroyed(t, p, h)
}

func TestStatusOfAVanishedStack(t *testing.T) {
	p, _ := newProvider(t)
	st, err := p.Status(context.Background(), "arn:aws:cloudformation:eu-west-1:123456789012:stack/gone/1")
	if err != nil || st.State != envs.StackFailed {
		t.Fatalf("got %+v, %v; want failed", st, err)
	}
}

func TestStatusSurvivesFaults(t *testing.T) {
	p, srv := newProvider(t)
	h, err := p.Provision(context.Background(), request(t, siteStack(t)))
	if err != nil {
		t.Fatal(err)
	}
	// A few throttles and resets are absorbed by the SDK's retryer.
	srv.Throttle("DescribeStacks", 2)
	srv.Drop("DescribeStackEvents", 1)
	before := srv.Calls("DescribeStacks")
	if _, err := p.Status(context.Background(), h); err != nil {
		t.Fatalf("Status with transient faults: %v", err)
	}
	if got := srv.Calls("DescribeStacks") - before; got != 3 {
		t.Errorf("DescribeStacks calls: got %d, want 3 (2 throttled + 1)", got)
	}
	// An outage longer than the retryer's attempts is an error the job
	// retries; the handle still finds the stack afterwards.
	srv.Drop("DescribeStacks", 5)
	if _, err := p.Status(context.Background(), h); err == nil {
		t.Fatal("Status during an outage: got nil error")
	}
	if st, _ := waitState(t, p, h); st.State != envs.StackReady {
		t.Fatalf("after the outage: %s, want ready", st.State)
	}
}

func TestDestroyFailedThenRetainResources(t *testing.T) {
	p, srv := newProvider(t)
	ctx := context.Background()
	h, err := p.Provision(ctx, request(t, siteStack(t)))
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, p, h)
	srv.FailDelete("Bucket", "The bucket you tried to delete is not empty")
	destroyErr := func() error {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			done, err := p.Destroy(ctx, h)
			if err != nil {
				return err
			}
			if done {
				t.Fatal("destroyed despite a failing resource")
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("no DELETE_FAILED")
		return nil
	}
	err = destroyErr()
	for _, want := range []string{"DELETE_FAILED", "Bucket (AWS::S3::Bucket)", "not empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// The next call (the job's retry) deletes again, and fails again.
	deletes := srv.Calls("DeleteStack")
	if err := destroyErr(); err == nil || srv.Calls("DeleteStack") != deletes+1 {
		t.Errorf("retry: err %v, DeleteStack calls %d, want one more than %d", err, srv.Calls("DeleteStack"), deletes)
	}
	// An admin retains the bucket: the stack goes, the bucket stays.
	if _, err := p.DestroyRetaining(ctx, h, []string{"Bucket"}); err != nil {
		t.Fatalf("DestroyRetaining: %v", err)
	}
	waitDestroyed(t, p, h)
}

func TestStacksListsOnlyThisInstance(t *testing.T) {
	p, srv := newProvider(t)
	srv.PageSize = 2 // several pages
	ctx := context.Background()
	var mine []string
	for _, id := range []string{"env-a", "env-b", "env-c"} {
		req := request(t, siteStack(t))
		req.EnvironmentID, req.Name = id, "n"+strings.TrimPrefix(id, "env-")
		h, err := p.Provision(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		mine = append(mine, h)
	}
	srv.AddForeignStack("someone-elses", map[string]string{"team": "data"})
	srv.AddForeignStack("other-mayfly", map[string]string{mfaws.TagInstance: "mfi-other", mfaws.TagEnvironment: "env-z"})
	srv.AddForeignStack("half-tagged", map[string]string{mfaws.TagInstance: instance})
	got, err := p.Stacks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(mine)
	if !slices.Equal(got, mine) {
		t.Errorf("Stacks:\n got %q\nwant %q", got, mine)
	}
	infos, err := p.StackInfos(ctx, envs.StackScopes{})
	if err != nil || len(infos) != 3 || infos[0].EnvironmentID == "" || infos[0].CreatedAt.IsZero() {
		t.Errorf("StackInfos: %+v, %v", infos, err)
	}
}

func TestRoleAndRegion(t *testing.T) {
	p, srv := newProvider(t)
	role := "arn:aws:iam::210987654321:role/mayfly-drills"
	body := stackBody(t, mfaws.Stack{Template: siteTemplate, Parameters: map[string]string{"SiteName": "x"}, RoleARN: role, Region: "us-east-2"})
	h, err := p.Provision(context.Background(), request(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(h, "|"+role) {
		t.Errorf("handle %q does not carry the role", h)
	}
	if got := srv.AssumedRoles(); len(got) == 0 || got[0] != role {
		t.Errorf("assumed roles %q, want %s", got, role)
	}
	if !strings.HasPrefix(h, "arn:aws:cloudformation:us-east-2:210987654321:") {
		t.Errorf("handle %q: want a stack in us-east-2 of the role's account", h)
	}
	// Listed for the orphan sweep under the very same handle, so the
	// environment that owns it is found.
	infos, err := p.StackInfos(context.Background(), envs.StackScopes{Stacks: []json.RawMessage{body}})
	if err != nil || len(infos) != 1 || infos[0].Handle != h {
		t.Errorf("StackInfos: %+v, %v; want %s", infos, err, h)
	}
	if st, _ := waitState(t, p, h); st.State != envs.StackReady {
		t.Errorf("state %s", st.State)
	}
}

func TestHealthOutputGatesReady(t *testing.T) {
	var healthy atomic.Bool
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer app.Close()
	srv := awstest.New(t)
	p := providerFor(t, srv, instance, awssdk.RetryModeStandard, allowLoopback)
	srv.Outputs = map[string]string{"URL": app.URL}
	body := stackBody(t, mfaws.Stack{Template: siteTemplate, Parameters: map[string]string{"SiteName": "x"}, HealthOutput: "URL"})
	h, err := p.Provision(context.Background(), request(t, body))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * srv.Step) // the stack is complete by now
	st, err := p.Status(context.Background(), h)
	if err != nil || st.State != envs.StackInProgress || !strings.Contains(st.Events[len(st.Events)-1].Message, "HTTP 503") {
		t.Fatalf("unhealthy output: %+v, %v; want in progress with the reason", st, err)
	}
	healthy.Store(true)
	st, err = p.Status(context.Background(), h)
	if err != nil || st.State != envs.StackReady || st.Facts[envs.FactVerifiedAt] == "" {
		t.Fatalf("healthy output: %+v, %v; want ready and verified", st, err)
	}
}

func TestCheckAndRemoteValidation(t *testing.T) {
	p, srv := newProvider(t)
	bad := stackBody(t, mfaws.Stack{Template: "Resources:\n  X:\n    Type: Acme::Thing\n"})
	if err := p.ValidateStack(bad); err != nil {
		t.Fatalf("before a reachability check only local checks run: %v", err)
	}
	r := p.Check(context.Background())
	if !r.Reachable || r.Account != srv.Account {
		t.Fatalf("Check: %+v", r)
	}
	err := p.ValidateStack(bad)
	if err == nil || !strings.Contains(fieldsOf(err), "Unrecognized resource types") {
		t.Fatalf("got %v, want CloudFormation's verdict", err)
	}
	srv.Close()
	if r := p.Check(context.Background()); r.Reachable || r.Error == "" {
		t.Fatalf("Check of a closed endpoint: %+v", r)
	}
	if err := p.ValidateStack(bad); err != nil {
		t.Fatalf("unreachable AWS must not block publishing: %v", err)
	}
}

func TestAdaptiveRetryerSlowsDownWhenThrottled(t *testing.T) {
	srv := awstest.New(t)
	p := providerFor(t, srv, instance, "") // the default: adaptive
	h, err := p.Provision(context.Background(), request(t, siteStack(t)))
	if err != nil {
		t.Fatal(err)
	}
	srv.Throttle("DescribeStacks", 1)
	start := time.Now()
	if _, err := p.Status(context.Background(), h); err != nil {
		t.Fatalf("Status: %v", err)
	}
	// The standard retryer would retry at once (MaxBackoff is 5ms); the
	// adaptive one rate-limits the client after a throttle.
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("Status after a throttle took %s; want the adaptive retryer to wait", d)
	}
}

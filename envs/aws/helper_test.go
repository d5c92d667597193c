package aws_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/mayflyhq/mayfly/envs"
	mfaws "github.com/mayflyhq/mayfly/envs/aws"
	"github.com/mayflyhq/mayfly/envs/aws/awstest"
)

const instance = "mfi-test"

// newProvider returns a provider whose real SDK clients talk to a fresh fake.
func newProvider(t *testing.T) (*mfaws.Provider, *awstest.Server) {
	t.Helper()
	srv := awstest.New(t)
	return providerFor(t, srv, instance, awssdk.RetryModeStandard), srv
}

// providerFor uses the standard retryer unless told otherwise: the adaptive
// one sleeps for seconds after throttles, on purpose. opts adjust the
// provider's configuration.
func providerFor(t *testing.T, srv *awstest.Server, inst string, mode awssdk.RetryMode, opts ...func(*mfaws.Config)) *mfaws.Provider {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(srv.Region),
		config.WithBaseEndpoint(srv.URL),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")))
	if err != nil {
		t.Fatal(err)
	}
	c := mfaws.Config{AWS: cfg, InstanceID: inst, MaxBackoff: 5 * time.Millisecond, RetryMode: mode}
	for _, o := range opts {
		o(&c)
	}
	return mfaws.New(c)
}

const siteTemplate = `AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  SiteName:
    Type: String
  Size:
    Type: Number
    Default: 1
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${SiteName}-site"
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: !Ref SiteName
Outputs:
  URL:
    Value: !GetAtt Bucket.WebsiteURL
`

// stackBody builds a stack body the way the envs parser hands it over: JSON.
func stackBody(t *testing.T, s mfaws.Stack) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func siteStack(t *testing.T) json.RawMessage {
	return stackBody(t, mfaws.Stack{Template: siteTemplate, Parameters: map[string]string{"SiteName": "{{.Name}}-{{.Params.customer}}"}})
}

func request(t *testing.T, stack json.RawMessage) envs.ProvisionRequest {
	return envs.ProvisionRequest{EnvironmentID: "env-abc123", Name: "demo", Owner: "ada", Template: "site", Version: "1.2.0",
		Stack: stack, Params: map[string]string{"customer": "acme"}, ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		InstanceID: instance, Attempt: 1}
}

// waitState polls Status until the stack leaves in_progress, collecting events.
func waitState(t *testing.T, p *mfaws.Provider, h string) (envs.StackStatus, []string) {
	t.Helper()
	var msgs []string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		st, err := p.Status(context.Background(), h)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		for _, ev := range st.Events {
			msgs = append(msgs, ev.Message)
		}
		if st.State != envs.StackInProgress {
			return st, msgs
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("stack %s still in progress", h)
	return envs.StackStatus{}, nil
}

// waitDestroyed calls Destroy until it reports done.
func waitDestroyed(t *testing.T, p *mfaws.Provider, h string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		done, err := p.Destroy(context.Background(), h)
		if err != nil {
			t.Fatalf("Destroy: %v", err)
		}
		if done {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("stack %s not destroyed", h)
}

func stackOf(t *testing.T, srv *awstest.Server, name string) awstest.Stack {
	t.Helper()
	var found []awstest.Stack
	for _, s := range srv.Stacks() {
		if strings.HasPrefix(s.Name, name) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("stacks named %s: got %d, want 1", name, len(found))
	}
	return found[0]
}

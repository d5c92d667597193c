package aws_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/envs"
)

// The ClientRequestToken follows ProvisionRequest.Attempt: a re-run of one
// attempt is the same CreateStack request, a new attempt a new one.
func TestProvisionAttempts(t *testing.T) {
	ctx := context.Background()
	t.Run("a re-run of an attempt whose stack failed and was deleted gets that stack back; the next attempt a new stack", func(t *testing.T) {
		p, srv := newProvider(t)
		srv.FailCreate("Topic", "Access Denied")
		req := request(t, siteStack(t))
		h1, err := p.Provision(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := waitState(t, p, h1); st.State != envs.StackFailed {
			t.Fatalf("first attempt: %s, want failed", st.State)
		}
		waitDestroyed(t, p, h1)
		srv.FailCreate("Topic", "")

		again, err := p.Provision(ctx, req)
		if err != nil || again != h1 || len(srv.Stacks()) != 1 {
			t.Errorf("re-run of attempt 1: %s, %v, %d stacks; want %s and still one stack", again, err, len(srv.Stacks()), h1)
		}
		req.Attempt = 2
		h2, err := p.Provision(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if h2 == h1 || len(srv.Stacks()) != 2 {
			t.Fatalf("attempt 2: %s (attempt 1 %s), %d stacks; want a new stack", h2, h1, len(srv.Stacks()))
		}
		if st, _ := waitState(t, p, h2); st.State != envs.StackReady {
			t.Errorf("attempt 2: %s, want ready", st.State)
		}
		for i, st := range srv.Stacks() {
			if want := []string{"-launch-1", "-launch-2"}[i]; !strings.HasSuffix(st.Token, want) {
				t.Errorf("stack %d token %q, want it to end in %s", i, st.Token, want)
			}
		}
	})
	t.Run("the next attempt after a lost answer adopts the stack", func(t *testing.T) {
		p, srv := newProvider(t)
		srv.DropAfter("CreateStack", 5) // every try of the SDK's retryer
		req := request(t, siteStack(t))
		if _, err := p.Provision(ctx, req); err == nil {
			t.Fatal("attempt 1: no error though every answer was lost")
		}
		req.Attempt = 2
		h, err := p.Provision(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if stacks := srv.Stacks(); len(stacks) != 1 || !strings.HasPrefix(h, stacks[0].ID) {
			t.Errorf("attempt 2: %s with %d stacks; want the one attempt 1 created", h, len(stacks))
		}
	})
}

// A CreateStack whose caller gave up (a destroy was requested, the job
// stopped) still gets its answer: a stack CloudFormation took must come
// back with its id, or nothing could find it to delete it.
func TestCreateStackIsNotCutByItsCaller(t *testing.T) {
	p, srv := newProvider(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h, err := p.Provision(ctx, request(t, siteStack(t)))
	if err != nil || h == "" {
		t.Fatalf("Provision with a cancelled context: %q, %v; want the stack's handle", h, err)
	}
	if st := stackOf(t, srv, "mayfly-demo-abc123"); !strings.HasPrefix(h, st.ID) {
		t.Errorf("handle %q, want the created stack %s", h, st.ID)
	}
	waitDestroyed(t, p, h)
}

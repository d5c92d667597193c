package envs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
)

// TestProviderTurnedOff: a launch accepted while its provider was on and
// not provisioned when the provider is turned off fails without one call
// to it, and is cleaned up; publishing and launching are refused.
func TestProviderTurnedOff(t *testing.T) {
	ctx := context.Background()
	db, cipher := openStore(t)
	p := newFaultyProvider(nil)
	on, err := envs.New(envs.Config{Store: db, Providers: []envs.Provider{p}, Cipher: cipher})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := on.Publish(ctx, envs.System, []byte(faultyTemplate)); err != nil {
		t.Fatal(err)
	}
	member := envs.Actor{Name: "bob", Role: envs.RoleMember}
	e, err := on.Launch(ctx, member, envs.LaunchRequest{Template: "faulty", Name: "inflight"})
	if err != nil {
		t.Fatal(err)
	}

	off, err := envs.New(envs.Config{Store: db, ProvidersOff: []envs.Provider{p}, Cipher: cipher,
		PollInterval: 20 * time.Millisecond, RetryDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = off.Publish(ctx, envs.System, []byte(strings.Replace(faultyTemplate, "1.0.0", "1.0.1", 1)))
	if fs := envs.ErrorFields(err); len(fs) != 1 || fs[0].Field != "provider" || !strings.Contains(fs[0].Message, "turned off") {
		t.Errorf("publish: %v, want a field error on provider saying it is turned off", err)
	}
	_, err = off.Launch(ctx, member, envs.LaunchRequest{Template: "faulty"})
	if fs := envs.ErrorFields(err); len(fs) != 1 || fs[0].Field != "template" || !strings.Contains(fs[0].Message, "--providers") {
		t.Errorf("launch: %v, want a field error on template naming the setting", err)
	}
	if err := off.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { off.Stop(context.Background()) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := off.Environment(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		// A failed launch stays failed; its stack is cleaned up.
		if got.Status == envs.StatusFailed && got.StackCleanedAt != nil {
			if !strings.Contains(got.FailureReason, "the faulty provider is turned off") {
				t.Errorf("failure reason = %q", got.FailureReason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %s (%s), want failed with its stack cleaned up", got.Status, got.StatusReason)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := p.callsOf("inflight")["Provision"]; n != 0 {
		t.Errorf("Provision called %d times with the provider off", n)
	}
}

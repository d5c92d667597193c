package envs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/storage"
)

// instantProvider is a provider whose stacks are ready at once: it measures
// what the orchestrator itself costs, the provider's own time aside.
type instantProvider struct{}

func (instantProvider) Name() string                             { return "instant" }
func (instantProvider) ValidateStack(json.RawMessage) error      { return nil }
func (instantProvider) Stacks(context.Context) ([]string, error) { return nil, nil }
func (instantProvider) Provision(_ context.Context, r envs.ProvisionRequest) (string, error) {
	return r.EnvironmentID, nil
}
func (instantProvider) Status(context.Context, string) (envs.StackStatus, error) {
	return envs.StackStatus{State: envs.StackReady, Outputs: map[string]string{"url": "http://example.invalid/"}}, nil
}
func (instantProvider) Destroy(context.Context, string) (bool, error) { return true, nil }
func (instantProvider) Logs(context.Context, string, string, int) ([]envs.LogStream, error) {
	return nil, nil
}

const instantTemplate = `name: instant
version: 1.0.0
kind: demo
description: ready at once
owner: bench
provider: instant
ttl: {default: 1h, max: 2h}
stack: {}
`

func newBenchService(b *testing.B) *envs.Service {
	b.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		b.Fatal(err)
	}
	cipher, _ := envs.NewCipher(make([]byte, 32))
	svc, err := envs.New(envs.Config{Store: db, Providers: []envs.Provider{instantProvider{}}, Cipher: cipher,
		PollInterval: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := svc.Publish(ctx, envs.System, []byte(instantTemplate)); err != nil {
		b.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Stop(context.Background()) })
	return svc
}

// BenchmarkLaunchToReady measures launches per second from Launch to ready
// with a provider that takes no time.
func BenchmarkLaunchToReady(b *testing.B) {
	svc := newBenchService(b)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	ids := make([]string, b.N)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			e, err := svc.Launch(ctx, envs.Actor{Name: "bench", Role: envs.RoleMember}, envs.LaunchRequest{Template: "instant", Name: fmt.Sprintf("b-%d", i)})
			if err != nil {
				b.Error(err)
				return
			}
			ids[i] = e.ID
		}(i)
	}
	wg.Wait()
	for _, id := range ids {
		for {
			e, err := svc.Environment(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if e.Status == envs.StatusReady {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "launches/s")
}

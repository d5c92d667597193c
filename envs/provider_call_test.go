package envs

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type namedProvider struct{ Provider }

func (namedProvider) Name() string { return "test" }

func TestCallProvider(t *testing.T) {
	s := &Service{cfg: Config{JobTimeout: 400 * time.Millisecond}, log: slog.New(slog.DiscardHandler)}
	p := namedProvider{}
	release := make(chan struct{})
	defer close(release)
	tests := []struct {
		name    string
		cancel  bool // the queue stops instead of the job timing out
		call    func(ctx context.Context) (string, error)
		want    string // "" for success
		attempt bool   // uses one of the job's attempts
	}{
		{"a success passes through", false, func(context.Context) (string, error) { return "h", nil }, "", false},
		{"an error uses an attempt", false, func(context.Context) (string, error) { return "", errors.New("quota exceeded") },
			"quota exceeded", true},
		{"a panic becomes an error quoting it", false, func(context.Context) (string, error) { panic("boom") },
			"Provision panicked: boom", true},
		{"a call honouring the timeout times out", false, func(ctx context.Context) (string, error) { <-ctx.Done(); return "", ctx.Err() },
			"Provision timed out after 400ms", true},
		{"a call ignoring the timeout is abandoned after the grace", false, func(context.Context) (string, error) { <-release; return "late", nil },
			"Provision timed out after 400ms", true},
		{"stopping the queue is not the provider's fault", true, func(ctx context.Context) (string, error) { <-ctx.Done(); return "", ctx.Err() },
			"context canceled", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.JobTimeout)
			defer cancel()
			if tt.cancel {
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			start := time.Now()
			h, err := callProvider(ctx, s, p, "Provision", tt.call)
			if took, limit := time.Since(start), s.cfg.JobTimeout+s.cfg.JobTimeout/4+time.Second; took > limit {
				t.Errorf("returned after %s, want within %s", took, limit)
			}
			if tt.want == "" {
				if err != nil || h != "h" {
					t.Fatalf("got %q, %v; want h, nil", h, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
			if got := isFailedAttempt(err); got != tt.attempt {
				t.Errorf("uses an attempt: %v, want %v", got, tt.attempt)
			}
			if tt.cancel && !stopping(ctx, err) {
				t.Errorf("%v is not seen as the queue stopping (River would count the attempt)", err)
			}
		})
	}
}

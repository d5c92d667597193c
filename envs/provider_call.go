package envs

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// callProvider runs one provider call of a job so that whatever goes wrong
// in it stays one failed attempt of that job and names the fault:
//   - a panic is recovered and becomes an error that quotes it (the stack is
//     logged), so the job records the failure instead of River retrying a
//     panicking worker until it discards the job;
//   - a call still running a grace after the job's context ends (the job
//     timeout, or the queue stopping) is abandoned: the job returns and the
//     call's goroutine finishes on its own, so a provider that ignores its
//     context cannot hold a worker;
//   - a call cut by the job timeout fails with "timed out after <timeout>"
//     rather than "context deadline exceeded".
//
// A context cancelled because the queue is stopping is returned wrapped, so
// River hands the job back without counting the attempt.
func callProvider[T any](ctx context.Context, s *Service, p Provider, op string, fn func(context.Context) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned call never blocks
	go func() {
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("provider panicked", "provider", p.Name(), "call", op, "panic", maskerFrom(ctx).mask(fmt.Sprint(v)), "stack", string(debug.Stack()))
				done <- result{err: fmt.Errorf("%s: %s panicked: %v", p.Name(), op, v)}
			}
		}()
		v, err := fn(ctx)
		done <- result{v: v, err: err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		// A provider that honours its context returns at once. One that
		// does not gets a grace, so a call finishing its work (a local
		// stack's processes being stopped) is not left running beside the
		// job's next attempt or after shutdown; then it is abandoned.
		grace := min(s.cfg.JobTimeout/4, 30*time.Second)
		timer := time.NewTimer(grace)
		select {
		case res = <-done:
		case <-timer.C:
			s.log.Warn("provider call abandoned", "provider", p.Name(), "call", op, "grace", grace.String())
			res.err = ctx.Err()
		}
		timer.Stop()
	}
	switch {
	case res.err == nil:
		return res.v, nil
	case ctx.Err() == nil:
		return res.v, &failedAttempt{res.err}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return res.v, &failedAttempt{fmt.Errorf("%s: %s timed out after %s", p.Name(), op, FormatDuration(s.cfg.JobTimeout))}
	default: // the queue is stopping: not the provider's fault
		return res.v, fmt.Errorf("%s: %s: %w", p.Name(), op, ctx.Err())
	}
}

// callDestroy is p.Destroy(handle) through callProvider.
func (s *Service) callDestroy(ctx context.Context, p Provider, handle string) (bool, error) {
	return callProvider(ctx, s, p, "Destroy", func(ctx context.Context) (bool, error) { return p.Destroy(ctx, handle) })
}

// failedAttempt is a failure that uses one of its job's attempts: a
// provider call that failed, panicked or timed out, or secrets that cannot
// be decrypted. Other errors (the database) are retried without deciding
// the environment's fate.
type failedAttempt struct{ err error }

func (f *failedAttempt) Error() string { return f.err.Error() }
func (f *failedAttempt) Unwrap() error { return f.err }

func isFailedAttempt(err error) bool {
	var f *failedAttempt
	return errors.As(err, &f)
}

// stopping reports whether err is a job's context cancelled by the queue
// stopping: the job is handed back, not failed.
func stopping(ctx context.Context, err error) bool {
	return errors.Is(err, context.Canceled) && ctx.Err() != nil
}

// recordCtx is for writing down the outcome of a step whose own context may
// be over (a step cut by the job timeout must still be recorded as failed).
func recordCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

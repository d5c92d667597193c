package envs

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// callProvider runs one provider call of a job so that whatever goes wrong
// in it stays one failed attempt of that job and names the fault:
//   - a panic is recovered and becomes an error that quotes it (the stack is
//     logged), so the job records the failure instead of River retrying a
//     panicking worker until it discards the job;
//   - a call still running when the job's context ends (the job timeout) is
//     abandoned: the job returns at once and the call's goroutine finishes on
//     its own, so a provider that ignores its context cannot hold a worker;
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
				s.log.Error("provider panicked", "provider", p.Name(), "call", op, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
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
		select {
		case res = <-done: // it returned at the same moment
		default:
			res.err = ctx.Err()
		}
	}
	if res.err == nil || ctx.Err() == nil {
		return res.v, res.err
	}
	var zero T
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return zero, fmt.Errorf("%s: %s timed out after %s", p.Name(), op, FormatDuration(s.cfg.JobTimeout))
	}
	return zero, fmt.Errorf("%s: %s: %w", p.Name(), op, ctx.Err())
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

// lastAttemptError is the error River recorded for a job's previous attempt.
func lastAttemptError(errs []rivertype.AttemptError) string {
	if len(errs) == 0 || errs[len(errs)-1].Error == "" {
		return "the previous attempt failed"
	}
	return errs[len(errs)-1].Error
}

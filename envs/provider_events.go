package envs

import (
	"context"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// provisioningStatuses are the statuses in which a launch's progress goes
// into its timeline: once a destroy is requested (or the launch ended),
// what a provider still reports about building the stack is dropped, so
// the timeline never shows "service started" after "Destroy requested".
var provisioningStatuses = statusStrings(StatusPending, StatusProvisioning)

// providerEvents appends provider events to the timeline, each once: events
// a provider may repeat (those with an ID) are skipped when their message
// is already there. The timeline is read only when such events arrive.
// Messages are masked (a command line may quote a secret).
func (s *Service) providerEvents(ctx context.Context, r *storage.Environment, evs []ProviderEvent) {
	if len(evs) == 0 {
		return
	}
	m := s.maskerOf(ctx, r)
	var recorded map[string]bool
	for _, ev := range evs {
		if ev.ID != "" && recorded == nil {
			recorded = s.recordedProviderEvents(ctx, r.ID)
		}
		msg := oneLine(m.mask(ev.Message))
		if ev.ID != "" && recorded[msg] {
			continue
		}
		if recorded != nil {
			recorded[msg] = true
		}
		s.progressEvent(ctx, r.ID, ev.At, msg)
	}
}

// recordedProviderEvents is the set of provider messages already in a
// timeline.
func (s *Service) recordedProviderEvents(ctx context.Context, envID string) map[string]bool {
	recorded := map[string]bool{}
	rows, err := s.store.Events(ctx, envID, 0, 0)
	if err != nil {
		s.log.Error("read timeline", "environment", envID, "err", err)
	}
	for _, r := range rows {
		if r.Kind == EventProvider {
			recorded[r.Message] = true
		}
	}
	return recorded
}

// progressEvent records one step of a launch, at the time the provider
// says it happened, while the environment is still being provisioned (see
// provisioningStatuses); it reports whether it did. A failure to record it
// is logged and does not fail the job.
func (s *Service) progressEvent(ctx context.Context, envID string, at time.Time, msg string) bool {
	if at.IsZero() {
		at = s.now()
	}
	ev := &storage.Event{EnvironmentID: envID, At: at.UTC().Truncate(time.Microsecond), Kind: EventProvider, Message: msg}
	added, err := s.store.AddEventWhile(ctx, ev, provisioningStatuses)
	if err != nil {
		s.log.Error("record event", "environment", envID, "err", err)
		return false
	}
	if added {
		s.hub.notify(envID)
	}
	return added
}

// progress is the Progress of one Provision call: what the provider
// reports goes into the environment's timeline at once. Once the call is
// over (closed), reports are dropped: they would come from a call the job
// abandoned (see callProvider), which no longer speaks for the launch.
type progress struct {
	s   *Service
	r   *storage.Environment
	m   *masker
	ctx context.Context // the job's, without its cancellation (see newProgress)

	mu       sync.Mutex
	closed   bool
	created  string          // the handle StackCreated reported
	recorded map[string]bool // provider messages in the timeline, for events with an ID
}

// newProgress is the Progress of a Provision call made with ctx. Its
// records are written even once ctx is cancelled (a destroy requested, the
// job timing out): the environment's status decides whether they still
// belong in the timeline, and a write cut half-way would only log noise.
func (s *Service) newProgress(ctx context.Context, r *storage.Environment) *progress {
	return &progress{s: s, r: r, m: s.maskerOf(ctx, r), ctx: context.WithoutCancel(ctx)}
}

// report runs fn with a context for its records, one report at a time,
// unless the call is over.
func (p *progress) report(fn func(ctx context.Context)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	fn(ctx)
}

func (p *progress) StackCreated(handle string) {
	p.report(func(ctx context.Context) {
		msg := stackCreatedMessage(handle)
		// A Provision retried after a crash or a failed attempt builds the
		// same stack again and says so; "Stack created" is shown once.
		if has, err := p.s.store.HasEvent(ctx, p.r.ID, EventProvider, msg); err != nil {
			p.s.log.Error("read timeline", "environment", p.r.ID, "err", err)
		} else if !has {
			p.s.progressEvent(ctx, p.r.ID, time.Time{}, msg)
		}
		p.created = handle
	})
}

func (p *progress) Event(ev ProviderEvent) {
	p.report(func(ctx context.Context) { p.event(ctx, ev) })
}

func (p *progress) event(ctx context.Context, ev ProviderEvent) {
	msg := oneLine(p.m.mask(ev.Message))
	if ev.ID != "" {
		if p.recorded == nil {
			p.recorded = p.s.recordedProviderEvents(ctx, p.r.ID)
		}
		if p.recorded[msg] {
			return
		}
		p.recorded[msg] = true
	}
	p.s.progressEvent(ctx, p.r.ID, ev.At, msg)
}

// close ends the call's reporting and returns the handle StackCreated
// reported ("" if none).
func (p *progress) close() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return p.created
}

package envs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// Reading environments: one, a filtered page of them, their counts,
// timelines, logs and the failures an admin should see.

// Environment loads one environment.
func (s *Service) Environment(ctx context.Context, id string) (*Environment, error) {
	for try := 1; ; try++ {
		r, err := s.store.Environment(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, Errorf(ENotFound, "environment %q does not exist", id)
		}
		if err != nil {
			return nil, err
		}
		e := environmentFromRow(r, splitNames(r.SecretNames))
		if err := s.attach(ctx, []*Environment{e}); err != nil {
			return nil, err
		}
		// The stacks are read after the row: a switch committed in between
		// shows another stack in service than the row's, so it is read again.
		consistent, err := s.attachStacks(ctx, e)
		if err != nil {
			return nil, err
		}
		if err := s.attachDeprecation(ctx, e); err != nil {
			return nil, err
		}
		if consistent || try == 3 {
			return e, nil
		}
	}
}

// Filter narrows an environment listing.
type Filter struct {
	Statuses []Status
	Owner    string
	Template string
	Name     string // an exact environment name (a live one is unique; destroyed ones may share it)
	Search   string // a part of the name, in any case
	// Drifted keeps the environments whose stack's last drift check found
	// drift (true) or did not (false); nil: all.
	Drifted *bool
	// Labels are key=value items (the API's ?label=pr=123, repeatable):
	// an environment must carry every one.
	Labels []string
	Limit  int
	Offset int
	// Cursor continues a listing from the Next or Prev of an
	// EnvironmentPage (see EnvironmentPage; Offset is then ignored).
	Cursor string
}

// Environments lists environments, newest first.
func (s *Service) Environments(ctx context.Context, f Filter) ([]*Environment, error) {
	sf, err := storageFilter(f)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.Environments(ctx, sf)
	if err != nil {
		return nil, err
	}
	list := environmentsFromRows(rows)
	if err := s.attach(ctx, list); err != nil {
		return nil, err
	}
	return list, nil
}

// EnvironmentPage is one page of a listing, newest first, with the cursors
// of its neighbours ("" where there is none).
type EnvironmentPage struct {
	Environments []*Environment
	Next         string // the older environments
	Prev         string // the newer environments
}

// EnvironmentPage lists one page of f.Limit environments (keyset
// pagination: a page costs the same however deep it is, and environments
// launched meanwhile do not shift it).
func (s *Service) EnvironmentPage(ctx context.Context, f Filter) (EnvironmentPage, error) {
	if f.Limit <= 0 {
		return EnvironmentPage{}, errors.New("envs: EnvironmentPage needs a limit")
	}
	sf, err := storageFilter(f)
	if err != nil {
		return EnvironmentPage{}, err
	}
	sf.Offset, sf.Limit = 0, f.Limit+1 // one more tells whether there is a next page
	rows, err := s.store.Environments(ctx, sf)
	if err != nil {
		return EnvironmentPage{}, err
	}
	more := len(rows) > f.Limit
	if sf.Before != nil && !more {
		// Fewer than a page is newer: that is the first page.
		sf.Before = nil
		if rows, err = s.store.Environments(ctx, sf); err != nil {
			return EnvironmentPage{}, err
		}
		more = len(rows) > f.Limit
	}
	var page EnvironmentPage
	switch {
	case sf.Before != nil:
		rows = rows[1:] // the extra row is the newest one
		page.Prev = cursorOf(rows[0], "p")
		page.Next = cursorOf(rows[len(rows)-1], "n")
	case sf.After != nil:
		if len(rows) > 0 {
			page.Prev = cursorOf(rows[0], "p")
		}
		if more {
			rows = rows[:f.Limit]
			page.Next = cursorOf(rows[len(rows)-1], "n")
		}
	default:
		if more {
			rows = rows[:f.Limit]
			page.Next = cursorOf(rows[len(rows)-1], "n")
		}
	}
	page.Environments = environmentsFromRows(rows)
	if err := s.attach(ctx, page.Environments); err != nil {
		return EnvironmentPage{}, err
	}
	return page, nil
}

// A cursor is "n" (the page after) or "p" (the page before) and a
// listing key, base64url-encoded: opaque to clients, and readable back
// without any state kept on the server.
func cursorOf(r storage.Environment, dir string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(dir + r.CreatedAt.UTC().Format(time.RFC3339Nano) + " " + r.ID))
}

func parseCursor(c string) (after, before *storage.ListKey, err error) {
	invalid := Invalid("filter is not valid", FieldError{Field: "cursor", Message: "is not a cursor from a previous page"})
	b, derr := base64.RawURLEncoding.DecodeString(c)
	if derr != nil || len(b) < 2 {
		return nil, nil, invalid
	}
	at, id, ok := strings.Cut(string(b[1:]), " ")
	t, terr := time.Parse(time.RFC3339Nano, at)
	if !ok || terr != nil || id == "" {
		return nil, nil, invalid
	}
	key := &storage.ListKey{CreatedAt: t.UTC(), ID: id}
	switch b[0] {
	case 'n':
		return key, nil, nil
	case 'p':
		return nil, key, nil
	}
	return nil, nil, invalid
}

// Bounds of a listing's filter: there are seven statuses (a repeated one is
// dropped), and an owner, a template name or a cursor is far shorter. A
// query string may be a megabyte: 40,000 statuses became as many query
// parameters, past what SQLite accepts (a 500).
const (
	maxFilterStatuses = 32
	maxFilterText     = 512
)

// checkFilterText refuses a filter value that is too long or that the
// database cannot take as text.
func checkFilterText(field, value string) error {
	if len(value) > maxFilterText {
		return Invalid("filter is not valid", FieldError{Field: field, Message: fmt.Sprintf("must be at most %d bytes", maxFilterText)})
	}
	if msg := textProblem(value); msg != "" {
		return Invalid("filter is not valid", FieldError{Field: field, Message: msg})
	}
	return nil
}

// storageFilter checks a filter and turns it into storage's. The statuses
// of everything but destroyed become Undestroyed, and the live ones Live,
// which partial indexes serve.
func storageFilter(f Filter) (storage.EnvironmentFilter, error) {
	invalid := func(field, format string, args ...any) error {
		return Invalid("filter is not valid", FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if len(f.Statuses) > maxFilterStatuses {
		return storage.EnvironmentFilter{}, invalid("status", "%d values; give at most %d (there are %d statuses)", len(f.Statuses), maxFilterStatuses, len(Statuses))
	}
	var statuses []Status
	for _, st := range f.Statuses {
		if !st.Valid() {
			return storage.EnvironmentFilter{}, invalid("status", "%q is not a status (%s)", truncate(string(st), 40), strings.Join(statusStrings(Statuses...), ", "))
		}
		if !slices.Contains(statuses, st) {
			statuses = append(statuses, st)
		}
	}
	for _, v := range []struct{ field, value string }{{"owner", f.Owner}, {"template", f.Template}, {"name", f.Name}, {"q", f.Search}, {"cursor", f.Cursor}} {
		if err := checkFilterText(v.field, v.value); err != nil {
			return storage.EnvironmentFilter{}, err
		}
	}
	f.Statuses = statuses
	labels, err := ParseLabelFilter(f.Labels)
	if err != nil {
		return storage.EnvironmentFilter{}, err
	}
	sf := storage.EnvironmentFilter{Statuses: statusStrings(f.Statuses...), Owner: f.Owner, Template: f.Template,
		Name: f.Name, Search: f.Search, Drifted: f.Drifted, Labels: labels, Limit: f.Limit, Offset: f.Offset}
	switch {
	case sameStatuses(f.Statuses, func(st Status) bool { return st != StatusDestroyed }):
		sf.Statuses, sf.Undestroyed = nil, true
	case sameStatuses(f.Statuses, Status.Live):
		sf.Statuses, sf.Live = nil, true
	}
	if f.Cursor != "" {
		var err error
		if sf.After, sf.Before, err = parseCursor(f.Cursor); err != nil {
			return storage.EnvironmentFilter{}, err
		}
		for _, key := range []*storage.ListKey{sf.After, sf.Before} {
			if key != nil && textProblem(key.ID) != "" {
				return storage.EnvironmentFilter{}, invalid("cursor", "is not a cursor from a previous page")
			}
		}
		sf.Offset = 0
	}
	return sf, nil
}

// sameStatuses reports whether ss holds exactly the statuses for which in
// is true.
func sameStatuses(ss []Status, in func(Status) bool) bool {
	for _, st := range Statuses {
		if slices.Contains(ss, st) != in(st) {
			return false
		}
	}
	return true
}

func environmentsFromRows(rows []storage.Environment) []*Environment {
	out := make([]*Environment, len(rows))
	for i := range rows {
		out[i] = environmentFromRow(&rows[i], splitNames(rows[i].SecretNames))
	}
	return out
}

// countsFresh is how long Counts reuses a count: counting is a scan of
// every environment (a covering index, ~8 ms for 100,000 on SQLite), and the
// environments page's tabs and /metrics need no fresher figure than that.
const countsFresh = time.Second

// Counts is the number of environments per status, as counted at most
// countsFresh ago.
func (s *Service) Counts(ctx context.Context) (map[Status]int, error) {
	s.counts.mu.Lock() // one count at a time; callers meanwhile wait for it
	defer s.counts.mu.Unlock()
	if s.counts.byStatus != nil && time.Since(s.counts.at) < countsFresh {
		return maps.Clone(s.counts.byStatus), nil
	}
	m, err := s.store.CountByStatus(ctx)
	if err != nil {
		return nil, err
	}
	out := map[Status]int{}
	for k, v := range m {
		out[Status(k)] = v
	}
	s.counts.byStatus, s.counts.at = out, time.Now()
	return maps.Clone(out), nil
}

// Events returns an environment's timeline after the given event id.
func (s *Service) Events(ctx context.Context, id string, after int64) ([]Event, error) {
	if _, err := s.Environment(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.store.Events(ctx, id, after, 0)
	if err != nil {
		return nil, err
	}
	out := make([]Event, len(rows))
	for i, r := range rows {
		out[i] = eventFromRow(r)
	}
	return out, nil
}

// RecentEvents returns the newest n events of an environment's timeline,
// oldest first, and whether older ones exist.
func (s *Service) RecentEvents(ctx context.Context, id string, n int) ([]Event, bool, error) {
	if _, err := s.Environment(ctx, id); err != nil {
		return nil, false, err
	}
	rows, err := s.store.LastEvents(ctx, id, n+1)
	if err != nil {
		return nil, false, err
	}
	earlier := len(rows) > n
	if earlier {
		rows = rows[1:]
	}
	out := make([]Event, len(rows))
	for i, r := range rows {
		out[i] = eventFromRow(r)
	}
	return out, earlier, nil
}

// Subscribe wakes the caller when the environment's timeline may have grown.
func (s *Service) Subscribe(id string) (<-chan struct{}, func()) { return s.hub.subscribe(id) }

// Logs returns an environment's captured logs, at most limit bytes of
// each stream, with its secrets masked (the stack's programs write the
// logs; they may print a secret as they please).
func (s *Service) Logs(ctx context.Context, id, service string, limit int) ([]LogStream, error) {
	r, err := s.store.Environment(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, Errorf(ENotFound, "environment %q does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	p, ok := s.providers[r.Provider]
	if !ok || r.Handle == "" {
		return nil, nil
	}
	m := s.masker(r)
	if m == nil {
		return p.Logs(ctx, r.Handle, service, limit)
	}
	// Asked for a little more, so a secret cut at the front of the tail
	// is whole in what is read (see masker.maskTail).
	ask := limit
	if limit > 0 {
		ask += m.longest()
	}
	streams, err := p.Logs(ctx, r.Handle, service, ask)
	if err != nil {
		return nil, err
	}
	for i := range streams {
		streams[i].Text, streams[i].Truncated = m.maskTail(streams[i].Text, streams[i].Truncated, limit)
	}
	return streams, nil
}

// Failures lists environments that need an admin's eye: failed launches and
// stacks that could not be destroyed.
func (s *Service) Failures(ctx context.Context) ([]*Environment, error) {
	return s.Environments(ctx, Filter{Statuses: []Status{StatusDestroyFailed, StatusFailed}, Limit: 200})
}

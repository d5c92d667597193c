package web

import (
	"context"
	"fmt"
	"time"
)

// How pages show time (decision 172): every point in time goes through
// the when component (components.templ), which shows Ago's relative text
// ("5m ago", "in 3h") with DateTime's exact UTC time as its title and
// RFC 3339 in its datetime attribute; the timeline, where the order and
// the gaps between events matter, uses its clock form (whenClock). Every
// duration is Duration's. A time-left countdown stays Countdown, which
// ticks every second.

type clockKey struct{}

// WithClock gives the pages rendered with ctx their clock (the service's,
// so that relative times agree with the rest of the page).
func WithClock(ctx context.Context, now func() time.Time) context.Context {
	return context.WithValue(ctx, clockKey{}, now)
}

// nowOf is the clock of ctx, or the wall clock.
func nowOf(ctx context.Context) time.Time {
	if f, ok := ctx.Value(clockKey{}).(func() time.Time); ok && f != nil {
		return f()
	}
	return time.Now()
}

// Countdown formats the time left before an expiry the way the live
// countdowns in static/src/app.js do (keep both in step): "42s", "3m 12s",
// "1h 04m", "2d 03h", and "expired" once it is zero or less.
func Countdown(d time.Duration) string {
	if d <= 0 {
		return "expired"
	}
	s := int64(d / time.Second)
	m, h, days := s/60, s/3600, s/86400
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case h < 1:
		return fmt.Sprintf("%dm %02ds", m, s%60)
	case days < 1:
		return fmt.Sprintf("%dh %02dm", h, m%60)
	default:
		return fmt.Sprintf("%dd %02dh", days, h%24)
	}
}

// TimeLeft is Countdown from now until t.
func TimeLeft(now, t time.Time) string {
	return Countdown(t.Sub(now))
}

// Ago formats t relative to now: "just now", "5m ago", "3h ago", "2d ago",
// and for future times "in 5m", "in 3h". Beyond a month it gives the date.
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < 45*time.Second:
		return "just now"
	case d < time.Hour:
		s = fmt.Sprintf("%dm", max(1, int64(d/time.Minute)))
	case d < 24*time.Hour:
		s = fmt.Sprintf("%dh", int64(d/time.Hour))
	case d < 30*24*time.Hour:
		s = fmt.Sprintf("%dd", int64(d/(24*time.Hour)))
	default:
		return Date(t)
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// Duration formats a duration for people: "45s", "14.2s", "12m",
// "1h 30m", "2d 4h". Under a minute it keeps a tenth of a second (an RTO
// of a few seconds is worth reading precisely); past that it keeps the
// two largest units.
func Duration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		tenths := int64(d.Round(100*time.Millisecond) / (100 * time.Millisecond))
		if tenths == 600 {
			return "1m"
		}
		if tenths%10 == 0 {
			return fmt.Sprintf("%ds", tenths/10)
		}
		return fmt.Sprintf("%d.%ds", tenths/10, tenths%10)
	case d < time.Hour:
		return fmt.Sprintf("%dm", int64(d/time.Minute))
	case d < 24*time.Hour:
		h, m := int64(d/time.Hour), int64(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh %dm", h, m)
	default:
		days, h := int64(d/(24*time.Hour)), int64(d%(24*time.Hour)/time.Hour)
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd %dh", days, h)
	}
}

// DateTime formats t in UTC for people: "2026-01-02 15:04 UTC". Pages show
// it until app.js replaces it with the browser's local time.
func DateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// Date formats the day of t in UTC: "2026-01-02".
func Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}

// Clock formats the time of day of t in UTC: "15:04:05".
func Clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("15:04:05")
}

// RFC3339 formats t for machines (datetime and data-expires-at attributes).
func RFC3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// soon is how close to its expiry an environment's countdown turns amber;
// static/src/app.js uses the same threshold.
const soon = 15 * time.Minute

// expiringSoon reports whether t is in the future but within soon of now.
func expiringSoon(now, t time.Time) bool {
	d := t.Sub(now)
	return d > 0 && d < soon
}

// nowOr returns t, or the current time if t is zero (a view built without a
// clock).
func nowOr(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

package handlers

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v5"
	"golang.org/x/time/rate"

	"github.com/mayflyhq/mayfly/envs"
)

// limiter is a token bucket per client address. It is in memory, so with
// several replicas each enforces its own share; that still bounds guessing
// by a factor of the replica count.
type limiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{every: rate.Limit(perSecond), burst: burst, buckets: map[string]*bucket{}}
}

// allow reports whether addr may make one more request now and, if not,
// how long it should wait before the next one.
func (l *limiter) allow(addr string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	// Forget idle addresses now and then so the map cannot grow without bound.
	if now.Sub(l.sweep) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.sweep = now
	}
	b, ok := l.buckets[addr]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.buckets[addr] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now) // a refused request does not use up the next token
		return false, wait
	}
	return true, 0
}

// limit answers 429 with Retry-After (whole seconds, at least 1) when the
// client's address is over l's limit; what names the limited thing.
func limit(c *echo.Context, l *limiter, what string) error {
	addr := c.RealIP()
	ok, wait := l.allow(addr)
	if ok {
		return nil
	}
	c.Response().Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	return envs.Errorf(envs.ETooMany, "too many %s from %s; try again in %s", what, addr, wait.Round(time.Second).String())
}

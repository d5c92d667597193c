package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

// maxWait caps ?timeout= of a long-poll: a client that wants longer asks
// again, and no request holds a connection for minutes.
const maxWait = 60 * time.Second

// waitHeader says how a long-poll ended: reached (the environment is in the
// state asked for), unreachable (it is in a state it cannot get there from:
// a failed launch never becomes ready) or timeout (still on its way).
const waitHeader = "Mayfly-Wait"

// waitFor parses ?wait= (ready or destroyed) and ?timeout= (a duration,
// default and cap maxWait); wait "" means no waiting.
func waitFor(c *echo.Context) (envs.Status, time.Duration, error) {
	var want envs.Status
	switch w := c.QueryParam("wait"); w {
	case "":
		if c.QueryParam("timeout") != "" {
			return "", 0, envs.Invalid("query is not valid", envs.FieldError{Field: "timeout", Message: "needs wait=ready or wait=destroyed"})
		}
		return "", 0, nil
	case "ready":
		want = envs.StatusReady
	case "destroyed":
		want = envs.StatusDestroyed
	default:
		return "", 0, envs.Invalid("query is not valid", envs.FieldError{Field: "wait", Message: "must be ready or destroyed"})
	}
	timeout := maxWait
	if s := c.QueryParam("timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return "", 0, envs.Invalid("query is not valid", envs.FieldError{Field: "timeout", Message: "must be a duration such as 30s (at most 60s)"})
		}
		timeout = min(d, maxWait)
	}
	return want, timeout, nil
}

// waitOutcome is reached, unreachable or "" (keep waiting) for an
// environment in status st waiting for want.
func waitOutcome(st, want envs.Status) string {
	switch {
	case st == want:
		return "reached"
	case want == envs.StatusReady && st != envs.StatusPending && st != envs.StatusProvisioning:
		return "unreachable"
	}
	return ""
}

// awaitEnvironment long-polls an environment until it reaches want, cannot,
// or timeout passes, and answers it as GET /api/v1/environments/{id} does,
// with waitHeader saying which.
func (h *Handler) awaitEnvironment(c *echo.Context, id string, want envs.Status, timeout time.Duration) error {
	ctx := c.Request().Context()
	wake, cancel := h.svc.Subscribe(id)
	defer cancel()
	// The server's write timeout bounds ordinary requests; this one may
	// take timeout before it writes.
	_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(timeout + h.writeTimeout))
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(h.streamPoll)
	defer poll.Stop()
	for {
		env, err := h.svc.Environment(ctx, id)
		if err != nil {
			return err
		}
		outcome := waitOutcome(env.Status, want)
		if outcome == "" {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-wake:
				continue
			case <-poll.C:
				continue
			case <-deadline.C:
				outcome = "timeout"
			}
		}
		c.Response().Header().Set(waitHeader, outcome)
		return h.envJSON(c, http.StatusOK, env)
	}
}

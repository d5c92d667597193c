package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

// wantsEventStream: the client asked for Server-Sent Events.
func wantsEventStream(c *echo.Context) bool {
	return strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/event-stream")
}

// apiEnvironmentEventStream is GET /api/v1/environments/{id}/events with
// Accept: text/event-stream: each timeline event as an SSE message "event"
// whose id is the event's and whose data is its JSON, as the JSON list has
// it. It resumes after Last-Event-ID (or ?after=), and ends with an "end"
// message once the environment is destroyed and its events are sent. Like
// the page's stream it re-checks its token every few seconds.
func (h *Handler) apiEnvironmentEventStream(c *echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	if _, err := h.svc.Environment(ctx, id); err != nil {
		return err
	}
	after, err := intParam(c.QueryParam("after"), "after", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	if last := c.Request().Header.Get("Last-Event-ID"); last != "" {
		if after, err = intParam(last, "Last-Event-ID", 0, 0, 1<<62); err != nil {
			return err
		}
	}
	wake, cancel := h.svc.Subscribe(id)
	defer cancel()
	w := c.Response()
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // see environmentStream
	send := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(h.writeTimeout))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := send([]byte("retry: 2000\n\n")); err != nil {
		return nil
	}
	poll := time.NewTicker(h.streamPoll)
	defer poll.Stop()
	recheck := time.NewTicker(h.recheck)
	defer recheck.Stop()
	for {
		// The status is read before the events: a destroyed environment
		// writes no event after its "destroyed" one, so once it is read
		// destroyed, the events read next are the last.
		env, err := h.svc.Environment(ctx, id)
		if err != nil {
			return nil // the client reconnects
		}
		events, err := h.svc.Events(ctx, id, int64(after))
		if err != nil {
			return nil
		}
		var buf bytes.Buffer
		for _, ev := range events {
			data, err := json.Marshal(ev)
			if err != nil {
				return nil
			}
			fmt.Fprintf(&buf, "id: %d\nevent: event\ndata: %s\n\n", ev.ID, data)
			after = int(ev.ID)
		}
		if env.Status == envs.StatusDestroyed {
			buf.WriteString("event: end\ndata: {\"status\":\"destroyed\"}\n\n")
		}
		if buf.Len() > 0 {
			if err := send(buf.Bytes()); err != nil || env.Status == envs.StatusDestroyed {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-poll.C:
		case <-recheck.C:
			if err := h.svc.StillValid(ctx, actorOf(c)); err != nil {
				return nil // refused on reconnect if the token no longer works
			}
		}
	}
}

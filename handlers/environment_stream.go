package handlers

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// environmentStream follows an environment over Server-Sent Events: each new
// timeline event is sent as a rendered row ("timeline"), and after new
// events the summary card is sent again ("summary"). The stream resumes
// after Last-Event-ID (or ?after=) so a reconnect neither loses nor repeats.
// Every few seconds it checks that its session or API token still works;
// once it does not (signed out, revoked, expired), it sends "signin" (the
// sign-in URL, which the page follows) and ends, and the reconnect is
// refused like any request without a valid session.
func (h *Handler) environmentStream(c *echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	if _, err := h.svc.Environment(ctx, id); err != nil {
		return err
	}
	after, _ := strconv.ParseInt(c.QueryParam("after"), 10, 64)
	if last := c.Request().Header.Get("Last-Event-ID"); last != "" {
		after, _ = strconv.ParseInt(last, 10, 64)
	}
	wake, cancel := h.svc.Subscribe(id)
	defer cancel()

	w := c.Response()
	rc := http.NewResponseController(w)
	// The server's read and write timeouts bound ordinary requests; a
	// stream lives as long as its page is open. Without a read deadline
	// (Go's background read would cancel the request's context when it
	// passed); each write gets its own, so a client that stops reading is
	// still cut off.
	_ = rc.SetReadDeadline(time.Time{})
	send := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(h.writeTimeout))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // let reverse proxies pass events through at once
	w.WriteHeader(http.StatusOK)
	if err := send([]byte("retry: 2000\n\n")); err != nil {
		return nil
	}

	poll := time.NewTicker(h.streamPoll)
	defer poll.Stop()
	recheck := time.NewTicker(h.recheck)
	defer recheck.Stop()
	for {
		events, err := h.svc.Events(ctx, id, after)
		if err != nil {
			return nil // the client reconnects
		}
		var buf bytes.Buffer
		for _, ev := range events {
			writeSSE(&buf, "timeline", strconv.FormatInt(ev.ID, 10), web.EventRow(eventView(ev)), c)
			after = ev.ID
		}
		// Every change to an environment (status, outputs, expiry, a
		// reason) is written with an event, so the summary is re-sent only
		// after new events: a page that is up to date (it passed ?after=)
		// is not re-rendered under the user's hands on connect.
		if len(events) > 0 {
			env, err := h.svc.Environment(ctx, id)
			if err != nil {
				return nil
			}
			writeSSE(&buf, "summary", "", web.EnvironmentSummary(environmentView(env, actorOf(c))), c)
			if env.Status == envs.StatusDestroyed {
				writeSSE(&buf, "live", "", web.NotLive(), c)
			}
		}
		if buf.Len() > 0 {
			if err := send(buf.Bytes()); err != nil {
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
				if envs.ErrorCode(err) == envs.EUnauthorized {
					_ = send(fmt.Appendf(nil, "event: signin\ndata: /signin?return=%s\n\n", url.QueryEscape("/environments/"+id)))
				}
				return nil // a database error: the client reconnects and is checked afresh
			}
		}
	}
}

// writeSSE renders comp and writes it as one SSE message; every line of
// the HTML gets its own "data:" prefix, as the format requires.
func writeSSE(buf *bytes.Buffer, event, id string, comp templ.Component, c *echo.Context) {
	var html bytes.Buffer
	if err := comp.Render(c.Request().Context(), &html); err != nil {
		return
	}
	if id != "" {
		fmt.Fprintf(buf, "id: %s\n", id)
	}
	fmt.Fprintf(buf, "event: %s\n", event)
	for _, line := range strings.Split(strings.TrimRight(html.String(), "\n"), "\n") {
		fmt.Fprintf(buf, "data: %s\n", line)
	}
	buf.WriteString("\n")
}

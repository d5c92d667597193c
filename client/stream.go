package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// FollowEvents reads an environment's timeline from the portal's event
// stream (Accept: text/event-stream), calling fn for each event after
// after, until the environment is destroyed (nil), fn fails, or ctx ends.
// A dropped connection is resumed with Last-Event-ID, so nothing is lost
// or repeated.
func (c *Client) FollowEvents(ctx context.Context, id string, after int64, fn func(Event) error) error {
	stream := &http.Client{Transport: c.HTTP.Transport} // no overall timeout: a stream lives long
	for attempt := 0; ; attempt++ {
		ended, err := c.followOnce(ctx, stream, id, &after, fn)
		if ended || ctx.Err() != nil {
			return err
		}
		var apiErr *Error
		if errors.As(err, &apiErr) || attempt >= 5 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// followOnce reads one connection of the stream; ended says the stream
// said "end" or fn failed (err), so there is no reconnecting.
func (c *Client) followOnce(ctx context.Context, hc *http.Client, id string, after *int64, fn func(Event) error) (ended bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/api/v1/environments/"+url.PathEscape(id)+"/events", nil)
	if err != nil {
		return true, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", strconv.FormatInt(*after, 10))
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false, fmt.Errorf("client: follow events of %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Title == "" {
			e.Title = http.StatusText(resp.StatusCode)
		}
		return true, e
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var event, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			switch event {
			case "end":
				return true, nil
			case "event":
				var ev Event
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					return true, fmt.Errorf("client: event of %s: %w", id, err)
				}
				if err := fn(ev); err != nil {
					return true, err
				}
				*after = ev.ID
			}
			event, data = "", ""
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
		}
	}
	return false, fmt.Errorf("client: follow events of %s: the stream ended early: %v", id, sc.Err())
}

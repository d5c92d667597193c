package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"

	"github.com/mayflyhq/mayfly/envs"
)

// errStackGone is a stack CloudFormation no longer knows.
var errStackGone = errors.New("aws: stack does not exist")

// describe returns the stack of a handle, or errStackGone.
func (p *Provider) describe(ctx context.Context, h handle) (*types.Stack, *clients, error) {
	c := p.client(h.Region, h.Role)
	out, err := c.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(h.StackID)})
	if isNotExist(err) {
		return nil, c, errStackGone
	}
	if err != nil {
		return nil, c, fmt.Errorf("aws: describe stack %s: %w", h.StackID, err)
	}
	if len(out.Stacks) == 0 {
		return nil, c, errStackGone
	}
	return &out.Stacks[0], c, nil
}

// isNotExist reports CloudFormation's answer for an unknown stack: a
// ValidationError whose message says it does not exist.
func isNotExist(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" && strings.Contains(ae.ErrorMessage(), "does not exist")
}

// Status implements envs.Provider. A stack in CREATE_COMPLETE is ready once
// its health output answers; every other terminal status of a create is a
// failure, explained by the first resource that failed.
func (p *Provider) Status(ctx context.Context, raw string) (envs.StackStatus, error) {
	h, err := parseHandle(raw)
	if err != nil {
		return envs.StackStatus{}, err
	}
	st, c, err := p.describe(ctx, h)
	if errors.Is(err, errStackGone) {
		return envs.StackStatus{State: envs.StackFailed, Reason: "the CloudFormation stack no longer exists"}, nil
	}
	if err != nil {
		return envs.StackStatus{}, err
	}
	events, err := p.stackEvents(ctx, c, h.StackID)
	if err != nil {
		return envs.StackStatus{}, err
	}
	out := envs.StackStatus{State: envs.StackInProgress, Events: p.newEvents(h.StackID, events)}
	switch status := st.StackStatus; {
	case status == types.StackStatusCreateComplete:
		out.Outputs = map[string]string{}
		for _, o := range st.Outputs {
			out.Outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
		}
		if taken := tagValue(st.Tags, TagSnapshotTaken); taken != "" {
			out.Facts = map[string]string{envs.FactSnapshotTakenAt: taken, envs.FactSnapshotName: tagValue(st.Tags, TagSnapshot)}
		}
		if name := tagValue(st.Tags, TagHealthOutput); name != "" {
			if ok, why := p.healthy(ctx, out.Outputs[name]); !ok {
				out.State = envs.StackInProgress
				// Reported once per distinct reason, not at every poll.
				out.Events = append(out.Events, envs.ProviderEvent{At: p.cfg.Clock().UTC(),
					Message: "Waiting for " + name + " to answer: " + why, ID: "health:" + h.StackID})
				return out, nil
			}
			if out.Facts == nil {
				out.Facts = map[string]string{}
			}
			out.Facts[envs.FactVerifiedAt] = p.cfg.Clock().UTC().Format(time.RFC3339)
		}
		out.State = envs.StackReady
	case strings.HasSuffix(string(status), "_IN_PROGRESS"):
		// still going (a rollback in progress is decided when it ends)
	default:
		out.State = envs.StackFailed
		out.Reason = failureReason(st, events)
	}
	return out, nil
}

// healthy asks a health output once, and says why it is not healthy. Status
// is polled and StackHealth runs every HealthInterval, so a stack that does
// not answer is simply asked again next time. Everyone who can see the
// environment reads why, so it says no more than the status code, or that
// there was no reply, or that the URL is refused; the error itself goes to
// the portal's log (a connection error would tell who can launch what is
// listening where on the portal's network).
func (p *Provider) healthy(ctx context.Context, raw string) (bool, string) {
	if raw == "" {
		return false, "the output is empty"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false, "the output is not an http(s) URL"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, "the output is not an http(s) URL"
	}
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		var refused *refusedAddrError
		switch {
		case errors.As(err, &refused):
			p.log.Warn("health output not asked: its address is refused (--aws-health-allow allows it)", "url", raw, "err", err)
			return false, "not asked: it points at " + refused.why
		case errors.Is(err, errRedirectOff):
			p.log.Info("health output redirects off its host", "url", raw, "err", err)
			return false, "it redirects to another host"
		default:
			p.log.Info("health output did not answer", "url", raw, "err", err)
			return false, "no reply"
		}
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return false, fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return true, ""
}

// failureReason is the first resource failure of the stack's latest
// operation, the root cause (later failures are usually "Resource creation
// cancelled"), else the stack's own status reason.
func failureReason(st *types.Stack, events []types.StackEvent) string {
	// events are oldest first
	for _, ev := range events {
		rs := string(ev.ResourceStatus)
		if strings.HasSuffix(rs, "_FAILED") && aws.ToString(ev.LogicalResourceId) != aws.ToString(ev.StackName) {
			return fmt.Sprintf("%s: %s (%s %s)", string(st.StackStatus), aws.ToString(ev.ResourceStatusReason),
				aws.ToString(ev.LogicalResourceId), aws.ToString(ev.ResourceType))
		}
	}
	if r := aws.ToString(st.StackStatusReason); r != "" {
		return fmt.Sprintf("%s: %s", st.StackStatus, r)
	}
	return "the stack ended in " + string(st.StackStatus)
}

// maxEventPages bounds one poll's walk through a long event history.
const maxEventPages = 20

// stackEvents returns the stack's events, oldest first.
func (p *Provider) stackEvents(ctx context.Context, c *clients, stackID string) ([]types.StackEvent, error) {
	var all []types.StackEvent
	pages := cloudformation.NewDescribeStackEventsPaginator(c.cfn, &cloudformation.DescribeStackEventsInput{StackName: aws.String(stackID)})
	for i := 0; pages.HasMorePages() && i < maxEventPages; i++ {
		page, err := pages.NextPage(ctx)
		if isNotExist(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("aws: describe stack events %s: %w", stackID, err)
		}
		all = append(all, page.StackEvents...)
	}
	// CloudFormation lists newest first.
	sort.SliceStable(all, func(i, j int) bool { return aws.ToTime(all[i].Timestamp).Before(aws.ToTime(all[j].Timestamp)) })
	return all, nil
}

// newEvents turns the events not reported before into timeline lines.
func (p *Provider) newEvents(stackID string, events []types.StackEvent) []envs.ProviderEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := p.seen[stackID]
	if seen == nil {
		seen = map[string]bool{}
		p.seen[stackID] = seen
	}
	var out []envs.ProviderEvent
	for _, ev := range events {
		id := aws.ToString(ev.EventId)
		if seen[id] {
			continue
		}
		seen[id] = true
		// The event's own time makes the message unique, so the timeline
		// can drop what a restarted portal reports a second time.
		msg := fmt.Sprintf("%s %s %s %s", aws.ToTime(ev.Timestamp).UTC().Format("15:04:05.000Z"),
			aws.ToString(ev.LogicalResourceId), aws.ToString(ev.ResourceType), ev.ResourceStatus)
		if r := aws.ToString(ev.ResourceStatusReason); r != "" {
			msg += ": " + r
		}
		out = append(out, envs.ProviderEvent{At: aws.ToTime(ev.Timestamp), Message: msg, ID: id})
	}
	return out
}

// forget drops what is remembered about a stack once it is gone.
func (p *Provider) forget(stackID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.seen, stackID)
	delete(p.reported, stackID)
}

package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/mayflyhq/mayfly/envs"
)

// Destroy implements envs.Provider. It is idempotent: a stack that is gone
// or DELETE_COMPLETE is destroyed. DELETE_FAILED is returned as an error
// listing each resource that could not be deleted and why (the orchestrator
// marks the environment destroy_failed and retries with backoff); the next
// call after that retries the deletion.
func (p *Provider) Destroy(ctx context.Context, raw string) (bool, error) {
	return p.destroy(ctx, raw, nil)
}

// DestroyRetaining retries the deletion of a DELETE_FAILED stack, leaving
// the named resources (logical ids) in place: the way out when a resource
// cannot be deleted (a non-empty bucket, a resource changed by hand).
func (p *Provider) DestroyRetaining(ctx context.Context, raw string, retain []string) (bool, error) {
	return p.destroy(ctx, raw, retain)
}

func (p *Provider) destroy(ctx context.Context, raw string, retain []string) (bool, error) {
	h, err := parseHandle(raw)
	if err != nil {
		return false, err
	}
	st, c, err := p.describe(ctx, h)
	if errors.Is(err, errStackGone) {
		p.forget(h.StackID)
		return true, nil
	}
	if err != nil {
		return false, err
	}
	switch st.StackStatus {
	case types.StackStatusDeleteComplete:
		p.forget(h.StackID)
		return true, nil
	case types.StackStatusDeleteInProgress:
		return false, nil
	case types.StackStatusDeleteFailed:
		if len(retain) == 0 {
			events, err := p.stackEvents(ctx, c, h.StackID)
			if err != nil {
				return false, err
			}
			key, reason := deleteFailure(st, events)
			p.mu.Lock()
			first := p.reported[h.StackID] != key
			p.reported[h.StackID] = key
			p.mu.Unlock()
			if first {
				return false, errors.New(reason)
			}
		}
	default:
		if strings.HasSuffix(string(st.StackStatus), "_IN_PROGRESS") {
			// CloudFormation refuses to delete a stack mid-operation (a
			// rollback, an update) other than a create; ask again once it
			// settles.
			if st.StackStatus != types.StackStatusCreateInProgress {
				return false, nil
			}
		}
	}
	in := &cloudformation.DeleteStackInput{StackName: aws.String(h.StackID), RetainResources: retain,
		// One token per deletion attempt: a retried call of the same attempt
		// is deduplicated, a deliberate retry after DELETE_FAILED is not.
		ClientRequestToken: aws.String(fmt.Sprintf("mayfly-delete-%d", p.cfg.Clock().UnixNano()/int64(time.Second)))}
	if _, err := c.cfn.DeleteStack(ctx, in); err != nil && !isNotExist(err) {
		return false, fmt.Errorf("aws: delete stack %s: %w", h.StackID, err)
	}
	return false, nil
}

// deleteFailure describes a DELETE_FAILED stack: each resource that failed
// to delete in the last attempt, with CloudFormation's reason. The key
// identifies the attempt (its newest failure event).
func deleteFailure(st *types.Stack, events []types.StackEvent) (key, reason string) {
	// The last attempt's events follow its DELETE_IN_PROGRESS on the stack.
	start := 0
	for i, ev := range events {
		if aws.ToString(ev.LogicalResourceId) == aws.ToString(st.StackName) && ev.ResourceStatus == types.ResourceStatusDeleteInProgress {
			start = i
		}
	}
	var parts []string
	for _, ev := range events[start:] {
		if ev.ResourceStatus == types.ResourceStatusDeleteFailed && aws.ToString(ev.LogicalResourceId) != aws.ToString(st.StackName) {
			parts = append(parts, fmt.Sprintf("%s (%s): %s", aws.ToString(ev.LogicalResourceId), aws.ToString(ev.ResourceType), aws.ToString(ev.ResourceStatusReason)))
			key = aws.ToString(ev.EventId)
		}
	}
	if len(parts) == 0 {
		return aws.ToString(st.StackStatusReason), "DELETE_FAILED: " + aws.ToString(st.StackStatusReason)
	}
	return key, "DELETE_FAILED: " + strings.Join(parts, "; ")
}

// Logs implements envs.Provider. A stack's story is its events, which are
// already in the timeline; CloudFormation keeps no service logs.
func (p *Provider) Logs(ctx context.Context, handle, service string, limit int) ([]envs.LogStream, error) {
	return nil, nil
}

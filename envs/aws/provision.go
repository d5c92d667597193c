package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"

	"github.com/mayflyhq/mayfly/envs"
)

// ValidateStack implements envs.Provider: local checks always, and
// CloudFormation's ValidateTemplate when the last reachability check
// succeeded (publishing never waits on an unreachable AWS).
func (p *Provider) ValidateStack(raw json.RawMessage) error {
	s, _, err := ParseStack(raw)
	if err != nil {
		return err
	}
	if p.reachable.Load() != 1 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = p.client(s.Region, s.RoleARN).cfn.ValidateTemplate(ctx, &cloudformation.ValidateTemplateInput{TemplateBody: aws.String(s.Template)})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" {
		return envs.Invalid("template is not valid", envs.FieldError{Field: "stack.template", Message: "CloudFormation: " + ae.ErrorMessage()})
	}
	if err != nil {
		// Not a verdict on the template (network, credentials): publish on
		// the local checks alone rather than refuse.
		p.log.Warn("could not validate a CloudFormation template remotely", "err", err)
	}
	return nil
}

// Provision implements envs.Provider: CreateStack, returning the stack id.
// The ClientRequestToken is derived from the environment, so a retried call
// (a job retried after a timeout or a crash) gets the same stack back instead
// of a second one; a stack name already taken by this environment's stack is
// adopted for the same reason.
func (p *Provider) Provision(ctx context.Context, req envs.ProvisionRequest) (string, error) {
	s, _, err := ParseStack(req.Stack)
	if err != nil {
		return "", err
	}
	c := p.client(s.Region, s.RoleARN)
	// Named, tagged and made idempotent per stack: a replace builds a
	// second stack of the environment beside the first.
	stackID := stackIDOf(req)
	name := stackName(stackID, req.Name)
	tags := map[string]string{
		TagEnvironment: req.EnvironmentID,
		TagStack:       stackID,
		TagInstance:    p.cfg.InstanceID,
		TagOwner:       req.Owner,
		TagTemplate:    req.Template + "@" + req.Version,
		TagExpiresAt:   req.ExpiresAt.UTC().Format(time.RFC3339),
	}
	if s.HealthOutput != "" {
		tags[TagHealthOutput] = s.HealthOutput
	}
	if s.RoleARN != "" {
		tags[TagRole] = s.RoleARN
	}
	// A restore from a snapshot records the snapshot's age on the stack, so
	// Status (which only gets the handle) can report it for the RPO.
	// A snapshot parameter left empty means the latest snapshot; a pinned
	// snapshot (a relaunch from the same snapshot) is that one or none.
	params := maps.Clone(req.Params)
	if params == nil {
		params = map[string]string{}
	}
	pinParam, _, pinnable := s.snapshotChoice()
	if req.Snapshot != "" && !pinnable {
		return "", fmt.Errorf("aws: snapshot %s was asked for, but the stack restores no single RDS snapshot", req.Snapshot)
	}
	for _, param := range slices.Sorted(maps.Keys(s.Choices)) {
		if s.Choices[param].RDSSnapshots == nil {
			continue
		}
		src := *s.Choices[param].RDSSnapshots
		if req.Snapshot != "" && param == pinParam {
			params[param] = req.Snapshot
		}
		snap, err := p.snapshot(ctx, c, src, params[param])
		var missing *noSuchSnapshot
		if req.Snapshot != "" && param == pinParam && errors.As(err, &missing) {
			return "", &envs.SnapshotGoneError{Snapshot: req.Snapshot, Dataset: src.database()}
		}
		if err != nil {
			return "", err
		}
		params[param] = snap.ID
		tags[TagSnapshot] = snap.ID
		tags[TagSnapshotTaken] = snap.TakenAt.UTC().Format(time.RFC3339)
	}
	values, err := s.renderParameters(templateData{Params: params, EnvironmentID: req.EnvironmentID, Name: req.Name, Owner: req.Owner})
	if err != nil {
		return "", err
	}
	in := &cloudformation.CreateStackInput{
		StackName:          aws.String(name),
		TemplateBody:       aws.String(s.Template),
		ClientRequestToken: aws.String(requestToken(req)),
		// The default (ROLLBACK) removes what was created; the orchestrator
		// then deletes the rolled-back stack itself.
		OnFailure: types.OnFailureRollback,
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		in.Parameters = append(in.Parameters, types.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(values[k])})
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if tags[k] != "" {
			in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
		}
	}
	for _, cp := range s.Capabilities {
		in.Capabilities = append(in.Capabilities, types.Capability(cp))
	}
	// CreateStack is not cut by ctx (a destroy requested meanwhile, or the
	// job stopping): a call cut after CloudFormation took it would make a
	// stack whose id never reaches the orchestrator, so the destroy could
	// not find it and only the orphan sweep would, a day later. Let it
	// answer (the SDK's retries are bounded) and the handle be saved.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createStackTimeout)
	defer cancel()
	out, err := c.cfn.CreateStack(cctx, in)
	var exists *types.AlreadyExistsException
	if errors.As(err, &exists) {
		return p.adopt(cctx, c, name, req.EnvironmentID, stackID, s.RoleARN)
	}
	if err != nil {
		return "", fmt.Errorf("aws: create stack %s: %w", name, err)
	}
	h := handle{StackID: aws.ToString(out.StackId), Role: s.RoleARN}
	p.log.Info("stack created", "stack", h.StackID, "environment", req.EnvironmentID)
	return h.String(), nil
}

// createStackTimeout bounds a CreateStack call that its caller's context
// no longer bounds (see Provision).
const createStackTimeout = 2 * time.Minute

// requestToken is the CreateStack idempotency token: one per provision
// attempt of the environment, so a re-run of the attempt (a crash mid-call,
// a dropped answer retried by the SDK) is the same request, and a new
// attempt after a failed one a new request (see docs/decisions.md, 19).
// CloudFormation allows 128 characters of [a-zA-Z0-9-].
func requestToken(req envs.ProvisionRequest) string {
	return fmt.Sprintf("mayfly-%s-launch-%d", stackIDOf(req), max(req.Attempt, 1))
}

// stackIDOf is the id a stack is keyed by: its own, or for an
// environment's first stack the environment's.
func stackIDOf(req envs.ProvisionRequest) string {
	if req.StackID != "" {
		return req.StackID
	}
	return req.EnvironmentID
}

// adopt returns the existing stack of the name if it is this environment's;
// a stack of that name owned by anything else is an error, never taken over.
func (p *Provider) adopt(ctx context.Context, c *clients, name, envID, stackID, role string) (string, error) {
	out, err := c.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("aws: describe existing stack %s: %w", name, err)
	}
	for _, st := range out.Stacks {
		// A stack from before stack ids has no stack tag: the environment's first.
		sameStack := tagValue(st.Tags, TagStack) == stackID || tagValue(st.Tags, TagStack) == "" && stackID == envID
		if sameStack && tagValue(st.Tags, TagEnvironment) == envID && tagValue(st.Tags, TagInstance) == p.cfg.InstanceID {
			return handle{StackID: aws.ToString(st.StackId), Role: role}.String(), nil
		}
	}
	return "", fmt.Errorf("aws: create stack %s: a stack of that name exists and is not this environment's", name)
}

func tagValue(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

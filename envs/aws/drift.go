package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"gopkg.in/yaml.v3"

	"github.com/mayflyhq/mayfly/envs"
)

var _ envs.DriftDetector = (*Provider)(nil)

// DetectDrift implements envs.DriftDetector with CloudFormation's drift
// detection: DetectStackDrift, then DescribeStackDriftDetectionStatus
// until it is done (CloudFormation reads every resource, which takes
// seconds to minutes), then DescribeStackResourceDrifts for the resources
// that were modified or deleted, with each property difference. Values of
// properties that a NoEcho parameter of the template goes into are
// masked: CloudFormation does not show those parameters, and neither does
// Mayfly.
func (p *Provider) DetectDrift(ctx context.Context, req envs.DriftRequest) (envs.DriftReport, error) {
	h, err := parseHandle(req.Handle)
	if err != nil {
		return envs.DriftReport{}, err
	}
	c := p.client(h.Region, h.Role)
	start, err := c.cfn.DetectStackDrift(ctx, &cloudformation.DetectStackDriftInput{StackName: aws.String(h.StackID)})
	if isNotExist(err) {
		return envs.DriftReport{Items: []envs.DriftItem{{Resource: stackNameOf(h.StackID), Type: "AWS::CloudFormation::Stack",
			Status: envs.DriftDeleted, Detail: "the CloudFormation stack no longer exists"}}}, nil
	}
	if err != nil {
		return envs.DriftReport{}, fmt.Errorf("aws: detect drift of %s: %w", h.StackID, err)
	}
	status, err := p.waitDetection(ctx, c, aws.ToString(start.StackDriftDetectionId))
	if err != nil {
		return envs.DriftReport{}, err
	}
	if status.DetectionStatus == types.StackDriftDetectionStatusDetectionFailed && status.StackDriftStatus != types.StackDriftStatusDrifted {
		// Some resources could not be checked (their read permission is
		// missing, say) and none of the others drifted: nothing is known.
		return envs.DriftReport{}, fmt.Errorf("aws: CloudFormation could not detect the drift of %s: %s",
			stackNameOf(h.StackID), aws.ToString(status.DetectionStatusReason))
	}
	if status.StackDriftStatus != types.StackDriftStatusDrifted {
		return envs.DriftReport{}, nil
	}
	secret := noEchoPaths(req.Stack)
	var items []envs.DriftItem
	in := &cloudformation.DescribeStackResourceDriftsInput{StackName: aws.String(h.StackID),
		StackResourceDriftStatusFilters: []types.StackResourceDriftStatus{types.StackResourceDriftStatusModified, types.StackResourceDriftStatusDeleted}}
	for pages := cloudformation.NewDescribeStackResourceDriftsPaginator(c.cfn, in); pages.HasMorePages(); {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return envs.DriftReport{}, fmt.Errorf("aws: describe the drift of %s: %w", h.StackID, err)
		}
		for _, d := range page.StackResourceDrifts {
			items = append(items, driftItem(d, secret[aws.ToString(d.LogicalResourceId)]))
		}
	}
	return envs.DriftReport{Items: items}, nil
}

// waitDetection asks how a drift detection is going until it is done,
// waiting longer each time up to DriftPoll (CloudFormation's detection of
// a small stack takes a few seconds; ctx bounds the whole wait).
func (p *Provider) waitDetection(ctx context.Context, c *clients, id string) (*cloudformation.DescribeStackDriftDetectionStatusOutput, error) {
	wait := min(250*time.Millisecond, p.cfg.DriftPoll)
	for {
		out, err := c.cfn.DescribeStackDriftDetectionStatus(ctx, &cloudformation.DescribeStackDriftDetectionStatusInput{StackDriftDetectionId: aws.String(id)})
		if err != nil {
			return nil, fmt.Errorf("aws: drift detection %s: %w", id, err)
		}
		if out.DetectionStatus != types.StackDriftDetectionStatusDetectionInProgress {
			return out, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("aws: drift detection %s: %w", id, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, p.cfg.DriftPoll)
	}
}

// driftItem is one drifted resource; the differences at or around the
// secret paths have their values masked.
func driftItem(d types.StackResourceDrift, secret []string) envs.DriftItem {
	it := envs.DriftItem{Resource: aws.ToString(d.LogicalResourceId), Type: aws.ToString(d.ResourceType),
		Status: string(d.StackResourceDriftStatus)}
	switch d.StackResourceDriftStatus {
	case types.StackResourceDriftStatusDeleted:
		it.Detail = "deleted outside CloudFormation"
		if id := aws.ToString(d.PhysicalResourceId); id != "" {
			it.Detail = id + " was " + it.Detail
		}
	case types.StackResourceDriftStatusModified:
		n := len(d.PropertyDifferences)
		it.Detail = strconv.Itoa(n) + " propert" + map[bool]string{true: "y", false: "ies"}[n == 1] + " changed outside CloudFormation"
	}
	for _, pd := range d.PropertyDifferences {
		diff := envs.DriftDifference{Path: aws.ToString(pd.PropertyPath), Expected: aws.ToString(pd.ExpectedValue),
			Actual: aws.ToString(pd.ActualValue), Kind: string(pd.DifferenceType)}
		if underSecret(diff.Path, secret) {
			diff.Expected, diff.Actual = masked(diff.Expected), masked(diff.Actual)
		}
		it.Differences = append(it.Differences, diff)
	}
	return it
}

// masked hides a value, keeping "" (nothing there) as it is.
func masked(v string) string {
	if v == "" {
		return ""
	}
	return "***"
}

// underSecret reports whether a property path is, is inside or contains
// one of the secret paths.
func underSecret(path string, secret []string) bool {
	for _, s := range secret {
		if path == s || strings.HasPrefix(path, s+"/") || strings.HasPrefix(s, path+"/") {
			return true
		}
	}
	return false
}

// stackNameOf is the name part of a stack id.
func stackNameOf(stackID string) string {
	_, rest, ok := strings.Cut(stackID, ":stack/")
	if !ok {
		return stackID
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// noEchoPaths finds, per resource, the property paths (JSON pointers
// under Properties, as CloudFormation's PropertyPath) whose value comes
// from a NoEcho parameter: a Ref to it, or a Sub that names it.
func noEchoPaths(stack json.RawMessage) map[string][]string {
	var s Stack
	if json.Unmarshal(stack, &s) != nil {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal([]byte(s.Template), &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	secret := map[string]bool{}
	if params := mapValue(root, "Parameters"); params != nil && params.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(params.Content); i += 2 {
			if ne := mapValue(params.Content[i+1], "NoEcho"); ne != nil && strings.EqualFold(ne.Value, "true") {
				secret[params.Content[i].Value] = true
			}
		}
	}
	if len(secret) == 0 {
		return nil
	}
	out := map[string][]string{}
	resources := mapValue(root, "Resources")
	if resources == nil || resources.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(resources.Content); i += 2 {
		var paths []string
		walkSecret(mapValue(resources.Content[i+1], "Properties"), "", secret, &paths)
		if len(paths) > 0 {
			out[resources.Content[i].Value] = paths
		}
	}
	return out
}

// walkSecret collects the paths under n whose value uses a secret
// parameter.
func walkSecret(n *yaml.Node, path string, secret map[string]bool, out *[]string) {
	if n == nil {
		return
	}
	if usesSecret(n, secret) {
		*out = append(*out, path)
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			walkSecret(n.Content[i+1], path+"/"+n.Content[i].Value, secret, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walkSecret(c, path+"/"+strconv.Itoa(i), secret, out)
		}
	case yaml.AliasNode:
		walkSecret(n.Alias, path, secret, out)
	}
}

// usesSecret reports whether a value is an intrinsic function (a Ref, a
// Sub, a Join around them...) that uses a secret parameter anywhere in it.
func usesSecret(n *yaml.Node, secret map[string]bool) bool {
	custom := strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") // !Ref, not YAML's own !!map
	fn := custom || n.Kind == yaml.MappingNode && len(n.Content) == 2 &&
		(n.Content[0].Value == "Ref" || strings.HasPrefix(n.Content[0].Value, "Fn::"))
	return fn && mentions(n, secret)
}

// mentions reports whether a Ref or a Sub under n names a secret
// parameter.
func mentions(n *yaml.Node, secret map[string]bool) bool {
	names := func(text string) bool {
		for name := range secret {
			if strings.Contains(text, "${"+name+"}") {
				return true
			}
		}
		return false
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Tag == "!Ref" && secret[n.Value] || n.Tag == "!Sub" && names(n.Value)
	case yaml.AliasNode:
		return n.Alias != nil && mentions(n.Alias, secret)
	case yaml.SequenceNode:
		if n.Tag == "!Sub" && len(n.Content) > 0 && names(n.Content[0].Value) {
			return true
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i].Value, n.Content[i+1]
			switch {
			case key == "Ref" && val.Kind == yaml.ScalarNode && secret[val.Value]:
				return true
			case key == "Fn::Sub" && val.Kind == yaml.ScalarNode && names(val.Value):
				return true
			case key == "Fn::Sub" && val.Kind == yaml.SequenceNode && len(val.Content) > 0 && names(val.Content[0].Value):
				return true
			}
		}
	}
	for _, c := range n.Content {
		if mentions(c, secret) {
			return true
		}
	}
	return false
}

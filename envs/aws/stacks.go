package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/mayflyhq/mayfly/envs"
)

// maxStackPages bounds one listing (100 stacks a page).
const maxStackPages = 100

// Stacks implements envs.Provider: the handles of every live stack in the
// default region that carries this installation's instance tag. Stacks
// without Mayfly's tags, or with another instance's id, are never listed,
// so nothing the orphan sweep does can reach them.
func (p *Provider) Stacks(ctx context.Context) ([]string, error) {
	infos, err := p.StackInfos(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(infos))
	for i, s := range infos {
		out[i] = s.Handle
	}
	return out, nil
}

// StackInfos implements envs.StackDescriber for the orphan sweep.
func (p *Provider) StackInfos(ctx context.Context) ([]envs.StackInfo, error) {
	c := p.client("", "")
	var out []envs.StackInfo
	// DescribeStacks without a name lists every live stack with its tags
	// (ListStacks has no tags), one page at a time.
	pages := cloudformation.NewDescribeStacksPaginator(c.cfn, &cloudformation.DescribeStacksInput{})
	for i := 0; pages.HasMorePages(); i++ {
		if i == maxStackPages {
			return nil, fmt.Errorf("aws: list stacks: more than %d pages", maxStackPages)
		}
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("aws: list stacks: %w", err)
		}
		for _, st := range page.Stacks {
			if st.StackStatus == types.StackStatusDeleteComplete || !p.ours(st.Tags) {
				continue
			}
			out = append(out, envs.StackInfo{
				Handle:        handle{StackID: aws.ToString(st.StackId), Role: tagValue(st.Tags, TagRole)}.String(),
				Name:          aws.ToString(st.StackName),
				EnvironmentID: tagValue(st.Tags, TagEnvironment),
				Status:        string(st.StackStatus),
				CreatedAt:     aws.ToTime(st.CreationTime).UTC(),
			})
		}
	}
	return out, nil
}

// ours reports a stack carrying both of Mayfly's marks with this instance.
func (p *Provider) ours(tags []types.Tag) bool {
	return p.cfg.InstanceID != "" && tagValue(tags, TagInstance) == p.cfg.InstanceID && tagValue(tags, TagEnvironment) != ""
}

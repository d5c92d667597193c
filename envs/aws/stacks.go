package aws

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/mayflyhq/mayfly/envs"
)

// maxStackPages bounds one listing (100 stacks a page).
const maxStackPages = 100

// Listing several scopes at once keeps the admin page's answer short when
// templates use a few regions; more would only meet CloudFormation's rate
// limits sooner.
const (
	listConcurrency = 4
	listTimeout     = 2 * time.Minute
)

// Stacks implements envs.Provider: the handles of every live stack in the
// default region, with the default credentials, that carries this
// installation's instance tag (StackInfos looks further). Stacks without
// Mayfly's tags, or with another instance's id, are never listed, so
// nothing the orphan sweep does can reach them.
func (p *Provider) Stacks(ctx context.Context) ([]string, error) {
	infos, err := p.StackInfos(ctx, envs.StackScopes{})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(infos))
	for i, s := range infos {
		out[i] = s.Handle
	}
	return out, nil
}

// StackInfos implements envs.StackDescriber for the orphan sweep: this
// installation's stacks in every (region, role) pair the templates and
// handles name, and the default one, each pair listed once and each stack
// reported once. A pair that fails (a role that cannot be assumed, a region
// denied by policy, an outage) is named in the error; the others are listed.
func (p *Provider) StackInfos(ctx context.Context, where envs.StackScopes) ([]envs.StackInfo, error) {
	scopes := p.scopes(where)
	found := make([][]envs.StackInfo, len(scopes))
	errs := make([]error, len(scopes))
	var wg sync.WaitGroup
	sem := make(chan struct{}, listConcurrency)
	for i, sc := range scopes {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			found[i], errs[i] = p.listStacks(ctx, sc)
		})
	}
	wg.Wait()
	var out []envs.StackInfo
	seen := map[string]bool{}
	for _, infos := range found {
		for _, in := range infos {
			// A stack reachable from two scopes (a role in the default
			// account) is one stack.
			if id, _, _ := strings.Cut(in.Handle, "|"); !seen[id] {
				seen[id] = true
				out = append(out, in)
			}
		}
	}
	return out, errors.Join(errs...)
}

// scope is where stacks are listed: a region and the role assumed there
// ("" for the default credentials).
type scope struct{ region, role string }

func (s scope) String() string {
	if s.role == "" {
		return s.region
	}
	return s.region + " as " + s.role
}

// scopes derives the pairs to list, the default first, then sorted.
// Entries that are not this provider's (unparsable) are skipped: they name
// no place to look.
func (p *Provider) scopes(where envs.StackScopes) []scope {
	def := scope{region: p.cfg.AWS.Region}
	set := map[scope]bool{def: true}
	add := func(region, role string) {
		set[scope{region: cmp.Or(region, def.region), role: role}] = true
	}
	for _, raw := range where.Stacks {
		var s struct {
			Region  string `json:"region"`
			RoleARN string `json:"role_arn"`
		}
		if json.Unmarshal(raw, &s) == nil {
			add(s.Region, s.RoleARN)
		}
	}
	for _, raw := range where.Handles {
		if h, err := parseHandle(raw); err == nil {
			add(h.Region, h.Role)
		}
	}
	delete(set, def)
	out := []scope{def}
	for sc := range set {
		out = append(out, sc)
	}
	slices.SortFunc(out[1:], func(a, b scope) int { return cmp.Or(cmp.Compare(a.role, b.role), cmp.Compare(a.region, b.region)) })
	return out
}

// listStacks lists this installation's stacks in one scope.
func (p *Provider) listStacks(ctx context.Context, sc scope) ([]envs.StackInfo, error) {
	var out []envs.StackInfo
	err := p.eachStack(ctx, sc, func(st *types.Stack) {
		if st.StackStatus == types.StackStatusDeleteComplete || !p.ours(st.Tags) {
			return
		}
		out = append(out, envs.StackInfo{
			// The role tag, not the scope, names the role: the handle is
			// then the very string the environment recorded.
			Handle:        handle{StackID: aws.ToString(st.StackId), Role: cmp.Or(tagValue(st.Tags, TagRole), sc.role)}.String(),
			Name:          aws.ToString(st.StackName),
			EnvironmentID: tagValue(st.Tags, TagEnvironment),
			StackID:       tagValue(st.Tags, TagStack),
			Status:        string(st.StackStatus),
			CreatedAt:     aws.ToTime(st.CreationTime).UTC(),
		})
	})
	return out, err
}

// eachStack calls fn with every live stack of a scope, every page.
func (p *Provider) eachStack(ctx context.Context, sc scope, fn func(*types.Stack)) error {
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	c := p.client(sc.region, sc.role)
	// DescribeStacks without a name lists every live stack with its tags
	// (ListStacks has no tags), one page at a time.
	pages := cloudformation.NewDescribeStacksPaginator(c.cfn, &cloudformation.DescribeStacksInput{})
	for i := 0; pages.HasMorePages(); i++ {
		if i == maxStackPages {
			return fmt.Errorf("aws: list stacks in %s: more than %d pages", sc, maxStackPages)
		}
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("aws: list stacks in %s: %w", sc, err)
		}
		for i := range page.Stacks {
			fn(&page.Stacks[i])
		}
	}
	return nil
}

// ours reports a stack carrying both of Mayfly's marks with this instance.
func (p *Provider) ours(tags []types.Tag) bool {
	return p.cfg.InstanceID != "" && tagValue(tags, TagInstance) == p.cfg.InstanceID && tagValue(tags, TagEnvironment) != ""
}

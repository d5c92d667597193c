package tofu

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mayflyhq/mayfly/envs"
)

// DetectDrift plans the stack's configuration against what is really
// there (plan -detailed-exitcode refreshes every resource): exit 0 is in
// sync, 2 lists what the plan would change, each as a drift item.
func (p *Provider) DetectDrift(ctx context.Context, req envs.DriftRequest) (envs.DriftReport, error) {
	if !stackPattern.MatchString(req.Handle) {
		return envs.DriftReport{}, fmt.Errorf("tofu: %q is not a tofu stack", req.Handle)
	}
	unlock := p.lockStack(req.Handle)
	defer unlock()
	rn, st, err := p.loadRun(ctx, req.Handle)
	if err != nil {
		return envs.DriftReport{}, err
	}
	if rn == nil {
		return envs.DriftReport{}, fmt.Errorf("tofu: stack %s has no saved configuration", req.Handle)
	}
	r, done, err := p.newRunner(req.Handle, st, rn.Params, nil)
	if err != nil {
		return envs.DriftReport{}, err
	}
	defer done()
	if err := r.init(ctx); err != nil {
		return envs.DriftReport{}, err
	}
	_, code, err := r.run(ctx, "plan", p.cfg.PlanTimeout, "plan", "-input=false", "-json", "-detailed-exitcode",
		"-lock-timeout=30s", "-out=.mayfly/drift.tfplan")
	if err != nil {
		return envs.DriftReport{}, p.lockedError(ctx, req.Handle, err)
	}
	if code == 0 {
		return envs.DriftReport{}, nil
	}
	out, _, err := r.run(ctx, "show", p.cfg.PlanTimeout, "show", "-json", "-no-color", ".mayfly/drift.tfplan")
	if err != nil {
		return envs.DriftReport{}, err
	}
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Type    string `json:"type"`
			Change  struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_changes"`
		ResourceDrift []struct {
			Address string `json:"address"`
			Type    string `json:"type"`
			Change  struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_drift"`
	}
	if err := json.Unmarshal(out, &plan); err != nil {
		return envs.DriftReport{}, fmt.Errorf("tofu: read drift plan of %s: %w", req.Handle, err)
	}
	drifted := map[string]string{} // address -> what refresh found
	for _, d := range plan.ResourceDrift {
		drifted[d.Address] = strings.Join(d.Change.Actions, ",")
	}
	var rep envs.DriftReport
	for _, c := range plan.ResourceChanges {
		acts := strings.Join(c.Change.Actions, ",")
		if acts == "no-op" || acts == "read" {
			continue
		}
		item := envs.DriftItem{Resource: c.Address, Type: c.Type, Status: envs.DriftModified}
		switch {
		case drifted[c.Address] == "delete" || (acts == "create" && drifted[c.Address] == ""):
			item.Status = envs.DriftDeleted
			item.Detail = "gone or changed outside Mayfly: the plan creates it again"
		case acts == "delete":
			item.Status = envs.DriftAdded
			item.Detail = "the plan deletes it"
		default:
			item.Detail = "the plan would " + strings.ReplaceAll(acts, ",", " and ") + " it"
		}
		rep.Items = append(rep.Items, item)
	}
	if len(rep.Items) == 0 {
		rep.Items = append(rep.Items, envs.DriftItem{Resource: req.Handle, Type: "stack", Status: envs.DriftModified,
			Detail: "the plan has changes (outputs or resources outside the configuration)"})
	}
	return rep, nil
}

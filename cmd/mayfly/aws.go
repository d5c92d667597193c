package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/mayflyhq/mayfly/envs"
	mfaws "github.com/mayflyhq/mayfly/envs/aws"
	"github.com/mayflyhq/mayfly/handlers"
)

// startAWS builds the aws provider when it is enabled. It loads the SDK's
// configuration (the standard chain: variables, shared files and profiles,
// SSO, instance and task roles, endpoint overrides) but does not contact
// AWS: reachability is checked in the background, so an unreachable AWS
// never holds up start-up.
func (m *Main) startAWS(ctx context.Context, instance string) ([]envs.Provider, error) {
	if !m.Config.AWS.Enabled {
		return nil, nil
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws: load configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("aws: no region: set AWS_REGION (or a region in the AWS profile), or start with --aws off")
	}
	allow, _ := m.Config.AWS.healthAllow() // validated
	m.AWS = mfaws.New(mfaws.Config{AWS: cfg, InstanceID: instance, Logger: m.Log.With("provider", "aws"),
		HealthInterval: m.Config.AWS.HealthInterval, HealthAllow: allow})
	checkCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.awsStop = cancel
	go m.checkAWS(checkCtx)
	m.Log.Info("aws provider enabled", "region", cfg.Region)
	return []envs.Provider{m.AWS}, nil
}

// checkAWS asks STS who we are now and then, logging changes only.
func (m *Main) checkAWS(ctx context.Context) {
	t := time.NewTicker(m.Config.AWS.CheckInterval)
	defer t.Stop()
	was := -1
	for {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		r := m.AWS.Check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := 0
		if r.Reachable {
			now = 1
		}
		if now != was {
			if r.Reachable {
				m.Log.Info("aws is reachable", "account", r.Account, "arn", r.Arn, "region", r.Region)
			} else {
				m.Log.Warn("aws is not reachable; aws environments wait and retry", "err", r.Error)
			}
			was = now
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// providerChecks reports the aws provider's last reachability check, the
// tofu provider's binary (checked at start), and asks the kubernetes
// cluster afresh.
func (m *Main) providerChecks() []handlers.ProviderCheck {
	var checks []handlers.ProviderCheck
	if m.Tofu != nil {
		checks = append(checks, m.tofuCheck)
	}
	if m.AWS == nil {
		return append(checks, m.kubeCheck()...)
	}
	c := handlers.ProviderCheck{Provider: mfaws.Name, Detail: "region " + m.AWS.DefaultRegion()}
	if r, ok := m.AWS.LastCheck(); ok {
		c.Checked, c.Reachable, c.CheckedAt = true, r.Reachable, r.CheckedAt
		if r.Reachable {
			c.Detail = fmt.Sprintf("account %s as %s, region %s", r.Account, r.Arn, r.Region)
		} else {
			c.Detail = r.Error
		}
	}
	return append(append([]handlers.ProviderCheck{c}, checks...), m.kubeCheck()...)
}

package main

import (
	"flag"
	"fmt"
	"net/netip"
	"time"
)

// AWSConfig is Mayfly's own part of the aws provider's configuration.
// Credentials, region and endpoints are not here: the SDK reads them from
// its standard variables and files (AWS_REGION, AWS_PROFILE,
// AWS_ENDPOINT_URL, ...) when the provider starts.
type AWSConfig struct {
	// Mode is auto (the default: on when AWS_REGION, AWS_DEFAULT_REGION or
	// AWS_PROFILE is set), on or off (MAYFLY_AWS, --aws).
	Mode    string
	Enabled bool
	// OrphanGrace is how long a stack may stay without a live environment
	// before the sweep deletes it; OrphanDryRun only reports.
	OrphanGrace  time.Duration
	OrphanDryRun bool
	// OrphanSweepInterval is how often the stacks are listed (the call is
	// paginated and rate-limited by AWS, so not every few seconds).
	OrphanSweepInterval time.Duration
	// CheckInterval is how often reachability (STS GetCallerIdentity) is
	// checked for the admin view.
	CheckInterval time.Duration
	// HealthInterval is how often the stacks of ready environments are
	// checked for breakage outside Mayfly (deleted, failed).
	HealthInterval time.Duration
	// HealthAllow lists address ranges (comma-separated CIDRs) that health
	// outputs may reach although they are refused by default: loopback,
	// link-local and cloud metadata addresses.
	HealthAllow string
}

func awsFlags(fs *flag.FlagSet, c *AWSConfig, env func(string, string) string, envDur func(string, time.Duration) time.Duration) {
	fs.StringVar(&c.Mode, "aws", env("MAYFLY_AWS", "auto"), "aws provider: auto (on when AWS_REGION or AWS_PROFILE is set), on or off (MAYFLY_AWS)")
	// The orphan sweep is every cloud-like provider's (aws, tofu,
	// kubernetes); its flags were named for aws first, and those names
	// stay as aliases.
	grace := envDur("MAYFLY_ORPHAN_GRACE", envDur("MAYFLY_AWS_ORPHAN_GRACE", 24*time.Hour))
	dryRun := env("MAYFLY_ORPHAN_DRY_RUN", env("MAYFLY_AWS_ORPHAN_DRY_RUN", ""))
	every := envDur("MAYFLY_ORPHAN_SWEEP_INTERVAL", envDur("MAYFLY_AWS_ORPHAN_SWEEP_INTERVAL", 5*time.Minute))
	fs.DurationVar(&c.OrphanGrace, "orphan-grace", grace, "delete a stack Mayfly made this long after it lost its environment (MAYFLY_ORPHAN_GRACE)")
	fs.BoolVar(&c.OrphanDryRun, "orphan-dry-run", dryRun == "1" || dryRun == "true", "only report orphaned stacks, never delete them (MAYFLY_ORPHAN_DRY_RUN)")
	fs.DurationVar(&c.OrphanSweepInterval, "orphan-sweep-interval", every, "how often orphaned stacks are looked for (MAYFLY_ORPHAN_SWEEP_INTERVAL)")
	for _, name := range []string{"orphan-grace", "orphan-dry-run", "orphan-sweep-interval"} {
		fs.Var(fs.Lookup(name).Value, "aws-"+name, "the old name of --"+name)
	}
	fs.DurationVar(&c.CheckInterval, "aws-check-interval", envDur("MAYFLY_AWS_CHECK_INTERVAL", time.Minute), "how often AWS reachability is checked (MAYFLY_AWS_CHECK_INTERVAL)")
	fs.DurationVar(&c.HealthInterval, "aws-health-interval", envDur("MAYFLY_AWS_HEALTH_INTERVAL", time.Minute),
		"how often the stacks of ready environments are checked for breakage outside Mayfly (MAYFLY_AWS_HEALTH_INTERVAL)")
	fs.StringVar(&c.HealthAllow, "aws-health-allow", env("MAYFLY_AWS_HEALTH_ALLOW", ""),
		"address ranges (comma-separated CIDRs) health outputs may reach although refused by default: loopback, link-local and cloud metadata (MAYFLY_AWS_HEALTH_ALLOW)")
}

// healthAllow parses --aws-health-allow.
func (c AWSConfig) healthAllow() ([]netip.Prefix, error) {
	return parsePrefixes("--aws-health-allow (MAYFLY_AWS_HEALTH_ALLOW)", c.HealthAllow)
}

// resolve decides whether the provider is on. In auto mode the presence of
// a region or profile is the sign that this installation is meant to use
// AWS; a plain local start never tries to reach it.
func (c *AWSConfig) resolve(getenv func(string) string) {
	switch c.Mode {
	case "on", "1", "true":
		c.Enabled = true
	case "auto", "":
		c.Enabled = getenv("AWS_REGION") != "" || getenv("AWS_DEFAULT_REGION") != "" || getenv("AWS_PROFILE") != ""
	}
}

func (c AWSConfig) validate() error {
	switch c.Mode {
	case "on", "1", "true", "off", "0", "false", "auto", "":
	default:
		return fmt.Errorf("--aws %q: must be auto, on or off", c.Mode)
	}
	if c.OrphanGrace < 0 || c.OrphanSweepInterval <= 0 || c.CheckInterval <= 0 || c.HealthInterval <= 0 {
		return fmt.Errorf("--orphan-grace must not be negative, the intervals must be positive")
	}
	if _, err := c.healthAllow(); err != nil {
		return err
	}
	return nil
}

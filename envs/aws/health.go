package aws

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
)

// StackHealth implements envs.HealthChecker: are the stacks of ready
// environments still what Mayfly made? A stack deleted or being deleted
// outside Mayfly, or left failed (UPDATE_ROLLBACK_FAILED after a manual
// update, DELETE_FAILED after a console delete), is not; an update in
// progress or one rolled back cleanly is. A sound stack with a
// health_output also has that URL asked, as before it was ready; it is not
// healthy when the URL fails twice, OutputRetry apart (one lost request is
// not an outage). The stacks of each (region,
// role) are listed in one go rather than described one by one, and only
// a stack missing from the listing is asked for by id; all of it at most
// every HealthInterval (the reaper's sweep asks every few seconds). A
// scope that cannot be listed (throttled beyond the retryer, unreachable)
// judges none of its handles, so an AWS error never flags anything.
func (p *Provider) StackHealth(ctx context.Context, handles []string) (map[string]string, error) {
	now := p.cfg.Clock()
	p.mu.Lock()
	due := p.healthAt.IsZero() || now.Sub(p.healthAt) >= p.cfg.HealthInterval
	if due {
		p.healthAt = now
	}
	p.mu.Unlock()
	if !due {
		return nil, nil
	}
	groups := map[scope]map[string]string{} // stack id -> handle, per scope
	for _, raw := range handles {
		h, err := parseHandle(raw)
		if err != nil {
			continue // not a stack handle: nothing to judge
		}
		sc := scope{region: cmp.Or(h.Region, p.cfg.AWS.Region), role: h.Role}
		if groups[sc] == nil {
			groups[sc] = map[string]string{}
		}
		groups[sc][h.StackID] = raw
	}
	out := map[string]string{}
	probes := map[string]outputProbe{} // handle -> its health output
	var errs []error
	for sc, want := range groups {
		verdicts, err := p.scopeHealth(ctx, sc, want, probes)
		if err != nil {
			errs = append(errs, err)
		}
		for h, v := range verdicts {
			out[h] = v
		}
	}
	p.probeOutputs(ctx, probes, out)
	return out, errors.Join(errs...)
}

// outputChecks bounds the time StackHealth spends asking health outputs;
// those without an answer by then are not judged this time.
const outputChecks = 30 * time.Second

// outputProbe is a stack's health output: its name and URL.
type outputProbe struct{ name, url string }

// probeOutputs asks the health outputs, 8 at a time, and sets their
// handles' verdicts in out: healthy when one answers, not healthy when it
// fails and, OutputRetry later, fails again. The answer is the same on
// every replica, so nothing is kept between checks.
func (p *Provider) probeOutputs(ctx context.Context, probes map[string]outputProbe, out map[string]string) {
	ctx, cancel := context.WithTimeout(ctx, outputChecks)
	defer cancel()
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for h, pr := range probes {
		delete(out, h) // judged below, or not at all
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				return
			}
			ok, why := p.healthy(ctx, pr.url)
			if !ok {
				select {
				case <-time.After(p.cfg.OutputRetry):
					ok, why = p.healthy(ctx, pr.url)
				case <-ctx.Done():
				}
			}
			if ctx.Err() != nil {
				return // out of time: not judged
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				out[h] = ""
			} else {
				out[h] = fmt.Sprintf("its health output %s does not answer: %s", pr.name, why)
			}
		})
	}
	wg.Wait()
}

// scopeHealth judges the stacks of one scope (want: stack id -> handle),
// and adds the sound ones with a health output to probes.
func (p *Provider) scopeHealth(ctx context.Context, sc scope, want map[string]string, probes map[string]outputProbe) (map[string]string, error) {
	out := map[string]string{}
	err := p.eachStack(ctx, sc, func(st *types.Stack) {
		raw, ok := want[aws.ToString(st.StackId)]
		if !ok {
			return
		}
		out[raw] = stackHealth(st)
		if name := tagValue(st.Tags, TagHealthOutput); name != "" && out[raw] == "" {
			probes[raw] = outputProbe{name: name, url: outputValue(st, name)}
		}
	})
	if err != nil {
		return nil, err
	}
	// A listing leaves deleted stacks out; asked for by id, CloudFormation
	// still answers for them (DELETE_COMPLETE) for a while, then not at all.
	var errs []error
	for id, raw := range want {
		if _, ok := out[raw]; ok {
			continue
		}
		st, _, err := p.describe(ctx, handle{StackID: id, Region: sc.region, Role: sc.role})
		switch {
		case errors.Is(err, errStackGone):
			out[raw] = "the CloudFormation stack no longer exists"
		case err != nil:
			errs = append(errs, err)
		default:
			out[raw] = stackHealth(st)
		}
	}
	return out, errors.Join(errs...)
}

// stackHealth judges a ready environment's stack by its status: "" when
// sound, else why not, in one line.
func stackHealth(st *types.Stack) string {
	status := st.StackStatus
	switch {
	case status == types.StackStatusDeleteComplete:
		return "the CloudFormation stack was deleted outside Mayfly (DELETE_COMPLETE)"
	case status == types.StackStatusDeleteInProgress:
		return "the CloudFormation stack is being deleted outside Mayfly (DELETE_IN_PROGRESS)"
	case status == types.StackStatusRollbackComplete, strings.HasSuffix(string(status), "_FAILED"):
		if r := aws.ToString(st.StackStatusReason); r != "" {
			return fmt.Sprintf("the CloudFormation stack is %s: %s", status, r)
		}
		return "the CloudFormation stack is " + string(status)
	default:
		// *_COMPLETE (an update, or a rolled-back update, left it working)
		// and updates in progress, which are judged once they settle.
		return ""
	}
}

// outputValue is a stack output's value, "" when it has none by that name.
func outputValue(st *types.Stack, name string) string {
	for _, o := range st.Outputs {
		if aws.ToString(o.OutputKey) == name {
			return aws.ToString(o.OutputValue)
		}
	}
	return ""
}

// healthClient asks health outputs (see Config.HTTPClient). A template's
// author chooses the URL and everyone who sees the environment reads the
// verdict, so the portal must not become a way into where it stands: the
// address is checked when the connection is made, after DNS (a name that
// resolves to a refused address, or changes its answer, does not pass),
// and a redirect may not leave the URL's scheme and host. No proxy from
// the environment is used: the check would then judge the proxy.
func healthClient(allow []netip.Prefix) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("aws: health output: address %q: %w", address, err)
		}
		a := ap.Addr().Unmap()
		if why := refusedAddr(a); why != "" && !slices.ContainsFunc(allow, func(p netip.Prefix) bool { return p.Contains(a) }) {
			return &refusedAddrError{addr: a, why: why}
		}
		return nil
	}}
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{Proxy: nil, DialContext: dialer.DialContext, TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConnsPerHost: 1, IdleConnTimeout: 90 * time.Second},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if first := via[0].URL; req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
				return fmt.Errorf("%w: %s to %s://%s", errRedirectOff, first.Host, req.URL.Scheme, req.URL.Host)
			}
			if len(via) >= 5 {
				return errors.New("aws: health output: more than 5 redirects")
			}
			return nil
		},
	}
}

// errRedirectOff is a health output redirecting to another scheme or host.
var errRedirectOff = errors.New("aws: health output redirects off its host")

// refusedAddrError is a connection a health output may not make.
type refusedAddrError struct {
	addr netip.Addr
	why  string // "a loopback address", ...
}

func (e *refusedAddrError) Error() string {
	return fmt.Sprintf("aws: health output: %s is %s, which is not asked unless --aws-health-allow includes it", e.addr, e.why)
}

// Addresses of cloud providers' instance metadata and host services
// outside the link-local range.
var metadataPrefixes = []netip.Prefix{
	netip.MustParsePrefix("fd00:ec2::/32"),      // AWS: IPv6 metadata (fd00:ec2::254), DNS, time
	netip.MustParsePrefix("100.100.100.200/32"), // Alibaba Cloud metadata
	netip.MustParsePrefix("168.63.129.16/32"),   // Azure host services (WireServer)
}

// refusedAddr says why a health output may not connect to a, "" when it
// may. Loopback reaches the portal's host itself, link-local the
// instance's metadata service (credentials of the portal's role); private
// networks are allowed, as internal apps on private VPC addresses are what
// health outputs usually point at.
func refusedAddr(a netip.Addr) string {
	switch {
	case a.IsLoopback():
		return "a loopback address"
	case a.IsUnspecified() || a.Is4() && a.As4()[0] == 0:
		return "an unspecified address"
	case a.IsLinkLocalUnicast():
		return "a link-local address (where cloud metadata services answer)"
	case a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "a multicast or broadcast address"
	case slices.ContainsFunc(metadataPrefixes, func(p netip.Prefix) bool { return p.Contains(a) }):
		return "a cloud metadata address"
	}
	return ""
}

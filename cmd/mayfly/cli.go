package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mayflyhq/mayfly/client"
)

// The command line client: mayfly env ... and mayfly template ..., against
// the portal at MAYFLY_URL with the API token MAYFLY_TOKEN (none in local
// mode). Exit status: 0 done, 1 refused or failed (the reason on stderr),
// 2 wrong usage.

const envUsage = `Usage: mayfly env COMMAND [flags]

  launch TEMPLATE [--param k=v]... [--name N] [--version V] [--ttl 2h]
                  [--idempotency-key K]
                  [--wait] [--timeout 10m]   launch; with --wait, until ready
                                             (exit 1 with the reason if it fails);
                                             the same --idempotency-key (e.g. a CI
                                             pipeline id) again within 24h gives
                                             the environment it launched
  get ENV                                    one environment (ENV: id or name)
  list [--status S] [--template T] [--owner O] [--name N] [--limit 50]
  extend ENV --ttl 1h                        add time
  destroy ENV [--wait] [--timeout 10m]       destroy now; with --wait, until destroyed
  logs ENV [--service S]                     its services' captured output
  events ENV [--follow]                      its timeline; --follow until it is destroyed

Every command takes --output table (default) or json, and --url (default
$MAYFLY_URL, else http://127.0.0.1:8080). The API token comes from
$MAYFLY_TOKEN (not needed in local mode).
`

const templateUsage = `Usage: mayfly template COMMAND [flags]

  publish FILE      publish a template version (template.yaml; - for stdin)

Flags: --output table|json, --url (default $MAYFLY_URL).
`

// cli is what every client command shares.
type cli struct {
	api    *client.Client
	out    string // table or json
	stdout io.Writer
	stderr io.Writer
}

// cliFlags is a flag set with the shared flags; parse reads flags before
// and after the positional arguments (mayfly env launch shop --ttl 2h).
type cliFlags struct {
	*flag.FlagSet
	url, output *string
}

func newCLIFlags(name string, getenv func(string) string, stderr io.Writer) cliFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return cliFlags{FlagSet: fs,
		url:    fs.String("url", cmpOr(getenv("MAYFLY_URL"), "http://127.0.0.1:8080"), "the portal's URL"),
		output: fs.String("output", "table", "table or json"),
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (f cliFlags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			return nil, err
		}
		args = f.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	if *f.output != "table" && *f.output != "json" {
		return nil, fmt.Errorf("--output: %q is not table or json", *f.output)
	}
	if u, err := url.Parse(*f.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url (or MAYFLY_URL): %q is not an http(s) URL", *f.url)
	}
	return pos, nil
}

// multiFlag collects a repeated flag (--param k=v --param k2=v2).
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func envCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || slices.Contains([]string{"help", "-h", "--help"}, args[0]) {
		fmt.Fprint(stdout, envUsage)
		return 0
	}
	sub, args := args[0], args[1:]
	f := newCLIFlags("mayfly env "+sub, getenv, stderr)
	f.Usage = func() { fmt.Fprint(stderr, envUsage) }
	var params multiFlag
	var name, version, ttl, status, template, owner, service string
	var wait, follow bool
	var timeout time.Duration
	var limit int
	var idemKey string
	want := map[string]int{"get": 1, "extend": 1, "destroy": 1, "logs": 1, "events": 1, "launch": 1, "list": 0}
	n, ok := want[sub]
	if !ok {
		fmt.Fprintf(stderr, "mayfly env: unknown command %q\n\n%s", sub, envUsage)
		return 2
	}
	switch sub {
	case "launch":
		f.Var(&params, "param", "a parameter value, name=value (repeat for each)")
		f.StringVar(&name, "name", "", "the environment's name (default: generated)")
		f.StringVar(&version, "version", "", "the template version (default: the latest)")
		f.StringVar(&ttl, "ttl", "", "its lifetime, e.g. 2h (default: the template's)")
		f.BoolVar(&wait, "wait", false, "wait until it is ready; exit 1 if it fails")
		f.DurationVar(&timeout, "timeout", 10*time.Minute, "how long --wait waits")
		f.StringVar(&idemKey, "idempotency-key", "", "a key for this launch (e.g. the CI pipeline id): run again, it answers with the environment it launched")
	case "destroy":
		f.BoolVar(&wait, "wait", false, "wait until it is destroyed")
		f.DurationVar(&timeout, "timeout", 10*time.Minute, "how long --wait waits")
	case "extend":
		f.StringVar(&ttl, "ttl", "", "the time to add, e.g. 1h")
	case "list":
		f.StringVar(&status, "status", "", "statuses, comma-separated")
		f.StringVar(&template, "template", "", "a template name")
		f.StringVar(&owner, "owner", "", "an owner")
		f.StringVar(&name, "name", "", "an exact environment name")
		f.IntVar(&limit, "limit", 50, "at most this many")
	case "logs":
		f.StringVar(&service, "service", "", "one service only")
	case "events":
		f.BoolVar(&follow, "follow", false, "keep printing new events until the environment is destroyed")
	}
	pos, err := f.parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil && len(pos) != n {
		err = fmt.Errorf("takes %d argument(s), got %d", n, len(pos))
	}
	if err == nil && sub == "extend" && ttl == "" {
		err = errors.New("--ttl is required")
	}
	if err == nil && wait && timeout <= 0 {
		err = errors.New("--timeout must be positive")
	}
	p := map[string]any{}
	for _, kv := range params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			err = fmt.Errorf("--param %q: want name=value", kv)
			break
		}
		p[k] = v
	}
	if err != nil {
		fmt.Fprintf(stderr, "mayfly env %s: %v\n", sub, err)
		return 2
	}
	c := cli{api: client.New(*f.url, getenv("MAYFLY_TOKEN")), out: *f.output, stdout: stdout, stderr: stderr}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch sub {
	case "launch":
		err = c.launch(ctx, client.LaunchRequest{Template: pos[0], Version: version, Name: name, Params: p, TTL: ttl, IdempotencyKey: idemKey}, wait, timeout)
	case "get":
		err = c.get(ctx, pos[0])
	case "list":
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		for k, v := range map[string]string{"status": status, "template": template, "owner": owner, "name": name} {
			if v != "" {
				q.Set(k, v)
			}
		}
		err = c.list(ctx, q)
	case "extend":
		err = c.act(ctx, pos[0], func(id string) (client.Environment, error) { return c.api.Extend(ctx, id, ttl) })
	case "destroy":
		err = c.destroy(ctx, pos[0], wait, timeout)
	case "logs":
		err = c.logs(ctx, pos[0], service)
	case "events":
		err = c.events(ctx, pos[0], follow)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mayfly env %s: %v\n", sub, err)
		return 1
	}
	return 0
}

func (c cli) launch(ctx context.Context, req client.LaunchRequest, wait bool, timeout time.Duration) error {
	e, err := c.api.Launch(ctx, req)
	if err != nil {
		return err
	}
	if wait {
		if c.out == "table" {
			fmt.Fprintf(c.stderr, "launched %s (%s), waiting until it is ready...\n", e.Name, e.ID)
		}
		var outcome string
		if e, outcome, err = c.api.Wait(ctx, e.ID, "ready", timeout); err != nil {
			return err
		}
		c.show(e)
		switch outcome {
		case "reached":
			return nil
		case "timeout":
			return fmt.Errorf("%s is still %s after %s", e.Name, e.Status, timeout)
		default:
			return fmt.Errorf("%s did not become ready: %s", e.Name, reason(e))
		}
	}
	c.show(e)
	return nil
}

// reason is why an environment is where it is.
func reason(e client.Environment) string {
	for _, s := range []string{e.FailureReason, e.StatusReason} {
		if s != "" {
			return e.Status + ": " + s
		}
	}
	return e.Status
}

func (c cli) get(ctx context.Context, ref string) error {
	e, err := c.api.Find(ctx, ref)
	if err != nil {
		return err
	}
	c.show(e)
	return nil
}

// act finds an environment by id or name and applies do to its id.
func (c cli) act(ctx context.Context, ref string, do func(id string) (client.Environment, error)) error {
	e, err := c.api.Find(ctx, ref)
	if err != nil {
		return err
	}
	if e, err = do(e.ID); err != nil {
		return err
	}
	c.show(e)
	return nil
}

func (c cli) destroy(ctx context.Context, ref string, wait bool, timeout time.Duration) error {
	e, err := c.api.Find(ctx, ref)
	if err != nil {
		return err
	}
	if e, err = c.api.Destroy(ctx, e.ID); err != nil {
		return err
	}
	if wait {
		var outcome string
		if e, outcome, err = c.api.Wait(ctx, e.ID, "destroyed", timeout); err != nil {
			return err
		}
		if outcome != "reached" {
			c.show(e)
			return fmt.Errorf("%s is still %s after %s", e.Name, reason(e), timeout)
		}
	}
	c.show(e)
	return nil
}

func (c cli) list(ctx context.Context, q url.Values) error {
	list, err := c.api.Environments(ctx, q)
	if err != nil {
		return err
	}
	if c.out == "json" {
		raws := make([]json.RawMessage, len(list))
		for i, e := range list {
			raws[i] = e.Raw
		}
		return c.json(map[string]any{"items": raws})
	}
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tTEMPLATE\tSTATUS\tOWNER\tTTL LEFT")
	for _, e := range list {
		fmt.Fprintf(w, "%s\t%s\t%s@%s\t%s\t%s\t%s\n", e.ID, e.Name, e.Template, e.Version, e.Status, e.Owner, e.TTLRemaining)
	}
	return w.Flush()
}

// show prints one environment: its JSON, or a short table.
func (c cli) show(e client.Environment) {
	if c.out == "json" {
		_ = c.json(e.Raw)
		return
	}
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "id\t%s\nname\t%s\ntemplate\t%s@%s\nstatus\t%s\n", e.ID, e.Name, e.Template, e.Version, e.Status)
	if r := cmpOr(e.FailureReason, e.StatusReason); r != "" {
		fmt.Fprintf(w, "reason\t%s\n", r)
	}
	fmt.Fprintf(w, "owner\t%s\nexpires\t%s (%s left)\n", e.Owner, e.ExpiresAt.Format(time.RFC3339), e.TTLRemaining)
	for _, k := range slices.Sorted(maps.Keys(e.Params)) {
		fmt.Fprintf(w, "param %s\t%v\n", k, e.Params[k])
	}
	for _, k := range slices.Sorted(maps.Keys(e.Outputs)) {
		fmt.Fprintf(w, "output %s\t%s\n", k, e.Outputs[k])
	}
	_ = w.Flush()
}

func (c cli) json(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c cli) logs(ctx context.Context, ref, service string) error {
	e, err := c.api.Find(ctx, ref)
	if err != nil {
		return err
	}
	logs, err := c.api.Logs(ctx, e.ID, service)
	if err != nil {
		return err
	}
	if c.out == "json" {
		return c.json(map[string]any{"items": logs})
	}
	for _, l := range logs {
		fmt.Fprintf(c.stdout, "==> %s <==\n%s", l.Service, l.Text)
		if !strings.HasSuffix(l.Text, "\n") && l.Text != "" {
			fmt.Fprintln(c.stdout)
		}
		if l.Truncated {
			fmt.Fprintln(c.stdout, "(earlier output truncated)")
		}
	}
	return nil
}

// events prints the timeline; with follow it keeps printing new events
// from the portal's event stream until the environment is destroyed.
func (c cli) events(ctx context.Context, ref string, follow bool) error {
	e, err := c.api.Find(ctx, ref)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(c.stdout)
	emit := func(ev client.Event) error {
		if c.out == "json" {
			return enc.Encode(ev) // one JSON object per line
		}
		_, err := fmt.Fprintf(c.stdout, "%s  %-12s %s\n", ev.At.Format(time.RFC3339), cmpOr(ev.Status, ev.Kind), ev.Message)
		return err
	}
	if follow {
		return c.api.FollowEvents(ctx, e.ID, 0, emit)
	}
	evs, err := c.api.Events(ctx, e.ID, 0)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if err := emit(ev); err != nil {
			return err
		}
	}
	return nil
}

func templateCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || slices.Contains([]string{"help", "-h", "--help"}, args[0]) {
		fmt.Fprint(stdout, templateUsage)
		return 0
	}
	if args[0] != "publish" {
		fmt.Fprintf(stderr, "mayfly template: unknown command %q\n\n%s", args[0], templateUsage)
		return 2
	}
	f := newCLIFlags("mayfly template publish", getenv, stderr)
	f.Usage = func() { fmt.Fprint(stderr, templateUsage) }
	pos, err := f.parse(args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil && len(pos) != 1 {
		err = fmt.Errorf("takes 1 argument (the file), got %d", len(pos))
	}
	if err != nil {
		fmt.Fprintf(stderr, "mayfly template publish: %v\n", err)
		return 2
	}
	var body []byte
	if pos[0] == "-" {
		body, err = io.ReadAll(os.Stdin)
	} else {
		body, err = os.ReadFile(pos[0])
	}
	if err == nil {
		var v json.RawMessage
		if v, err = client.New(*f.url, getenv("MAYFLY_TOKEN")).Publish(context.Background(), body); err == nil {
			if *f.output == "json" {
				_, err = stdout.Write(append(v, '\n'))
			} else {
				var out struct{ Name, Version, Digest string }
				_ = json.Unmarshal(v, &out)
				fmt.Fprintf(stdout, "published %s@%s (%s)\n", out.Name, out.Version, out.Digest)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "mayfly template publish: %v\n", err)
		return 1
	}
	return 0
}

package tofu

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/mayflyhq/mayfly/envs"
)

// runner is one stack's work: its work dir and what every command of it
// gets in its environment.
type runner struct {
	p     *Provider
	stack string
	dir   string
	vars  map[string]string // parameter values, secrets included: environment only
	log   io.Writer         // the stack's log file
	emit  func(envs.ProviderEvent)
	// backend: the run reaches the stack's state (not a validate or a
	// version check, which get no credential).
	backend bool
}

// cliConfig is the CLI configuration file of every run: providers come
// from the configured filesystem mirror (and plugin cache), and from the
// registry only when the administrator allows downloads.
func (p *Provider) cliConfig() string {
	var b strings.Builder
	b.WriteString("# Written by Mayfly for each run; see the README (tofu provider).\n")
	if p.cfg.PluginCache != "" {
		fmt.Fprintf(&b, "plugin_cache_dir = %q\n", p.cfg.PluginCache)
	}
	b.WriteString("provider_installation {\n")
	if p.cfg.Mirror != "" {
		fmt.Fprintf(&b, "  filesystem_mirror {\n    path = %q\n  }\n", p.cfg.Mirror)
	}
	if p.cfg.AllowDownloads {
		b.WriteString("  direct {}\n")
	}
	b.WriteString("}\n")
	if p.cfg.Mirror == "" && !p.cfg.AllowDownloads {
		// Nothing installs: only built-in resources (terraform_data) work.
		return strings.Replace(b.String(), "provider_installation {\n}", "provider_installation {\n  filesystem_mirror {\n    path = \"/nonexistent\"\n  }\n}", 1)
	}
	return b.String()
}

// environ is the environment of every command: a minimal one (the
// portal's own variables, its secret key among them, are not passed on),
// the state backend's address and the stack's credential, and the
// parameters as TF_VAR_ variables, never as arguments.
func (r *runner) environ() []string {
	p := r.p
	env := []string{
		"PATH=" + cmpOr(os.Getenv("PATH"), "/usr/local/bin:/usr/bin:/bin"),
		"HOME=" + filepath.Join(r.dir, ".mayfly", "home"),
		"TMPDIR=" + filepath.Join(r.dir, ".mayfly", "tmp"),
		"LANG=C.UTF-8",
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"CHECKPOINT_DISABLE=1",
		"TF_CLI_CONFIG_FILE=" + filepath.Join(r.dir, ".mayfly", "cli.tfrc"),
	}
	if r.backend {
		addr := strings.TrimRight(p.cfg.StateURL(), "/") + "/api/v1/tofu/states/" + r.stack
		env = append(env,
			"TF_HTTP_ADDRESS="+addr,
			"TF_HTTP_LOCK_ADDRESS="+addr,
			"TF_HTTP_UNLOCK_ADDRESS="+addr,
			"TF_HTTP_LOCK_METHOD=LOCK",
			"TF_HTTP_UNLOCK_METHOD=UNLOCK",
			"TF_HTTP_USERNAME="+holderPrefix+p.id,
			"TF_HTTP_PASSWORD="+p.cfg.States.Credential(r.stack),
		)
	}
	names := make([]string, 0, len(r.vars))
	for k := range r.vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		env = append(env, "TF_VAR_"+k+"="+r.vars[k])
	}
	return env
}

// prepare writes the configuration, Mayfly's backend file and the CLI
// configuration into the work dir, removing the files of the previous
// configuration written there that this one no longer has (what the
// stack's own commands write there, such as a pid file, stays).
func (r *runner) prepare(st *Stack) error {
	for _, d := range []string{r.dir, filepath.Join(r.dir, ".mayfly", "home"), filepath.Join(r.dir, ".mayfly", "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("tofu: create work dir: %w", err)
		}
	}
	files := map[string]string{backendFile: "# Written by Mayfly: the state is kept by Mayfly (http backend).\nterraform {\n  backend \"http\" {}\n}\n"}
	if st != nil {
		for name, content := range st.Files {
			files[name] = content
		}
	}
	manifest := filepath.Join(r.dir, ".mayfly", "files")
	if old, err := os.ReadFile(manifest); err == nil {
		for _, name := range strings.Split(string(old), "\n") {
			if _, keep := files[name]; name != "" && !keep && fileNamePattern.MatchString(name) && !strings.Contains(name, "..") {
				if err := os.Remove(filepath.Join(r.dir, filepath.FromSlash(name))); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("tofu: remove %s: %w", name, err)
				}
			}
		}
	}
	if err := os.WriteFile(manifest, []byte(strings.Join(sortedNames(files), "\n")), 0o600); err != nil {
		return fmt.Errorf("tofu: write work dir: %w", err)
	}
	files[".mayfly/cli.tfrc"] = r.p.cliConfig()
	for name, content := range files {
		path := filepath.Join(r.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("tofu: write %s: %w", name, err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return fmt.Errorf("tofu: write %s: %w", name, err)
		}
	}
	return nil
}

// stepError is a command that failed, with the diagnostics it printed.
type stepError struct {
	step   string
	detail string
	code   int
	diags  []diagnostic
}

// diagnostic is one error OpenTofu reported, with its file and line when
// it has them.
type diagnostic struct {
	File    string
	Line    int
	Message string
}

func (d diagnostic) String() string {
	if d.File == "" {
		return d.Message
	}
	return fmt.Sprintf("%s line %d: %s", d.File, d.Line, d.Message)
}

func (e *stepError) Error() string {
	if e.detail == "" {
		return fmt.Sprintf("tofu %s failed (exit status %d)", e.step, e.code)
	}
	return fmt.Sprintf("tofu %s failed: %s", e.step, e.detail)
}

// maxStepEvents bounds the lines one step puts into the timeline; the rest
// is in the stack's log.
const maxStepEvents = 200

// run runs one command of a step with the step's timeout. With -json
// output each message goes into the timeline (and the log); the exit code
// is returned for plan -detailed-exitcode. A cancelled context interrupts
// the command (SIGINT, as Ctrl-C: OpenTofu stops safely and releases its
// lock), and kills it if it has not stopped after a grace.
func (r *runner) run(ctx context.Context, step string, timeout time.Duration, args ...string) (stdout []byte, code int, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.p.cfg.Binary, args...)
	cmd.Dir = r.dir
	cmd.Env = r.environ()
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = r.p.cfg.StopGrace
	var out bytes.Buffer
	var stderr bytes.Buffer
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = io.MultiWriter(&stderr, r.log)
	fmt.Fprintf(r.log, "%s $ %s %s\n", time.Now().UTC().Format(time.RFC3339), filepath.Base(r.p.cfg.Binary), strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		return nil, -1, fmt.Errorf("tofu: start %s: %w", step, err)
	}
	r.p.started(r.stack, cmd.Process.Pid)
	defer r.p.stopped(r.stack)
	var diags []diagnostic
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 4<<20)
		events := 0
		for sc.Scan() {
			line := sc.Bytes()
			out.Write(line)
			out.WriteByte('\n')
			msg, diag := message(line)
			if msg == "" {
				continue
			}
			fmt.Fprintln(r.log, msg)
			if diag != nil {
				diags = append(diags, *diag)
			}
			if r.emit != nil && events < maxStepEvents {
				events++
				r.emit(envs.ProviderEvent{Message: msg})
			}
		}
		io.Copy(io.Discard, pr)
	}()
	err = cmd.Wait()
	pw.Close()
	<-done
	code = cmd.ProcessState.ExitCode()
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return out.Bytes(), code, &stepError{step: step, detail: fmt.Sprintf("timed out after %s", envs.FormatDuration(timeout))}
	case ctx.Err() != nil:
		return out.Bytes(), code, fmt.Errorf("tofu: %s stopped: %w", step, ctx.Err())
	case err != nil && code != 2:
		var parts []string
		for _, d := range diags {
			parts = append(parts, d.String())
		}
		detail := strings.Join(parts, "; ")
		if detail == "" {
			detail = lastLines(stderr.String(), 3)
		}
		return out.Bytes(), code, &stepError{step: step, detail: detail, code: code, diags: diags}
	}
	return out.Bytes(), code, nil
}

// jsonLine is one line of OpenTofu's machine-readable UI (-json).
type jsonLine struct {
	Level      string          `json:"@level"`
	Message    string          `json:"@message"`
	Type       string          `json:"type"`
	Diagnostic *tofuDiagnostic `json:"diagnostic"`
}

// tofuDiagnostic is an error or warning as -json output carries it (a UI
// line's, or one of validate -json's list).
type tofuDiagnostic struct {
	Severity string `json:"severity"`
	Summary  string `json:"summary"`
	Detail   string `json:"detail"`
	Range    *struct {
		Filename string `json:"filename"`
		Start    struct {
			Line int `json:"line"`
		} `json:"start"`
	} `json:"range"`
}

// colour marks OpenTofu leaves in some -json messages.
var colour = regexp.MustCompile(`\[(reset|bold|red|green|yellow|dim|underline)\]`)

// message is what a line of output says for the timeline ("" for lines
// worth nothing there, such as the version banner), and the error
// diagnostic it carries, if any.
func message(line []byte) (string, *diagnostic) {
	var l jsonLine
	if err := json.Unmarshal(line, &l); err != nil {
		return strings.TrimSpace(string(line)), nil
	}
	switch l.Type {
	case "version", "log":
		return "", nil
	}
	msg := strings.TrimSpace(colour.ReplaceAllString(l.Message, ""))
	d := l.Diagnostic
	if d == nil || d.Severity != "error" {
		return msg, nil
	}
	text := d.Summary
	if d.Detail != "" {
		text += ": " + d.Detail
	}
	diag := &diagnostic{Message: strings.Join(strings.Fields(colour.ReplaceAllString(text, "")), " ")}
	if d.Range != nil && d.Range.Filename != "" {
		diag.File, diag.Line = d.Range.Filename, d.Range.Start.Line
	}
	return msg, diag
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(strings.Fields(strings.Join(lines, " ")), " ")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

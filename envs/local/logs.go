package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mayflyhq/mayfly/envs"
)

const logExt = ".log"

// Logs returns the captured output of one service, or of every stream
// (services, plus "setup" and "verify" for those commands) sorted by name
// when service is empty. Each stream holds at most limit bytes from its end,
// cut at a line boundary; limit <= 0 means no limit.
//
// Logs do not take the stack's lock: a user watching setup output must not
// wait for setup to finish. Destroy moves the logs directory to LogsDir in
// one rename, so a read that loses the race finds them in the archive.
func (p *Provider) Logs(ctx context.Context, handle, service string, limit int) ([]envs.LogStream, error) {
	if !handlePattern.MatchString(handle) {
		return nil, envs.Errorf(envs.ENotFound, "Stack %q not found.", handle)
	}
	if service != "" && !serviceNamePattern.MatchString(service) {
		return nil, envs.Errorf(envs.ENotFound, "No log for service %q.", service)
	}
	var lastErr error
	for range 2 {
		dir := filepath.Join(p.stackDir(handle), logsDirName)
		if _, err := os.Stat(dir); err != nil {
			dir = filepath.Join(p.logsDir, handle)
		}
		streams, err := readLogs(dir, service, limit)
		if err == nil {
			return streams, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		lastErr = err
	}
	if errors.Is(lastErr, errNoService) {
		return nil, envs.Errorf(envs.ENotFound, "No log for service %q.", service)
	}
	return nil, envs.Errorf(envs.ENotFound, "No logs for stack %q.", handle)
}

// errNoService wraps fs.ErrNotExist so that Logs retries, then tells a
// missing service from a missing stack.
var errNoService = fmt.Errorf("no such service: %w", fs.ErrNotExist)

func readLogs(dir, service string, limit int) ([]envs.LogStream, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), logExt)
		if !ok || !e.Type().IsRegular() || (service != "" && name != service) {
			continue
		}
		names = append(names, name)
	}
	if service != "" && len(names) == 0 {
		return nil, errNoService
	}
	sort.Strings(names)
	streams := make([]envs.LogStream, 0, len(names))
	for _, name := range names {
		text, truncated, err := tailFile(filepath.Join(dir, name+logExt), limit)
		if err != nil {
			return nil, err
		}
		streams = append(streams, envs.LogStream{Service: name, Text: text, Truncated: truncated})
	}
	return streams, nil
}

// tailFile returns the last limit bytes of a file, starting at a line
// boundary when it had to cut (unless the window holds no line break at all).
func tailFile(path string, limit int) (string, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", false, err
	}
	size := info.Size()
	if limit <= 0 || size <= int64(limit) {
		b, err := io.ReadAll(f)
		return string(b), false, err
	}
	// Read one byte more than the window: if it is a newline, the window
	// already starts at a line boundary.
	buf := make([]byte, limit+1)
	n, err := f.ReadAt(buf, size-int64(limit)-1)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, err
	}
	buf = buf[:n]
	if i := bytes.IndexByte(buf, '\n'); i >= 0 && i < len(buf)-1 {
		buf = buf[i+1:]
	} else {
		buf = buf[1:]
	}
	return string(buf), true, nil
}

// lastLines returns up to n non-empty lines from the end of a log, looking
// only at what was written from offset from on, joined into one line.
func lastLines(path string, from int64, n int) string {
	const window = 4096
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return ""
	}
	start := max(from, info.Size()-window)
	b := make([]byte, info.Size()-start)
	n2, _ := f.ReadAt(b, start)
	var lines []string
	for _, line := range strings.Split(string(b[:n2]), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	if start > from && len(lines) > 0 {
		lines = lines[1:] // probably a partial line
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.Join(lines, " | ")
	if len(out) > 1000 {
		out = "..." + out[len(out)-1000:]
	}
	return out
}

// archiveLogs moves a stack's logs to LogsDir/<handle>, where they outlive
// the stack. One rename when possible (so Logs never sees half of them);
// a copy when LogsDir is on another filesystem or already holds an archive
// from an earlier attempt.
func (p *Provider) archiveLogs(handle string) error {
	src := filepath.Join(p.stackDir(handle), logsDirName)
	dst := filepath.Join(p.logsDir, handle)
	entries, err := os.ReadDir(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

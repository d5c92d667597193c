package local

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mayflyhq/mayfly/envs"
)

// Drift of a local stack: what its version declared, against what runs.
// Declared are the services (each a process on its port) and, with
//
//	drift: {files: ["config/app.yaml", "data/*.sql"]}
//
// files of the work directory (patterns as path.Match has them, relative
// to it). When the stack is first ready, the provider records a baseline:
// the files' checksums and which services listen on their ports. A check
// reports a service whose process is gone, a port nothing listens on any
// more or that another process holds, and each declared file changed,
// deleted or added by hand since.

// driftSpec is a local stack's `drift:` section.
type driftSpec struct {
	Files []string `json:"files"`
}

// Bounds of what drift checks look at: patterns a stack declares, and
// files a baseline records (a pattern matching a whole data directory is
// the author's mistake, and must not make each check read gigabytes of
// thousands of files).
const (
	maxDriftPatterns = 64
	maxDriftFiles    = 1000
)

// driftFiles validates the drift.files patterns.
func (v *validator) driftFiles(patterns []string, field string) {
	if len(patterns) > maxDriftPatterns {
		v.add(field, "at most %d patterns", maxDriftPatterns)
		return
	}
	for i, pat := range patterns {
		f := fmt.Sprintf("%s[%d]", field, i)
		clean := path.Clean(pat)
		switch {
		case strings.TrimSpace(pat) == "":
			v.add(f, "is empty")
		case strings.HasPrefix(pat, "/"), filepath.IsAbs(pat):
			v.add(f, "must be relative to the work directory")
		case slices.Contains(strings.Split(pat, "/"), ".."):
			v.add(f, "must not contain \"..\"")
		case strings.ContainsAny(pat, "\\\x00"):
			v.add(f, "must use / between directories and no backslash")
		case clean == ".":
			v.add(f, "must name files inside the work directory")
		default:
			if _, err := path.Match(pat, ""); err != nil {
				v.add(f, "is not a valid pattern (* ? [ranges], as path.Match has them)")
			} else if first, _, _ := strings.Cut(clean, "/"); slices.Contains(driftReserved, first) {
				v.add(f, "%q is the provider's own and changes by itself", first)
			}
		}
	}
}

// driftReserved are top-level names of a work directory the provider
// writes itself.
var driftReserved = []string{stateFile, logsDirName, tmpDirName}

// driftBaseline is what a stack was when it first was ready.
type driftBaseline struct {
	RecordedAt time.Time          `json:"recorded_at"`
	Files      map[string]fileSum `json:"files,omitempty"`
	// Listening are the services that listened on their ports.
	Listening []string `json:"listening,omitempty"`
}

// fileSum identifies a file's content: its size and SHA-256, a symbolic
// link's target, or why it could not be read.
type fileSum struct {
	Size       int64  `json:"size,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	Link       string `json:"link,omitempty"`
	Unreadable string `json:"unreadable,omitempty"`
}

func (f fileSum) String() string {
	switch {
	case f.Unreadable != "":
		return "unreadable: " + f.Unreadable
	case f.Link != "":
		return "link to " + f.Link
	}
	return fmt.Sprintf("sha256:%s (%d bytes)", f.SHA256[:min(12, len(f.SHA256))], f.Size)
}

// recordBaseline records the drift baseline of a stack that is ready now
// (the caller holds its lock and saves its state).
func (p *Provider) recordBaseline(st *stackState) {
	b := &driftBaseline{RecordedAt: p.now().UTC(), Files: p.fileSums(st)}
	for _, svc := range st.Services {
		if listened, _ := p.portOwned(st, svc.Port); listened {
			b.Listening = append(b.Listening, svc.Name)
		}
	}
	st.baseline, st.HasBaseline = b, true
}

// DetectDrift implements envs.DriftDetector: the stack's services,
// ports and declared files against its baseline.
func (p *Provider) DetectDrift(ctx context.Context, req envs.DriftRequest) (envs.DriftReport, error) {
	handle := req.Handle
	if !handlePattern.MatchString(handle) {
		return envs.DriftReport{}, fmt.Errorf("local: %q is not a stack handle", handle)
	}
	unlock, err := p.lock(ctx, handle)
	if err != nil {
		return envs.DriftReport{}, fmt.Errorf("local: drift of %s: %w", handle, err)
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	dir := p.stackDir(handle)
	st, err := p.loadState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return envs.DriftReport{Items: []envs.DriftItem{{Resource: handle, Type: "stack", Status: envs.DriftDeleted,
			Detail: "its work directory is gone"}}}, nil
	}
	if err != nil {
		return envs.DriftReport{}, fmt.Errorf("local: drift of %s: %w", handle, err)
	}
	if st.Phase != phaseStarted {
		return envs.DriftReport{}, fmt.Errorf("local: drift of %s: the stack is %s, not started", handle, st.Phase)
	}
	if st.HasBaseline && st.baseline == nil {
		return envs.DriftReport{}, fmt.Errorf("local: drift of %s: its baseline cannot be read (was the secret key changed?)", handle)
	}
	if !st.HasBaseline {
		// Ready before drift checks existed: from now on.
		p.recordBaseline(st)
		if err := st.save(dir); err != nil {
			return envs.DriftReport{}, fmt.Errorf("local: drift of %s: %w", handle, err)
		}
	}
	var items []envs.DriftItem
	for _, svc := range st.Services {
		items = append(items, p.serviceDrift(st, svc)...)
	}
	// The files are read without the stack's lock: a destroy meanwhile
	// need not wait for the checksums of large files (its result is not
	// recorded for a stack that is gone).
	unlock()
	locked = false
	items = append(items, fileDrift(st.baseline.Files, p.fileSums(st))...)
	return envs.DriftReport{Items: items}, nil
}

// serviceDrift checks one service: its process, and its port if it
// listened on it when the stack was ready.
func (p *Provider) serviceDrift(st *stackState, svc serviceState) []envs.DriftItem {
	listened := slices.Contains(st.baseline.Listening, svc.Name)
	owned, holder := p.portOwned(st, svc.Port)
	port := fmt.Sprintf("127.0.0.1:%d", svc.Port)
	var items []envs.DriftItem
	if !svc.Process.running() {
		detail := "its process is gone (" + p.exitReason(svc.Process) + ")"
		if listened && !owned && holder == "" {
			detail += " and nothing listens on " + port
		}
		items = append(items, envs.DriftItem{Resource: svc.Name, Type: "service", Status: envs.DriftDeleted, Detail: detail})
	}
	switch {
	case !listened || owned:
	case holder != "":
		items = append(items, envs.DriftItem{Resource: svc.Name, Type: "port", Status: envs.DriftModified,
			Detail: port + " is held by " + holder + ", not by the stack"})
	case svc.Process.running():
		items = append(items, envs.DriftItem{Resource: svc.Name, Type: "port", Status: envs.DriftDeleted,
			Detail: "nothing listens on " + port + " any more"})
	}
	return items
}

// fileDrift compares the declared files' sums with the baseline's.
func fileDrift(base, now map[string]fileSum) []envs.DriftItem {
	var items []envs.DriftItem
	for _, name := range slices.Sorted(maps.Keys(base)) {
		was, is := base[name], now[name]
		switch _, there := now[name]; {
		case !there:
			items = append(items, envs.DriftItem{Resource: name, Type: "file", Status: envs.DriftDeleted, Detail: "deleted since the stack was ready"})
		case was != is:
			items = append(items, envs.DriftItem{Resource: name, Type: "file", Status: envs.DriftModified, Detail: "changed since the stack was ready",
				Differences: []envs.DriftDifference{{Path: "content", Expected: was.String(), Actual: is.String(), Kind: "NOT_EQUAL"}}})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(now)) {
		if _, was := base[name]; !was {
			items = append(items, envs.DriftItem{Resource: name, Type: "file", Status: envs.DriftAdded, Detail: "created since the stack was ready"})
		}
	}
	return items
}

// fileSums sums the files of the work directory that the stack's patterns
// match, at most maxDriftFiles. Everything is read through an os.Root of
// the work directory, which the stack's processes may write: a symbolic
// link is recorded as its target, never followed out of it, and a file
// that is not a regular one is not read (opening a FIFO would block).
func (p *Provider) fileSums(st *stackState) map[string]fileSum {
	if len(st.DriftFiles) == 0 {
		return nil
	}
	root, err := os.OpenRoot(p.stackDir(st.ID))
	if err != nil {
		return nil
	}
	defer root.Close()
	out := map[string]fileSum{}
	for _, pat := range st.DriftFiles {
		matches, _ := fs.Glob(root.FS(), path.Clean(pat)) // validated at publish
		for _, name := range matches {
			if len(out) == maxDriftFiles {
				return out
			}
			if _, done := out[name]; !done {
				if sum, ok := sumFile(root, name); ok {
					out[name] = sum
				}
			}
		}
	}
	return out
}

// sumFile sums one matched name; ok is false for a directory.
func sumFile(root *os.Root, name string) (fileSum, bool) {
	info, err := root.Lstat(name)
	switch {
	case err != nil:
		return fileSum{Unreadable: "cannot be read inside the work directory"}, true
	case info.IsDir():
		return fileSum{}, false
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := root.Readlink(name)
		if err != nil {
			return fileSum{Unreadable: "cannot read the link"}, true
		}
		return fileSum{Link: target}, true
	case !info.Mode().IsRegular():
		return fileSum{Unreadable: "not a regular file (" + info.Mode().Type().String() + ")"}, true
	}
	// O_NONBLOCK: replaced by a FIFO since the Lstat, it is opened without
	// waiting for a writer, and refused below.
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fileSum{Unreadable: "cannot be opened"}, true
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return fileSum{Unreadable: "not a regular file"}, true
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fileSum{Unreadable: "read failed"}, true
	}
	return fileSum{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, true
}

// portOwned reports whether the port on loopback has a listening socket
// of the stack's processes; if another process holds it, holder names it
// ("pid 123 (nc)", or "another process" when it cannot be told).
func (p *Provider) portOwned(st *stackState, port int) (owned bool, holder string) {
	inodes, err := listeningInodes(port)
	if err != nil {
		// No /proc/net (not Linux): whether it answers is all there is.
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err != nil {
			return false, ""
		}
		c.Close()
		return true, ""
	}
	if len(inodes) == 0 {
		return false, ""
	}
	for _, pid := range p.stackPIDs(st) {
		if holdsSocket(pid, inodes) {
			return true, ""
		}
	}
	if pid := socketHolder(inodes); pid > 0 {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		return false, fmt.Sprintf("pid %d (%s)", pid, strings.TrimSpace(string(comm)))
	}
	return false, "another process"
}

// stackPIDs are the live processes of a stack: those of its cgroup, those
// carrying its environment id, and the members of its services' groups.
func (p *Provider) stackPIDs(st *stackState) []int {
	pids := Processes(st.ID)
	if st.Cgroup != "" && isStackCgroup(st.Cgroup, st.ID) {
		pids = append(pids, cgroupTreeProcs(st.Cgroup)...)
	}
	for _, svc := range st.Services {
		pids = append(pids, svc.Process.members()...)
	}
	slices.Sort(pids)
	return slices.Compact(pids)
}

// listeningInodes lists the inodes of the TCP sockets listening on port
// (any address, IPv4 and IPv6), from /proc/net/tcp and tcp6.
func listeningInodes(port int) (map[string]bool, error) {
	out := map[string]bool{}
	read := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		read++
		sc := bufio.NewScanner(fh)
		sc.Scan() // the header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			if n, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && int(n) == port {
				out[fields[9]] = true
			}
		}
		fh.Close()
	}
	if read == 0 {
		return nil, errors.New("no /proc/net/tcp")
	}
	return out, nil
}

// holdsSocket reports whether the process has one of the sockets open.
func holdsSocket(pid int, inodes map[string]bool) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		link, err := os.Readlink(dir + "/" + fd.Name())
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok && inodes[strings.TrimSuffix(inode, "]")] {
			return true
		}
	}
	return false
}

// socketHolder finds a process that has one of the sockets open (0: none
// this user may see).
func socketHolder(inodes map[string]bool) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && holdsSocket(pid, inodes) {
			return pid
		}
	}
	return 0
}

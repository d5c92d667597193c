package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// processRecord identifies a process we started, in a way that survives a
// portal restart. A pid alone is not enough: pids are recycled, so the start
// time (field 22 of /proc/<pid>/stat, in clock ticks since boot) is recorded
// too, and a pid whose start time differs is not ours.
type processRecord struct {
	PID  int `json:"pid"`
	PGID int `json:"pgid"`
	// SID is the session the process was started in; members of our
	// process group share it.
	SID       int    `json:"sid"`
	StartTime uint64 `json:"start_time"`
}

// procStat is the part of /proc/<pid>/stat we need.
type procStat struct {
	state     byte
	ppid      int
	pgid      int
	sid       int
	startTime uint64
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// Field 2 is the command name in parentheses and may itself contain
	// spaces and parentheses: split after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 20 || f[0] == "" {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ppid, err0 := strconv.Atoi(f[4-3])
	pgid, err1 := strconv.Atoi(f[5-3])
	sid, err2 := strconv.Atoi(f[6-3])
	start, err3 := strconv.ParseUint(f[22-3], 10, 64)
	if err := errors.Join(err0, err1, err2, err3); err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return procStat{state: f[0][0], ppid: ppid, pgid: pgid, sid: sid, startTime: start}, nil
}

func dead(st procStat) bool { return st.state == 'Z' || st.state == 'X' }

// recordProcess reads the identity of a process we just started. It must be
// called before the process is reaped (a zombie still has its /proc entry).
func recordProcess(pid int) (processRecord, error) {
	st, err := readProcStat(pid)
	if err != nil {
		return processRecord{}, err
	}
	return processRecord{PID: pid, PGID: st.pgid, SID: st.sid, StartTime: st.startTime}, nil
}

// running reports whether the recorded process itself still runs: its pid
// exists, was started at the recorded time and is not a zombie. It works for
// processes that are not our children (after a portal restart), where
// kill(pid, 0) would also succeed for a recycled pid.
func (r processRecord) running() bool {
	if r.PID <= 0 {
		return false
	}
	if err := syscall.Kill(r.PID, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	st, err := readProcStat(r.PID)
	return err == nil && st.startTime == r.StartTime && !dead(st)
}

// members lists the live processes of the recorded process group that are
// ours: the leader if it still runs, and any process in the group started
// after it in the same session (children left behind by a shell, say).
func (r processRecord) members() []int {
	if r.PID <= 0 {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil || st.pgid != r.PGID || dead(st) {
			continue
		}
		if pid == r.PID {
			if st.startTime != r.StartTime {
				continue
			}
		} else if st.sid != r.SID || st.startTime < r.StartTime {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// signal sends sig to the recorded process group, never to a stranger.
//
// While the leader exists with the recorded start time (even as a zombie),
// the group is certainly ours: kill(-pgid) reaches all of it atomically. If
// the pid now belongs to another process, our group is gone: the kernel
// does not hand out a pid that is still in use as a process group id. If
// the leader is gone, members it left behind are signalled one by one.
func (r processRecord) signal(sig syscall.Signal) {
	if r.PID <= 0 {
		return
	}
	st, err := readProcStat(r.PID)
	if err == nil {
		if st.startTime == r.StartTime {
			_ = syscall.Kill(-r.PGID, sig)
		}
		return
	}
	for _, pid := range r.members() {
		_ = syscall.Kill(pid, sig)
	}
}

// descendants lists the live descendants of the recorded processes and of
// their groups' members, found through the parent pid of every process in
// /proc. A process that left its group (setsid) is still its parent's
// child, so stopping these too stops it as long as its parent ran when
// this was called; one whose parent died before is the cgroup's to find.
func descendants(recs []processRecord) []processRecord {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]processRecord{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readProcStat(pid); err == nil && !dead(st) {
			children[st.ppid] = append(children[st.ppid], processRecord{PID: pid, PGID: st.pgid, SID: st.sid, StartTime: st.startTime})
		}
	}
	var out []processRecord
	seen := map[int]bool{}
	var walk func(pid int)
	walk = func(pid int) {
		for _, c := range children[pid] {
			if !seen[c.PID] {
				seen[c.PID] = true
				out = append(out, c)
				walk(c.PID)
			}
		}
	}
	for _, r := range recs {
		for _, pid := range r.members() {
			seen[pid] = true
			walk(pid)
		}
	}
	return out
}

// stopGroups stops the given process groups and every descendant of
// theirs: SIGTERM, up to grace for them to exit, then SIGKILL. It reports
// whether everything is gone. A cancelled ctx cuts the grace period short
// (the processes are killed, not left).
func stopGroups(ctx context.Context, recs []processRecord, grace time.Duration) bool {
	var live []processRecord
	for _, r := range recs {
		if len(r.members()) > 0 {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return true
	}
	// Taken before the signals: a child whose parent dies is given to
	// another parent, and no longer looks like a descendant.
	strays := descendants(live)
	for _, r := range live {
		r.signal(syscall.SIGTERM)
	}
	for _, d := range strays {
		d.kill(syscall.SIGTERM)
	}
	defer func() {
		for _, d := range strays {
			d.kill(syscall.SIGKILL)
		}
	}()
	graceCtx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	if waitGone(graceCtx, live) {
		return true
	}
	for _, r := range live {
		r.signal(syscall.SIGKILL)
	}
	// SIGKILL cannot be ignored; a process in uninterruptible sleep may
	// still take a moment. Give it a bounded wait, whatever ctx says.
	killCtx, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	return waitGone(killCtx, live)
}

// kill sends sig to the recorded process alone, if it is still the one
// recorded (pids are recycled).
func (r processRecord) kill(sig syscall.Signal) {
	if r.running() {
		_ = syscall.Kill(r.PID, sig)
	}
}

// waitGone polls until no member of the groups is alive or ctx is done.
func waitGone(ctx context.Context, recs []processRecord) bool {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		alive := false
		for _, r := range recs {
			if len(r.members()) > 0 {
				alive = true
				break
			}
		}
		if !alive {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// child is a process this Provider started; its Wait goroutine reaps it
// and records how it ended.
type child struct {
	done  chan struct{}
	state *os.ProcessState // set before done is closed
}

// newCmd prepares a stack process: cwd is the work dir, output goes to the
// log file, and it gets its own process group so that stopping it also stops
// whatever it spawned.
func newCmd(dir string, args, env []string, log *os.File) *exec.Cmd {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// startService starts a long-running service process and reaps it in a
// goroutine, so that an exited service never lingers as a zombie.
func (p *Provider) startService(st *stackState, svc serviceRun, logPath string) (processRecord, error) {
	log, err := openLog(logPath)
	if err != nil {
		return processRecord{}, err
	}
	// The child has its own copy of the descriptor once started.
	defer log.Close()
	cmd := newCmd(p.stackDir(st.ID), svc.args, svc.env, log)
	if err := p.startProcess(cmd, st.ID, st.Cgroup); err != nil {
		return processRecord{}, err
	}
	rec, err := recordProcess(cmd.Process.Pid)
	if err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return processRecord{}, fmt.Errorf("read process %d: %w", cmd.Process.Pid, err)
	}
	c := &child{done: make(chan struct{})}
	p.mu.Lock()
	p.children[rec] = c
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		c.state = cmd.ProcessState
		close(c.done)
	}()
	return rec, nil
}

// exitReason says how a service process that no longer runs ended. Only our
// own children can tell; after a portal restart the status is unknown.
func (p *Provider) exitReason(rec processRecord) string {
	p.mu.Lock()
	c := p.children[rec]
	p.mu.Unlock()
	if c == nil {
		return "exited"
	}
	select {
	case <-c.done:
		return describeState(c.state)
	case <-time.After(time.Second):
		// A zombie the Wait goroutine has not reaped yet.
		return "exited"
	}
}

// forget drops the Wait records of stopped processes, waiting briefly for
// their reaping so that no zombie is left behind when Destroy returns.
func (p *Provider) forget(recs []processRecord) {
	for _, rec := range recs {
		p.mu.Lock()
		c := p.children[rec]
		delete(p.children, rec)
		p.mu.Unlock()
		if c == nil {
			continue
		}
		select {
		case <-c.done:
		case <-time.After(2 * time.Second):
		}
	}
}

// runLogged runs a setup or verify command to completion, appending its
// output to the log at logPath. start starts the process; started is
// called with its record once it runs. A failure's error holds the
// command's last lines of output, so the user sees why without opening
// the log.
func runLogged(ctx context.Context, dir string, c runCommand, logPath string, start func(*exec.Cmd) error, started func(processRecord)) error {
	log, err := openLog(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	offset, err := log.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	cmd := newCmd(dir, c.Args, c.Env, log)
	if err := start(cmd); err != nil {
		return fmt.Errorf("%s: %w", c.Label, err)
	}
	rec, _ := recordProcess(cmd.Process.Pid) // a zero record makes signal a no-op
	started(rec)
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()

	timer := time.NewTimer(c.Timeout.D())
	defer timer.Stop()
	var why string
	select {
	case err = <-waitc:
	case <-timer.C:
		why = "timed out after " + c.Timeout.String()
		rec.signal(syscall.SIGKILL)
		err = <-waitc
	case <-ctx.Done():
		why = "was cancelled"
		rec.signal(syscall.SIGKILL)
		err = <-waitc
	}
	// A command must not leave anything running behind it (a daemon it
	// forked, say): the stack's processes are the services, nothing else.
	rec.signal(syscall.SIGKILL)

	if why == "" && err == nil {
		return nil
	}
	if why == "" {
		why = describeExit(err)
	}
	if out := lastLines(logPath, offset, 5); out != "" {
		return fmt.Errorf("%s %s: %s", c.Label, why, out)
	}
	return fmt.Errorf("%s %s", c.Label, why)
}

func openLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
}

func describeExit(err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return describeState(exit.ProcessState)
	}
	return "failed: " + err.Error()
}

func describeState(ps *os.ProcessState) string {
	if ps == nil {
		return "exited"
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "was killed by signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exited with status %d", ps.ExitCode())
}

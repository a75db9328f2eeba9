package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// process is one component of the stack, running in its own process group
// so that stopping it stops everything it started. Its stdout and stderr go
// to one log file in the suite's temporary directory.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	watch   *lineWatcher
	done    chan struct{}
	waitErr error
}

// startProcess starts cmd with its output captured in logPath. readyRe is
// the component's ready line (see waitReady).
func startProcess(name, logPath string, cmd *exec.Cmd, readyRe *regexp.Regexp) (*process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	w := &lineWatcher{out: f, re: readyRe, ready: make(chan []string, 1)}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Stdin = nil
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, watch: w, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// waitReady waits for the ready line and returns its submatches. It fails
// at once if the process exits first.
func (p *process) waitReady(timeout time.Duration) ([]string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case m := <-p.watch.ready:
		return m, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before it was ready (%v); its output:\n%s", p.name, p.waitErr, tail(p.logPath))
	case <-timer.C:
		return nil, fmt.Errorf("%s not ready after %s; its output:\n%s", p.name, timeout, tail(p.logPath))
	}
}

// stop sends SIGTERM to the process group, waits for a clean exit, then
// SIGKILLs whatever is left, and reports an error if any process of the
// group survives.
func (p *process) stop(grace time.Duration) error {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// The leader is gone; make sure no child of it outlives the suite.
	deadline := time.Now().Add(grace)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return fmt.Errorf("%s: processes of group %d still running after SIGTERM", p.name, pgid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// exitedCleanly tells whether the process ended by itself with status 0
// (after SIGTERM, every component of the stack exits 0).
func (p *process) exitedCleanly() error {
	select {
	case <-p.done:
	default:
		return errors.New("still running")
	}
	return p.waitErr
}

// lineWatcher copies output to a file and reports the first line matching
// re. exec.Cmd calls Write from one goroutine at a time when Stdout and
// Stderr are the same writer.
type lineWatcher struct {
	mu      sync.Mutex
	out     *os.File
	re      *regexp.Regexp
	partial []byte
	matched bool
	ready   chan []string
}

func (w *lineWatcher) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.out.Write(b); err != nil {
		return 0, err
	}
	if w.matched || w.re == nil {
		return len(b), nil
	}
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		if m := w.re.FindStringSubmatch(line); m != nil {
			w.matched = true
			w.partial = nil
			w.ready <- m
			break
		}
	}
	return len(b), nil
}

// tail returns the last lines of a log file for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no output: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

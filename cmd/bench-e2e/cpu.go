package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuSample is what the machine spent up to a moment: the fhir-pep
// process's CPU time (all threads, user and system), this process's (the
// load generator and the FHIR stub), and fhir-pep's context switches.
// Differences over a round, divided by its requests, give the cost of one
// request on each side. On a shared machine that cost moves far less than
// throughput does: other load takes cores away, not CPU time per request.
type cpuSample struct {
	server, harness time.Duration
	switches        int64 // voluntary + involuntary, all threads of fhir-pep
	ok              bool  // false where /proc is not there: not reported
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's times; 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

func sampleCPU(pid int) cpuSample {
	var s cpuSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s
	}
	// The command name (field 2) may hold spaces: fields are counted
	// after its closing parenthesis.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return s
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return s
	}
	s.server = time.Duration(utime+stime) * clockTick
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return s
	}
	s.harness = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				s.switches += n
			}
		}
	}
	s.ok = true
	return s
}

// cpuUse is a round's CPU per request.
type cpuUse struct {
	server, harness time.Duration
	switches        float64
	ok              bool
}

func (u cpuUse) total() time.Duration { return u.server + u.harness }

func cpuPerRequest(before, after cpuSample, requests int) cpuUse {
	if !before.ok || !after.ok || requests == 0 {
		return cpuUse{}
	}
	n := time.Duration(requests)
	return cpuUse{
		server:   (after.server - before.server) / n,
		harness:  (after.harness - before.harness) / n,
		switches: float64(after.switches-before.switches) / float64(requests),
		ok:       true,
	}
}

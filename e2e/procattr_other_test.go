//go:build unix && !linux

package e2e

import "syscall"

// sysProcAttr puts a component in its own process group (TestMain stops
// every group; without Linux's Pdeathsig a crashed test binary cannot).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

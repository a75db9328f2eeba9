//go:build linux

package e2e

import "syscall"

// sysProcAttr puts a component in its own process group, and has the
// kernel kill it if the test binary dies without tearing down (a panic, a
// -timeout), so no component is ever left running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

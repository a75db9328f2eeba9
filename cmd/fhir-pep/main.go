// Command fhir-pep is Caddy with its standard modules and the fhir-pep
// modules compiled in. It is what `xcaddy build --with
// github.com/hdp-il/fhir-pep` produces, for machines without xcaddy.
//
// It is Caddy's command line under its own name: help says fhir-pep, and
// the one-shot commands (adapt, validate, policy, ntn, reload...) report
// errors as plain text rather than Caddy's JSON log lines, which suit a
// server's log but not a terminal or a CI job. `run` and `start` keep
// Caddy's logging untouched: their logs are configured like any Caddy's.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules, as in the official caddy binary.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// The fhir-pep modules: http.handlers.fhir_pep, the ntn app and the
	// tls.client_auth.verifier.ntn client certificate verifier.
	_ "github.com/hdp-il/fhir-pep"
)

// childEnv marks the process that runs Caddy's command line under a parent
// that rewrites its output.
const childEnv = "FHIR_PEP_CLI_CHILD"

func main() {
	caddy.CustomBinaryName = binaryName
	caddy.CustomLongDescription = longDescription
	if os.Getenv(childEnv) != "" || isServerCommand(os.Args[1:]) {
		caddycmd.Main()
		return
	}
	os.Exit(runChild(os.Args[1:]))
}

// runChild runs this binary again as the child that does the work, and
// turns its output into plain text: JSON log lines on stderr become one
// readable line each, and help text names fhir-pep. Caddy's logger picks
// its writer when the package loads, so rewriting the output of a child is
// the one way to change it without forking Caddy. It returns the child's
// exit status.
func runChild(args []string) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", binaryName, err)
		return 1
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdin = os.Stdin
	stderr, err := cmd.StderrPipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", binaryName, err)
		return 1
	}
	var helpText io.ReadCloser
	if isHelp(args) {
		if helpText, err = cmd.StdoutPipe(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", binaryName, err)
			return 1
		}
	} else {
		cmd.Stdout = os.Stdout
	}
	// Ctrl-C reaches the child through the terminal's process group;
	// signals sent to this process alone are passed on.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", binaryName, err)
		return 1
	}
	go func() {
		for s := range signals {
			_ = cmd.Process.Signal(s)
		}
	}()
	// Both pipes are read to the end before Wait, as os/exec requires.
	done := make(chan struct{}, 2)
	go func() {
		plainLog(stderr, os.Stderr)
		done <- struct{}{}
	}()
	if helpText != nil {
		go func() {
			rewriteHelp(helpText, os.Stdout)
			done <- struct{}{}
		}()
		<-done
	}
	<-done
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		if status, ok := exit.Sys().(syscall.WaitStatus); ok && status.Signaled() {
			return 128 + int(status.Signal())
		}
		return exit.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "%s: %v\n", binaryName, err)
		return 1
	}
}

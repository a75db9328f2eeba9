package policy

import (
	"context"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// testTimeout bounds one Rego test. OPA's default (5 s) is meant for an
// interactive `opa test`; table tests that evaluate the decision for every
// resource type take longer than that under the race detector on a loaded
// 2-core CI machine, and a timeout there says nothing about the policy.
const testTimeout = 2 * time.Minute

// RunTestsDir is RunTests on os.DirFS(dir), for `fhir-pep policy test <dir>`.
func RunTestsDir(ctx context.Context, dir string, w io.Writer, verbose bool, opts ...Option) (passed, failed int, err error) {
	return RunTests(ctx, os.DirFS(dir), w, verbose, opts...)
}

// RunTests runs the Rego tests (test_* rules, usually in *_test.rego files)
// under the root of fsys, as `opa test` would, and writes OPA's report to w.
// The policy set is compiled as Load compiles it (strict, same built-ins),
// with print() enabled; built-in errors fail the test, as they deny in Eval.
// Test failures are counted, not returned: err is only for a policy set that
// cannot be loaded or compiled.
func RunTests(ctx context.Context, fsys fs.FS, w io.Writer, verbose bool, opts ...Option) (passed, failed int, err error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return 0, 0, err
	}
	set, err := readPolicySet(fsys, true)
	if err != nil {
		return 0, 0, err
	}
	store, err := newStore(set.data)
	if err != nil {
		return 0, 0, err
	}
	// Compile once here for the strict check and a clear error; the runner
	// compiles its own copy with the test stages it needs.
	if _, err := compile(ctx, set.modules, store, cfg.capabilities, true); err != nil {
		return 0, 0, err
	}
	runnerCompiler := ast.NewCompiler().
		WithStrict(true).
		WithCapabilities(cfg.capabilities).
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(true)
	ch, err := tester.NewRunner().
		SetCompiler(runnerCompiler).
		SetStore(store).
		SetModules(set.modules).
		RaiseBuiltinErrors(true).
		SetTimeout(testTimeout).
		RunTests(ctx, nil)
	if err != nil {
		return 0, 0, err
	}

	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
		switch {
		case r.Pass():
			passed++
		case !r.Skip:
			failed++
		}
	}
	report := make(chan *tester.Result, len(results))
	for _, r := range results {
		report <- r
	}
	close(report)
	rep := tester.PrettyReporter{Output: w, Verbose: verbose, FailureLine: true}
	if err := rep.Report(report); err != nil {
		return passed, failed, err
	}
	return passed, failed, nil
}

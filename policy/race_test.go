//go:build race

package policy_test

// raceDetector is whether the tests run under -race, whose sync.Pool drops
// items at random and whose instrumentation allocates: allocation counts
// there are not the evaluator's and vary from run to run.
const raceDetector = true

//go:build !race

package policy_test

// raceDetector: see race_test.go.
const raceDetector = false

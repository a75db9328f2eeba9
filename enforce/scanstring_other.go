//go:build !amd64 || purego

package enforce

// Without the assembly (other architectures, or -tags purego) scanString
// keeps to its pure-Go word loops.
var (
	cpuAVX2 = false
	useAVX2 = false
)

// indexSpecialAVX2 is never called here (useAVX2 is false); it exists so
// that scanString compiles the same way on every architecture.
func indexSpecialAVX2(b []byte) int { return indexSpecialBlocks(b) }

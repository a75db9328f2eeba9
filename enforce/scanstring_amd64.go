//go:build !purego

package enforce

import "golang.org/x/sys/cpu"

// cpuAVX2 is whether this CPU (and OS) runs AVX2 code. The default build
// (GOAMD64=v1) must run on CPUs without it, so the choice is made at run
// time.
var cpuAVX2 = cpu.X86.HasAVX2

// useAVX2 selects indexSpecialAVX2 for the long strings of scanString.
// Tests turn it off to run the pure-Go path on the same machine.
var useAVX2 = cpuAVX2

// indexSpecialAVX2 is indexSpecialBlocks in AVX2 (scanstring_amd64.s).
// Only call it when useAVX2 is set.
//
//go:noescape
func indexSpecialAVX2(b []byte) int

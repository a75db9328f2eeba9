//go:build !unix

package enforce

import "time"

// cpuTime is unavailable here; the MB/cpu-s metric is then not reported.
func cpuTime() time.Duration { return 0 }

// Package caddyblock parses the Caddyfile blocks of fhir-pep's modules
// (the fhir_pep handler and its pcm, policy and audit blocks, the ntn
// global option, the health handler) with one set of rules: every
// subdirective may appear once, an unknown one is an error that names the
// file and line and suggests the closest valid name, and values are checked
// as they are read. Operators see every mistake where they made it.
package caddyblock

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
)

// Handlers maps each subdirective of a block to the function that reads
// its arguments (and any nested block) from the dispenser, which stands on
// the subdirective's name when the function is called.
type Handlers map[string]func(d *caddyfile.Dispenser) error

// Block records where a parsed block and each of its subdirectives stand,
// so that a check made after parsing (a missing or inconsistent option)
// can still name the file and line the operator has to change.
type Block struct {
	// Name prefixes messages ("pcm "); empty for a directive's own block.
	Name  string
	File  string
	Line  int
	lines map[string]int
}

// Parse walks the subdirectives of the block at the dispenser's current
// nesting. A repeated or unknown subdirective is an error naming the file
// and line; the unknown one also names the closest valid subdirective.
func Parse(d *caddyfile.Dispenser, name string, handlers Handlers) (*Block, error) {
	b := &Block{Name: name, File: d.File(), Line: d.Line(), lines: map[string]int{}}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if _, dup := b.lines[sub]; dup {
			return b, d.Errf("duplicate %ssubdirective %q (first at line %d)", b.prefix(), sub, b.lines[sub])
		}
		handle, ok := handlers[sub]
		if !ok {
			if near := Closest(sub, names(handlers)); near != "" {
				return b, d.Errf("unrecognized %ssubdirective %q; did you mean %q?", b.prefix(), sub, near)
			}
			return b, d.Errf("unrecognized %ssubdirective %q", b.prefix(), sub)
		}
		b.lines[sub] = d.Line()
		if err := handle(d); err != nil {
			return b, err
		}
		if err := noBlockLeft(d, sub); err != nil {
			return b, err
		}
	}
	return b, nil
}

// noBlockLeft fails when a block opens on the line of a subdirective whose
// handler read only arguments ("file m.jws { ... }"): otherwise the walk
// would step into that block and report its first line as an unknown
// subdirective of the outer block, or ignore an empty one.
func noBlockLeft(d *caddyfile.Dispenser, sub string) error {
	line, file := d.Line(), d.File()
	if !d.Next() {
		return nil
	}
	opens := d.Val() == "{" && d.Line() == line && d.File() == file
	d.Prev()
	if opens {
		return d.Errf("%s does not take a block", sub)
	}
	return nil
}

func (b *Block) prefix() string {
	if b.Name == "" {
		return ""
	}
	return b.Name + " "
}

// Has reports whether the subdirective appeared in the block.
func (b *Block) Has(sub string) bool {
	_, ok := b.lines[sub]
	return ok
}

// Errf formats an error about subdirective sub at its own line, or at the
// block's line when sub is absent (a missing option is reported where the
// block that lacks it starts). The format matches Caddy's Dispenser.Errf.
func (b *Block) Errf(sub, format string, args ...any) error {
	line, ok := b.lines[sub]
	if !ok {
		line = b.Line
	}
	return fmt.Errorf("%s, at %s:%d", fmt.Sprintf(format, args...), b.File, line)
}

func names(h Handlers) []string {
	out := make([]string, 0, len(h))
	for k := range h {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Closest returns the candidate nearest to s by edit distance when it is
// near enough to be a plausible typo (at most one edit per three letters,
// and at least one), or "".
func Closest(s string, candidates []string) string {
	best, limit := "", max(1, len(s)/3)
	for _, c := range candidates {
		if d := editDistance(s, c); d <= limit {
			best, limit = c, d-1
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes:
// subdirective names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Flag sets a flag that takes no argument.
func Flag(dst *bool) func(*caddyfile.Dispenser) error {
	return func(d *caddyfile.Dispenser) error {
		if d.NextArg() {
			return d.ArgErr()
		}
		*dst = true
		return nil
	}
}

// String reads exactly one argument and nothing else on the line.
func String(dst *string) func(*caddyfile.Dispenser) error {
	return func(d *caddyfile.Dispenser) error { return oneArg(d, dst) }
}

// Strings reads one or more arguments on the line.
func Strings(dst *[]string) func(*caddyfile.Dispenser) error {
	return func(d *caddyfile.Dispenser) error {
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		*dst = args
		return nil
	}
}

// PositiveInt reads one positive integer.
func PositiveInt(dst *int) func(*caddyfile.Dispenser) error {
	return func(d *caddyfile.Dispenser) error {
		var s string
		if err := oneArg(d, &s); err != nil {
			return err
		}
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			return d.Errf("%s: invalid positive integer %q", subName(d), s)
		}
		*dst = v
		return nil
	}
}

// Duration reads one positive duration in Caddy's syntax (which adds "d"
// for days to Go's).
func Duration(dst *caddy.Duration) func(*caddyfile.Dispenser) error {
	return func(d *caddyfile.Dispenser) error {
		var s string
		if err := oneArg(d, &s); err != nil {
			return err
		}
		v, err := caddy.ParseDuration(s)
		if err != nil {
			return d.Errf("%s: invalid duration %q: %v", subName(d), s, err)
		}
		if v <= 0 {
			return d.Errf("%s: duration %q must be positive", subName(d), s)
		}
		*dst = caddy.Duration(v)
		return nil
	}
}

// Size reads one positive byte size ("64KiB", "2MB", "1048576"), at most
// 1 TiB.
func Size(dst *int64) func(*caddyfile.Dispenser) error {
	return func(d *caddyfile.Dispenser) error {
		var s string
		if err := oneArg(d, &s); err != nil {
			return err
		}
		v, err := humanize.ParseBytes(s)
		if err != nil || v == 0 || v > 1<<40 {
			return d.Errf("%s: invalid size %q", subName(d), s)
		}
		*dst = int64(v)
		return nil
	}
}

// oneArg reads exactly one argument and nothing else on the line.
func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// subName is the subdirective whose argument the dispenser stands on; an
// argument follows its name on the same line, so this walks back to the
// first token of the line. Messages then name the option, not just a
// value.
func subName(d *caddyfile.Dispenser) string {
	line, n := d.Line(), 0
	for d.Prev() {
		n++
		if d.Line() != line {
			d.Next()
			n--
			break
		}
	}
	name := d.Val()
	for ; n > 0; n-- {
		d.Next()
	}
	return name
}

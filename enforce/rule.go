package enforce

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Rule is what one SMART scope lets out: resources of Type (or of every type
// for "*") that carry one of Buckets and satisfy every Constraint.
type Rule struct {
	Type    string
	Buckets []Bucket
	// Constraints all hold (AND), as the scope's query parameters do: a
	// parameter repeated in the scope is two constraints, and both must hold.
	// Within one Value, comma items are alternatives (OR).
	Constraints []Constraint
	// Narrowed says the request's upstream search carried these constraints
	// (the policy's narrowing applied this scope). Then, for the match
	// entries of a searchset of FilterOptions.NarrowedType, a constraint the
	// check cannot verify on the resource is taken as applied by the
	// upstream. Everywhere else (vread, history, _include and _revinclude
	// results, $everything) an unverifiable constraint fails: the resource is
	// withheld.
	Narrowed bool
}

// Constraint is one name=value pair of a scope's query, decoded.
type Constraint struct {
	Name  string
	Value string
}

// Depth is a bucket's historical_depth: resources let out under that bucket
// must have a clinical date on or after Since ("YYYY-MM-DD").
type Depth struct {
	Bucket Bucket
	Since  string
}

// rule is a compiled Rule.
type rule struct {
	buckets  []grant
	cons     []constraint
	narrowed bool
}

// constraint is a compiled Constraint: the parameter name without modifier,
// whether a modifier was present (then it is never verified), and its items.
type constraint struct {
	name     string
	modified bool
	items    []constraintItem
}

// constraintItem is one comma item, in both readings: as a token and as a
// date (which one applies depends on the parameter's kind for the type).
type constraintItem struct {
	system, code string
	hasBar       bool // "system|code", "|code" or "system|"
	sysGroup     int  // bucket alias group of system, or -1
	date         dateSearch
	dateOK       bool
}

func compileRule(a *Access, r Rule, depths map[grantKey]day) (*rule, error) {
	if r.Type != "*" && !validTypeName(r.Type) {
		return nil, fmt.Errorf("enforce: invalid resource type %q in rules", r.Type)
	}
	out := &rule{narrowed: r.Narrowed}
	for _, b := range r.Buckets {
		g, err := a.compileGrant(b, depths)
		if err != nil {
			return nil, err
		}
		out.buckets = append(out.buckets, g)
	}
	for _, c := range r.Constraints {
		if c.Name == "" || c.Value == "" || !utf8.ValidString(c.Name) || !utf8.ValidString(c.Value) {
			return nil, errors.New("enforce: a constraint needs a name and a value")
		}
		name, _, modified := strings.Cut(c.Name, ":")
		cc := constraint{name: name, modified: modified}
		for _, it := range splitItems(c.Value) {
			cc.items = append(cc.items, a.compileItem(it))
		}
		out.cons = append(out.cons, cc)
	}
	return out, nil
}

// splitItems splits on commas not escaped as "\,".
func splitItems(v string) []string {
	var out []string
	start := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case ',':
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

func (a *Access) compileItem(it string) constraintItem {
	ci := constraintItem{code: it, sysGroup: -1}
	if sys, code, ok := strings.Cut(it, "|"); ok {
		ci.system, ci.code, ci.hasBar = sys, code, true
		ci.sysGroup = a.systemID([]byte(sys))
	}
	ci.date, ci.dateOK = parseDateSearch(it)
	return ci
}

// grantKey identifies a bucket after normalisation: alias group and the
// code folded to lower case (ASCII).
type grantKey struct {
	sys  int
	code string
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func (a *Access) compileGrant(b Bucket, depths map[grantKey]day) (grant, error) {
	if b.System == "" || b.Code == "" || !utf8.ValidString(b.System) || !utf8.ValidString(b.Code) {
		return grant{}, errors.New("enforce: a granted bucket needs a system and a code")
	}
	g := grant{sys: a.systemFor(b.System), code: []byte(b.Code)}
	g.since, g.hasSince = depths[grantKey{g.sys, lowerASCII(b.Code)}]
	return g, nil
}

// compileDepths registers the depth buckets' systems and keys them.
func (a *Access) compileDepths(ds []Depth) (map[grantKey]day, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	out := make(map[grantKey]day, len(ds))
	for _, d := range ds {
		if d.Bucket.System == "" || d.Bucket.Code == "" || !utf8.ValidString(d.Bucket.System) || !utf8.ValidString(d.Bucket.Code) {
			return nil, errors.New("enforce: a depth needs a bucket system and code")
		}
		since, ok := parseSince(d.Since)
		if !ok {
			return nil, errors.New("enforce: a depth is a date YYYY-MM-DD")
		}
		k := grantKey{a.systemFor(d.Bucket.System), lowerASCII(d.Bucket.Code)}
		if prev, dup := out[k]; dup && since.less(prev) {
			continue // two bounds for one bucket: the later one is stricter
		}
		out[k] = since
	}
	return out, nil
}

package enforce

import (
	"errors"
)

// Bucket is an information bucket: a code in a bucket code system.
type Bucket struct {
	System string
	Code   string
}

// Scope is the per-request part of the rules: whose data may leave, and
// which buckets of which types, under which constraints.
type Scope struct {
	// PatientIDs are the patient's logical ids on the upstream server.
	PatientIDs []string
	// Grants maps a resource type, or "*" for every type, to its granted
	// buckets, without constraints: the same as one Rule per entry.
	Grants map[string][]Bucket
	// Rules are grants under scope constraints (see Rule). A resource passes
	// the bucket check when some rule for its type or "*" lets it out.
	Rules []Rule
	// Depths are the buckets' historical_depth bounds. A bucket with a depth
	// lets out only resources whose clinical date (see clinicalDates) is on
	// or after it; a resource whose clinical date cannot be determined is not
	// let out under that bucket.
	Depths []Depth
}

// Access is an Enforcer bound to one Scope. It is immutable and safe for
// concurrent use.
type Access struct {
	e        *Enforcer
	patients []string
	byType   map[string][]grant // each list already includes the "*" grants
	star     []grant
	hasStar  bool
	extra    map[string]int // granted systems that are in no alias group
	// rulesByType lists, per type, its rules and then the "*" rules. When
	// checked is false (no constraint and no depth anywhere) the union in
	// byType decides alone, as rules would, only faster.
	rulesByType map[string][]*rule
	starRules   []*rule
	checked     bool
}

type grant struct {
	sys      int
	code     []byte
	since    day // historical_depth of the bucket, when hasSince
	hasSince bool
}

// Access binds the static rules to a request's scope. It copies what it
// keeps, so the caller may reuse sc afterwards.
func (e *Enforcer) Access(sc Scope) (*Access, error) {
	a := &Access{e: e, patients: make([]string, 0, len(sc.PatientIDs))}
	for _, id := range sc.PatientIDs {
		if !validID(id) {
			return nil, errors.New("enforce: invalid patient id")
		}
		a.patients = append(a.patients, id)
	}
	depths, err := a.compileDepths(sc.Depths)
	if err != nil {
		return nil, err
	}
	a.checked = len(depths) > 0
	rules := make([]Rule, 0, len(sc.Grants)+len(sc.Rules))
	for typ, buckets := range sc.Grants {
		rules = append(rules, Rule{Type: typ, Buckets: buckets})
	}
	rules = append(rules, sc.Rules...)
	union := make(map[string][]grant, len(rules))
	byTypeRules := make(map[string][]*rule, len(rules))
	for _, r := range rules {
		cr, err := compileRule(a, r, depths)
		if err != nil {
			return nil, err
		}
		a.checked = a.checked || len(cr.cons) > 0
		union[r.Type] = append(union[r.Type], cr.buckets...)
		byTypeRules[r.Type] = append(byTypeRules[r.Type], cr)
	}
	a.star, a.hasStar = union["*"]
	a.starRules = byTypeRules["*"]
	a.byType = make(map[string][]grant, len(union))
	a.rulesByType = make(map[string][]*rule, len(byTypeRules))
	for typ, list := range union {
		if typ == "*" {
			continue
		}
		a.byType[typ] = append(list, a.star...)
		a.rulesByType[typ] = append(byTypeRules[typ], a.starRules...)
	}
	return a, nil
}

// rulesFor returns the rules that may let out a resource of type typ.
func (a *Access) rulesFor(typ []byte) []*rule {
	if list, ok := a.rulesByType[string(typ)]; ok {
		return list
	}
	return a.starRules
}

// systemFor returns the alias group of a granted system, creating a private
// group for a system no alias group names.
func (a *Access) systemFor(sys string) int {
	if id, ok := a.e.systems[sys]; ok {
		return id
	}
	if id, ok := a.extra[sys]; ok {
		return id
	}
	if a.extra == nil {
		a.extra = make(map[string]int)
	}
	id := a.e.nSystems + len(a.extra)
	a.extra[sys] = id
	return id
}

// systemID returns the bucket-system group of a coding's system, or -1 when
// the system is not a bucket system (then the coding is not a bucket label).
func (a *Access) systemID(sys []byte) int {
	if id, ok := a.e.systems[string(sys)]; ok {
		return id
	}
	if id, ok := a.extra[string(sys)]; ok {
		return id
	}
	return -1
}

// grantsFor returns the buckets granted for typ, and false when the type is
// not granted at all.
func (a *Access) grantsFor(typ []byte) ([]grant, bool) {
	if list, ok := a.byType[string(typ)]; ok {
		return list, true
	}
	return a.star, a.hasStar
}

func matchGrant(list []grant, sys int, code []byte) bool {
	for _, g := range list {
		if g.sys == sys && asciiFoldEqual(g.code, code) {
			return true
		}
	}
	return false
}

func (a *Access) isPatient(id []byte) bool {
	for _, p := range a.patients {
		if p == string(id) {
			return true
		}
	}
	return false
}

// validID: FHIR ids are [A-Za-z0-9\-\.]{1,64}.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !idChar(id[i]) {
			return false
		}
	}
	return true
}

func idChar(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.'
}

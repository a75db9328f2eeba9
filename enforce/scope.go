package enforce

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Bucket is an information bucket: a code in a bucket code system.
type Bucket struct {
	System string
	Code   string
}

// Scope is the per-request part of the rules: whose data may leave, and
// which buckets of which types.
type Scope struct {
	// PatientIDs are the patient's logical ids on the upstream server.
	PatientIDs []string
	// Grants maps a resource type, or "*" for every type, to its granted buckets.
	Grants map[string][]Bucket
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
}

type grant struct {
	sys  int
	code []byte
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
	compiled := make(map[string][]grant, len(sc.Grants))
	for typ, buckets := range sc.Grants {
		if typ != "*" && !validTypeName(typ) {
			return nil, fmt.Errorf("enforce: invalid resource type %q in grants", typ)
		}
		list := make([]grant, 0, len(buckets))
		for _, b := range buckets {
			if b.System == "" || b.Code == "" || !utf8.ValidString(b.System) || !utf8.ValidString(b.Code) {
				return nil, errors.New("enforce: a granted bucket needs a system and a code")
			}
			list = append(list, grant{sys: a.systemFor(b.System), code: []byte(b.Code)})
		}
		compiled[typ] = list
	}
	a.star, a.hasStar = compiled["*"]
	a.byType = make(map[string][]grant, len(compiled))
	for typ, list := range compiled {
		if typ == "*" {
			continue
		}
		a.byType[typ] = append(list, a.star...)
	}
	return a, nil
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

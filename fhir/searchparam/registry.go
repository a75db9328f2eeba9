package searchparam

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/hdp-il/fhir-pep/fhir"
)

// Type is a search parameter type of FHIR R4.
type Type string

// The R4 search parameter types.
const (
	Number    Type = "number"
	Date      Type = "date"
	String    Type = "string"
	Token     Type = "token"
	Reference Type = "reference"
	Composite Type = "composite"
	Quantity  Type = "quantity"
	URI       Type = "uri"
	Special   Type = "special"
)

// Param is one search parameter of a type.
type Param struct {
	// Name is the parameter's code ("patient", "_lastUpdated").
	Name string
	// Type is the parameter's search type.
	Type Type
	// Targets are the resource types a reference parameter may point to,
	// sorted. Empty with AnyTarget false: the specification names none (a
	// canonical reference such as RequestGroup.instantiates-canonical), so
	// neither a type modifier nor a chain can be checked and both are
	// refused.
	Targets []string
	// AnyTarget: the reference may point to any resource type.
	AnyTarget bool
	// Base is where the parameter is defined: the resource type,
	// "Resource" or "DomainResource" for the common ones, or the configured
	// type ("*" for all) of an extra.
	Base string
}

// targets reports whether t is an allowed target type.
func (p Param) targets(t string) bool {
	if p.AnyTarget {
		return fhir.IsResourceType(t)
	}
	_, found := slices.BinarySearch(p.Targets, t)
	return found
}

//go:embed r4.json
var r4JSON []byte

type file struct {
	Version string                       `json:"version"`
	Types   map[string]map[string]string `json:"types"`
}

// table is base type -> code -> parameter.
type table map[string]map[string]Param

// r4 is the embedded registry, parsed on first use. The data is generated
// and checked by the package tests, so a parse error means a corrupt build:
// it panics rather than serve searches with no registry.
var r4 = sync.OnceValue(func() table {
	t, err := parse(r4JSON)
	if err != nil {
		panic(err)
	}
	return t
})

func parse(data []byte) (table, error) {
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("searchparam: r4.json: %w", err)
	}
	if f.Version != "4.0.1" || len(f.Types) == 0 {
		return nil, fmt.Errorf("searchparam: r4.json: version %q with %d types", f.Version, len(f.Types))
	}
	t := make(table, len(f.Types))
	for base, params := range f.Types {
		m := make(map[string]Param, len(params))
		for code, spec := range params {
			p, err := parseSpec(code, spec)
			if err != nil {
				return nil, fmt.Errorf("searchparam: r4.json: %s.%s: %w", base, code, err)
			}
			p.Base = base
			m[code] = p
		}
		t[base] = m
	}
	return t, nil
}

// parseSpec reads "token" or "reference:Organization,Patient" or
// "reference:*".
func parseSpec(code, spec string) (Param, error) {
	typ, targets, hasTargets := strings.Cut(spec, ":")
	p := Param{Name: code, Type: Type(typ)}
	if !validType(p.Type) {
		return Param{}, fmt.Errorf("unknown type %q", typ)
	}
	if hasTargets {
		if p.Type != Reference {
			return Param{}, fmt.Errorf("targets on a %s parameter", typ)
		}
		if targets == "*" {
			p.AnyTarget = true
			return p, nil
		}
		p.Targets = strings.Split(targets, ",")
		for _, t := range p.Targets {
			if !fhir.IsResourceType(t) {
				return Param{}, fmt.Errorf("target %q is no R4 resource type", t)
			}
		}
		slices.Sort(p.Targets)
	}
	return p, nil
}

func validType(t Type) bool {
	switch t {
	case Number, Date, String, Token, Reference, Composite, Quantity, URI, Special:
		return true
	}
	return false
}

// Lookup finds an R4 search parameter by code for a resource type,
// including the common parameters of Resource and DomainResource. With
// resourceType "" (a system search) only the common ones are found. It
// knows nothing of the rejected or result parameters, nor of extras: use
// Registry.Validate for a request.
func Lookup(resourceType, name string) (Param, bool) {
	return r4().lookup(resourceType, name)
}

func (t table) lookup(resourceType, name string) (Param, bool) {
	if resourceType != "" {
		if p, ok := t[resourceType][name]; ok {
			return p, true
		}
	}
	if p, ok := t["Resource"][name]; ok {
		return p, true
	}
	// Bundle, Binary and Parameters are no DomainResource.
	if resourceType != "" && resourceType != "Bundle" && resourceType != "Binary" && resourceType != "Parameters" {
		if p, ok := t["DomainResource"][name]; ok {
			return p, true
		}
	}
	return Param{}, false
}

// modifiers are the R4 modifiers of each type (search.html, 3.1.1.5),
// "missing" apart. Reference also takes a target type name ("subject:Patient").
// Not allowed on purpose: reference :above and :below (R4 defines them for
// hierarchical references only in later versions, and a server differs in
// what it does with them).
var modifiers = map[Type][]string{
	String:    {"exact", "contains"},
	Token:     {"text", "not", "above", "below", "in", "not-in", "of-type"},
	URI:       {"above", "below"},
	Reference: {"identifier"},
}

// ModifierAllowed reports whether the R4 type of p defines the modifier
// (case-sensitive, as the specification spells them). "missing" is allowed
// on every type but special; a reference also takes one of its target type
// names.
func ModifierAllowed(p Param, modifier string) bool {
	if modifier == "missing" {
		return p.Type != Special
	}
	if slices.Contains(modifiers[p.Type], modifier) {
		return true
	}
	return p.Type == Reference && p.targets(modifier)
}

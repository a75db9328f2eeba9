package searchparam

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hdp-il/fhir-pep/fhir"
)

// rejected are refused for every type; see the package documentation for
// why each one is.
var rejected = map[string]bool{
	"_contained": true, "_containedType": true, "_list": true, "_text": true,
	"_content": true, "_query": true, "_filter": true, "_has": true,
}

// IsRejected reports whether the PEP refuses the parameter by design.
func IsRejected(name string) bool { return rejected[name] }

// resultParams are the search result parameters the PEP supports, each
// with its value check. once: a second occurrence is refused, because
// servers disagree on whether the first or the last one wins.
var resultParams = map[string]struct {
	once  bool
	check func(r *Registry, resourceType string, p fhir.Param) bool
}{
	"_count":      {true, valueCheck(isCount)},
	"_summary":    {true, valueCheck(in("true", "text", "data", "count", "false"))},
	"_total":      {true, valueCheck(in("none", "estimate", "accurate"))},
	"_pretty":     {true, valueCheck(in("true", "false"))},
	"_format":     {true, valueCheck(func(string) bool { return true })},
	"_elements":   {true, (*Registry).elementsOK},
	"_sort":       {true, (*Registry).sortOK},
	"_include":    {false, (*Registry).includeOK},
	"_revinclude": {false, (*Registry).revincludeOK},
	"_type":       {true, (*Registry).typeOK},
}

// valueCheck: exactly one value, accepted by ok. (_format's media type is
// the content negotiation's business, not the registry's.)
func valueCheck(ok func(string) bool) func(*Registry, string, fhir.Param) bool {
	return func(_ *Registry, _ string, p fhir.Param) bool { return oneOf(p, ok) }
}

func (r *Registry) elementsOK(_ string, p fhir.Param) bool { return all(p, isElementName) }

// typeOK: _type only on a system search, naming resource types.
func (r *Registry) typeOK(resourceType string, p fhir.Param) bool {
	return resourceType == "" && all(p, fhir.IsResourceType)
}

// ResultParams lists the supported result parameters, sorted.
func ResultParams() []string {
	out := make([]string, 0, len(resultParams))
	for k := range resultParams {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// maxChainLinks bounds a chain ("subject.organization.partof.name" has
// four links): each link is a join on the server.
const maxChainLinks = 3

// Extra is a search parameter a server defines beyond R4 (its own
// SearchParameter resources), allowed by configuration.
type Extra struct {
	// ResourceType is the type it applies to, or "*" for every type.
	ResourceType string
	// Name is the parameter's code.
	Name string
	// Type is its search type, which decides the modifiers allowed.
	Type Type
	// Targets are a reference's target types; empty means any type.
	Targets []string
}

// Config configures a Registry.
type Config struct {
	Extra []Extra
}

// Registry is the R4 registry plus configured extras. It is immutable and
// safe for concurrent use.
type Registry struct {
	r4    table
	extra table // "*" for all types
}

// New checks the extras and returns a Registry. An extra may not reuse the
// name of an R4 parameter of its type, of a result parameter or of a
// rejected one: configuration can add parameters, never change or re-enable
// one.
func New(cfg Config) (*Registry, error) {
	r := &Registry{r4: r4(), extra: table{}}
	for _, e := range cfg.Extra {
		if e.ResourceType != "*" && !fhir.IsResourceType(e.ResourceType) {
			return nil, fmt.Errorf("searchparam: extra %q: unknown resource type %q", e.Name, e.ResourceType)
		}
		if !isCode(e.Name) {
			return nil, fmt.Errorf("searchparam: extra %q: not a search parameter code", e.Name)
		}
		if rejected[e.Name] {
			return nil, fmt.Errorf("searchparam: extra %q: refused by design, cannot be allowed", e.Name)
		}
		if _, ok := resultParams[e.Name]; ok {
			return nil, fmt.Errorf("searchparam: extra %q: is a result parameter", e.Name)
		}
		rt := e.ResourceType
		if rt == "*" {
			rt = ""
		}
		if _, ok := r.r4.lookup(rt, e.Name); ok {
			return nil, fmt.Errorf("searchparam: extra %s.%s: already an R4 parameter", e.ResourceType, e.Name)
		}
		if !validType(e.Type) {
			return nil, fmt.Errorf("searchparam: extra %q: unknown type %q", e.Name, e.Type)
		}
		p := Param{Name: e.Name, Type: e.Type, Base: e.ResourceType}
		if e.Type == Reference {
			if len(e.Targets) == 0 {
				p.AnyTarget = true
			}
			for _, t := range e.Targets {
				if !fhir.IsResourceType(t) {
					return nil, fmt.Errorf("searchparam: extra %q: unknown target type %q", e.Name, t)
				}
			}
			p.Targets = slices.Sorted(slices.Values(e.Targets))
		} else if len(e.Targets) > 0 {
			return nil, fmt.Errorf("searchparam: extra %q: targets on a %s parameter", e.Name, e.Type)
		}
		m := r.extra[e.ResourceType]
		if m == nil {
			m = map[string]Param{}
			r.extra[e.ResourceType] = m
		}
		if _, dup := m[e.Name]; dup {
			return nil, fmt.Errorf("searchparam: extra %s.%s configured twice", e.ResourceType, e.Name)
		}
		m[e.Name] = p
	}
	return r, nil
}

// Lookup is the package Lookup plus the configured extras.
func (r *Registry) Lookup(resourceType, name string) (Param, bool) {
	if p, ok := r.r4.lookup(resourceType, name); ok {
		return p, true
	}
	if resourceType != "" {
		if p, ok := r.extra[resourceType][name]; ok {
			return p, true
		}
	}
	p, ok := r.extra["*"][name]
	return p, ok
}

// Validate checks the parameters of a search the client sent, before the
// PEP adds any of its own: resourceType is the searched type, "" for a
// system search. The first offending parameter is returned as an *Error
// naming it; nil means every parameter is known and well formed. Whether
// the values stay inside the patient context is the policy's question, not
// this one.
func (r *Registry) Validate(resourceType string, params []fhir.Param) error {
	var seen map[string]bool
	for _, p := range params {
		if p.IsHas || rejected[p.Name] {
			return reject(ErrRejectedParam, p.Key)
		}
		if rp, ok := resultParams[p.Name]; ok {
			if p.Chain != "" {
				return reject(ErrChain, p.Key)
			}
			if p.Modifier != "" && (p.Modifier != "iterate" || (p.Name != "_include" && p.Name != "_revinclude")) {
				return reject(ErrModifier, p.Key)
			}
			if rp.once {
				if seen[p.Name] {
					return reject(ErrValue, p.Key)
				}
				if seen == nil {
					seen = map[string]bool{}
				}
				seen[p.Name] = true
			}
			if !rp.check(r, resourceType, p) {
				if p.Name == "_type" && resourceType != "" {
					return reject(ErrUnknownParam, p.Key)
				}
				return reject(ErrValue, p.Key)
			}
			continue
		}
		sp, ok := r.Lookup(resourceType, p.Name)
		if !ok {
			return reject(ErrUnknownParam, p.Key)
		}
		if p.Chain != "" {
			if err := r.checkChain(sp, p); err != nil {
				return err
			}
		} else if p.Modifier != "" && !ModifierAllowed(sp, p.Modifier) {
			return reject(ErrModifier, p.Key)
		}
		if lastModifier(p) == "missing" && !oneOf(p, in("true", "false")) {
			return reject(ErrValue, p.Key)
		}
	}
	return nil
}

// lastModifier is the modifier that applies to the value: that of the
// last chain link, or of the parameter itself when there is no chain.
func lastModifier(p fhir.Param) string {
	if p.Chain == "" {
		return p.Modifier
	}
	last := p.Chain[strings.LastIndexByte(p.Chain, '.')+1:]
	_, mod, _ := strings.Cut(last, ":")
	return mod
}

// checkChain follows "ref[:Type].link[:mod].link..." through the target
// types. A reference that may point to any type, or whose targets are not
// known, needs a type modifier to be chained through: otherwise the chain
// cannot be checked (and servers disagree on how to resolve it).
func (r *Registry) checkChain(sp Param, p fhir.Param) error {
	links := strings.Split(p.Chain, ".")
	if len(links) > maxChainLinks {
		return reject(ErrChain, p.Key)
	}
	cands, err := r.nextTypes([]Param{sp}, p.Modifier)
	if err != nil {
		return reject(err, p.Key)
	}
	for i, link := range links {
		code, mod, _ := strings.Cut(link, ":")
		if rejected[code] {
			return reject(ErrRejectedParam, p.Key)
		}
		if _, ok := resultParams[code]; ok {
			return reject(ErrChain, p.Key)
		}
		var found []Param
		for _, t := range cands {
			if lp, ok := r.Lookup(t, code); ok {
				found = append(found, lp)
			}
		}
		if len(found) == 0 {
			return reject(ErrChain, p.Key)
		}
		if i == len(links)-1 {
			if mod != "" && !slices.ContainsFunc(found, func(lp Param) bool { return ModifierAllowed(lp, mod) }) {
				return reject(ErrModifier, p.Key)
			}
			return nil
		}
		if cands, err = r.nextTypes(found, mod); err != nil {
			return reject(err, p.Key)
		}
	}
	return nil
}

// nextTypes are the types a chain continues in after the reference
// parameters refs, restricted by a type modifier when given.
func (r *Registry) nextTypes(refs []Param, typeMod string) ([]string, *Error) {
	var out []string
	for _, ref := range refs {
		if ref.Type != Reference {
			continue
		}
		if typeMod != "" {
			if ref.targets(typeMod) && !slices.Contains(out, typeMod) {
				out = append(out, typeMod)
			}
			continue
		}
		if ref.AnyTarget || len(ref.Targets) == 0 {
			return nil, ErrChain
		}
		for _, t := range ref.Targets {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	if len(out) == 0 {
		if typeMod != "" {
			return nil, ErrModifier
		}
		return nil, ErrChain
	}
	return out, nil
}

// sortOK: each value is a parameter of the type, optionally "-" for
// descending order.
func (r *Registry) sortOK(resourceType string, p fhir.Param) bool {
	return all(p, func(v string) bool {
		v = strings.TrimPrefix(v, "-")
		if rejected[v] {
			return false
		}
		_, ok := r.Lookup(resourceType, v)
		return ok
	})
}

// includeOK: "Source:param[:Target]" where param is a reference parameter
// of Source and Target one of its targets. Without :iterate, Source is the
// searched type (on a system search any type).
func (r *Registry) includeOK(resourceType string, p fhir.Param) bool {
	return all(p, func(v string) bool {
		src, _, ok := r.includeRef(v)
		return ok && (p.Modifier == "iterate" || resourceType == "" || src == resourceType)
	})
}

// revincludeOK: "Source:param[:Target]" where, without :iterate, param can
// point to the searched type.
func (r *Registry) revincludeOK(resourceType string, p fhir.Param) bool {
	return all(p, func(v string) bool {
		_, ref, ok := r.includeRef(v)
		if !ok {
			return false
		}
		return p.Modifier == "iterate" || resourceType == "" || ref.targets(resourceType)
	})
}

func (r *Registry) includeRef(v string) (string, Param, bool) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || !fhir.IsResourceType(parts[0]) {
		return "", Param{}, false
	}
	ref, ok := r.Lookup(parts[0], parts[1])
	if !ok || ref.Type != Reference {
		return "", Param{}, false
	}
	if len(parts) == 3 && !ref.targets(parts[2]) {
		return "", Param{}, false
	}
	return parts[0], ref, true
}

func oneOf(p fhir.Param, ok func(string) bool) bool {
	return len(p.Values) == 1 && ok(p.Values[0])
}

func all(p fhir.Param, ok func(string) bool) bool {
	if len(p.Values) == 0 {
		return false
	}
	for _, v := range p.Values {
		if !ok(v) {
			return false
		}
	}
	return true
}

func in(allowed ...string) func(string) bool {
	return func(v string) bool { return slices.Contains(allowed, v) }
}

// isCount: a non-negative decimal integer of at most 6 digits (the value is
// bounded by the PEP and the server anyway; this keeps the text sane).
func isCount(v string) bool {
	if len(v) == 0 || len(v) > 6 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// isElementName: an element path of letters, digits and "_" in
// dot-separated segments that start with a letter ("identifier",
// "Observation.code").
func isElementName(v string) bool {
	if len(v) == 0 || len(v) > 128 {
		return false
	}
	for seg := range strings.SplitSeq(v, ".") {
		if len(seg) == 0 || !isLetter(seg[0]) {
			return false
		}
		for i := 1; i < len(seg); i++ {
			if c := seg[i]; !isLetter(c) && (c < '0' || c > '9') && c != '_' {
				return false
			}
		}
	}
	return true
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// isCode: [A-Za-z_][A-Za-z0-9_-]{0,127}, no modifier or chain.
func isCode(s string) bool {
	return s != "" && !strings.ContainsAny(s, ":.") && fhir.ValidParamName(s)
}

package policy

import (
	"maps"
	"net/http"
	"slices"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// ReasonPolicyError is the only reason of the deny decision returned with an
// error: the policy could not be evaluated, or its result broke the contract.
const ReasonPolicyError = "policy_error"

// Decision mirrors data.fhir.pep.decision (policies/README.md).
type Decision struct {
	Allow bool `json:"allow"`
	// Status is the HTTP status for a denial (400..599); 200 when allowed.
	Status int `json:"status"`
	// Reasons are low-cardinality codes, documented in policies/README.md.
	Reasons     []string    `json:"reasons"`
	Obligations Obligations `json:"obligations"`
}

// Obligations are what Go must do with an allowed request.
type Obligations struct {
	// SearchParams are appended (AND) to the upstream query, in order.
	SearchParams []SearchParam `json:"search_params,omitempty"`
	// ReadAsSearch: send GET /<type>?_id=<id>&<SearchParams> instead of the
	// read; a single match is returned as the resource, anything else is 404.
	ReadAsSearch bool `json:"read_as_search,omitempty"`
	// EmptyResult: the patient has no data here; answer an empty searchset
	// without asking upstream.
	EmptyResult bool     `json:"empty_result,omitempty"`
	Response    Response `json:"response"`
	// Entries holds one Obligations per entry of a batch or transaction, in
	// entry order. Entries never nest. The caller must deny when their number
	// differs from the request's entries.
	Entries []Obligations `json:"entries,omitempty"`
}

// SearchParam is one name=value pair; Value is raw (commas mean OR).
type SearchParam struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Response is what the response check may let through.
type Response struct {
	// Types maps a resource type, or "*" for every type, to the buckets
	// granted for it as "<canonical system>|<lower-case code>". A resource
	// passes when one of its buckets is in Types[its type] or Types["*"]. The
	// bucket "*" means any bucket (only when the policy's require_bucket is
	// false).
	Types map[string][]string `json:"types,omitempty"`
	// Rules are the scopes behind Types, one per usable scope with the
	// request's permission letter: a resource passes when some rule for its
	// type (or "*") grants one of its buckets and all the rule's constraints
	// hold on it. Go verifies the constraints it can read on the response
	// (dates, codes, _security) and treats the others as failed, except for
	// the match entries of a search the rule narrowed (Narrowed).
	Rules []ResponseRule `json:"rules,omitempty"`
	// Depths maps a bucket ("<canonical system>|<lower-case code>") to its
	// historical_depth, "YYYY-MM-DD": under that bucket only resources whose
	// clinical date is on or after it may leave.
	Depths map[string]string `json:"depths,omitempty"`
}

// Clone returns a deep copy of r: a caller that keeps a Response (a cache,
// a memo) must not see later changes to the original, nor make any.
func (r Response) Clone() Response {
	if r.Types != nil {
		types := make(map[string][]string, len(r.Types))
		for k, v := range r.Types {
			types[k] = slices.Clone(v)
		}
		r.Types = types
	}
	if r.Rules != nil {
		rules := make([]ResponseRule, len(r.Rules))
		for i, rule := range r.Rules {
			rule.Buckets = slices.Clone(rule.Buckets)
			rule.Constraints = slices.Clone(rule.Constraints)
			rules[i] = rule
		}
		r.Rules = rules
	}
	if r.Depths != nil {
		r.Depths = maps.Clone(r.Depths)
	}
	return r
}

// ResponseRule is one scope's grant on the response (see Response.Rules).
type ResponseRule struct {
	// Type is a resource type or "*".
	Type string `json:"type"`
	// Buckets as in Response.Types.
	Buckets []string `json:"buckets"`
	// Constraints are the scope's query parameters, one per name=value pair
	// (a repeated parameter is two constraints: AND).
	Constraints []SearchParam `json:"constraints,omitempty"`
	// Narrowed: the upstream query of this request carried exactly these
	// constraints (obligations.search_params).
	Narrowed bool `json:"narrowed,omitempty"`
}

// policyErrorDecision is returned with every error: deny, 500.
func policyErrorDecision() Decision {
	return Decision{
		Allow:   false,
		Status:  http.StatusInternalServerError,
		Reasons: []string{ReasonPolicyError},
	}
}

var (
	keyAllow        = ast.StringTerm("allow")
	keyStatus       = ast.StringTerm("status")
	keyReasons      = ast.StringTerm("reasons")
	keyObligations  = ast.StringTerm("obligations")
	keySearchParams = ast.StringTerm("search_params")
	keyReadAsSearch = ast.StringTerm("read_as_search")
	keyEmptyResult  = ast.StringTerm("empty_result")
	keyResponse     = ast.StringTerm("response")
	keyEntries      = ast.StringTerm("entries")
	keyTypes        = ast.StringTerm("types")
	keyName         = ast.StringTerm("name")
	keyValue        = ast.StringTerm("value")
	// keyType and keyConstraints are shared with input.go.
	keyRules    = ast.StringTerm("rules")
	keyDepths   = ast.StringTerm("depths")
	keyBuckets  = ast.StringTerm("buckets")
	keyNarrowed = ast.StringTerm("narrowed")

	decisionKeys    = keySet("allow", "status", "reasons", "obligations")
	obligationKeys  = keySet("search_params", "read_as_search", "empty_result", "response", "entries")
	entryKeys       = keySet("search_params", "read_as_search", "empty_result", "response")
	responseKeys    = keySet("types", "rules", "depths")
	ruleKeys        = keySet("type", "buckets", "constraints", "narrowed")
	searchParamKeys = keySet("name", "value")
)

func keySet(keys ...string) map[string]struct{} {
	m := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		m[k] = struct{}{}
	}
	return m
}

// decodeDecision checks the decision against the contract. Unknown keys are
// errors too: an obligation Go does not know is one it would not enforce.
// decision.obligations are taken from known (nil: none) when they are
// known's term.
func decodeDecision(v ast.Value, known *knownObligations) (Decision, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return policyErrorDecision(), mistyped("decision", "an object")
	}
	if err := onlyKeys(obj, "decision", decisionKeys); err != nil {
		return policyErrorDecision(), err
	}

	var d Decision
	allow, ok := termBool(obj.Get(keyAllow))
	if !ok {
		return policyErrorDecision(), mistyped("decision.allow", "a boolean")
	}
	status, ok := termInt(obj.Get(keyStatus))
	if !ok || status < 200 || status > 599 {
		return policyErrorDecision(), mistyped("decision.status", "an integer in 200..599")
	}
	if allow && status > 299 {
		return policyErrorDecision(), mistyped("decision.status", "2xx when allow is true")
	}
	if !allow && status < 400 {
		return policyErrorDecision(), mistyped("decision.status", "4xx or 5xx when allow is false")
	}
	reasons, ok := termStrings(obj.Get(keyReasons))
	if !ok {
		return policyErrorDecision(), mistyped("decision.reasons", "an array of non-empty strings")
	}
	if t := obj.Get(keyObligations); t != nil {
		o, ok := known.decoded(t.Value)
		if !ok {
			var err error
			if o, err = decodeObligations(t.Value, "decision.obligations", true); err != nil {
				return policyErrorDecision(), err
			}
		}
		d.Obligations = o
	}
	d.Allow, d.Status, d.Reasons = allow, status, reasons
	return d, nil
}

// decodedOnce is a term of a kept grant decoded at most once (grant.go):
// the allowing decision (knownDecision) or the obligations
// (knownObligations) a kept grant settles. OPA hands back the input's
// term rather than rebuilding it, and a term is never mutated after OPA
// returned it, so when a result holds that very object its decoded form is
// copied instead of decoding again.
type decodedOnce[T termDecoder[T]] struct {
	term *ast.Term // nil: none
	once sync.Once
	v    T
	ok   bool // decoded without error
}

// termDecoder is what decodedOnce needs of the type it decodes.
type termDecoder[T any] interface {
	decodeTerm(ast.Value) (T, error)
	deepCopy() T
}

type (
	knownDecision    = decodedOnce[Decision]
	knownObligations = decodedOnce[Obligations]
)

// decoded returns a copy of the decoded form when v is k's term's value
// (the same object, not an equal one) and it decodes without error; ok is
// false otherwise, and the caller decodes v itself (reporting the error,
// if any).
func (k *decodedOnce[T]) decoded(v ast.Value) (T, bool) {
	var zero T
	if k == nil || k.term == nil {
		return zero, false
	}
	if obj, isObj := v.(ast.Object); !isObj || obj != k.term.Value {
		return zero, false
	}
	k.once.Do(func() {
		x, err := zero.decodeTerm(k.term.Value)
		k.v, k.ok = x, err == nil
	})
	if !k.ok {
		return zero, false
	}
	return k.v.deepCopy(), true
}

func (Decision) decodeTerm(v ast.Value) (Decision, error) { return decodeDecision(v, nil) }

func (d Decision) deepCopy() Decision { return copyDecision(d) }

func (Obligations) decodeTerm(v ast.Value) (Obligations, error) {
	return decodeObligations(v, "decision.obligations", true)
}

func (o Obligations) deepCopy() Obligations { return copyObligations(o) }

func decodeObligations(v ast.Value, field string, withEntries bool) (Obligations, error) {
	var o Obligations
	obj, ok := v.(ast.Object)
	if !ok {
		return o, mistyped(field, "an object")
	}
	keys := entryKeys
	if withEntries {
		keys = obligationKeys
	}
	if err := onlyKeys(obj, field, keys); err != nil {
		return o, err
	}
	if t := obj.Get(keySearchParams); t != nil {
		params, err := decodeSearchParams(t.Value, field+".search_params")
		if err != nil {
			return o, err
		}
		o.SearchParams = params
	}
	if t := obj.Get(keyReadAsSearch); t != nil {
		if o.ReadAsSearch, ok = termBool(t); !ok {
			return o, mistyped(field+".read_as_search", "a boolean")
		}
	}
	if t := obj.Get(keyEmptyResult); t != nil {
		if o.EmptyResult, ok = termBool(t); !ok {
			return o, mistyped(field+".empty_result", "a boolean")
		}
	}
	if t := obj.Get(keyResponse); t != nil {
		r, err := decodeResponse(t.Value, field+".response")
		if err != nil {
			return o, err
		}
		o.Response = r
	}
	if t := obj.Get(keyEntries); t != nil {
		arr, ok := t.Value.(*ast.Array)
		if !ok {
			return o, mistyped(field+".entries", "an array")
		}
		o.Entries = make([]Obligations, arr.Len())
		for i := range arr.Len() {
			e, err := decodeObligations(arr.Elem(i).Value, field+".entries[]", false)
			if err != nil {
				return o, err
			}
			o.Entries[i] = e
		}
	}
	return o, nil
}

func decodeSearchParams(v ast.Value, field string) ([]SearchParam, error) {
	arr, ok := v.(*ast.Array)
	if !ok {
		return nil, mistyped(field, "an array")
	}
	if arr.Len() == 0 {
		return nil, nil
	}
	params := make([]SearchParam, arr.Len())
	for i := range arr.Len() {
		obj, ok := arr.Elem(i).Value.(ast.Object)
		if !ok {
			return nil, mistyped(field+"[]", "an object")
		}
		if err := onlyKeys(obj, field+"[]", searchParamKeys); err != nil {
			return nil, err
		}
		// An empty name or value would make upstream ignore the parameter:
		// the narrowing would silently vanish.
		name, ok := termString(obj.Get(keyName))
		if !ok {
			return nil, mistyped(field+"[].name", "a non-empty string")
		}
		value, ok := termString(obj.Get(keyValue))
		if !ok {
			return nil, mistyped(field+"[].value", "a non-empty string")
		}
		params[i] = SearchParam{Name: name, Value: value}
	}
	return params, nil
}

func decodeResponse(v ast.Value, field string) (Response, error) {
	var r Response
	obj, ok := v.(ast.Object)
	if !ok {
		return r, mistyped(field, "an object")
	}
	if err := onlyKeys(obj, field, responseKeys); err != nil {
		return r, err
	}
	if t := obj.Get(keyRules); t != nil {
		rules, err := decodeRules(t.Value, field+".rules")
		if err != nil {
			return r, err
		}
		r.Rules = rules
	}
	if t := obj.Get(keyDepths); t != nil {
		depths, err := decodeDepths(t.Value, field+".depths")
		if err != nil {
			return r, err
		}
		r.Depths = depths
	}
	t := obj.Get(keyTypes)
	if t == nil {
		return r, nil
	}
	types, ok := t.Value.(ast.Object)
	if !ok {
		return r, mistyped(field+".types", "an object")
	}
	r.Types = make(map[string][]string, types.Len())
	var err error
	types.Foreach(func(k, v *ast.Term) {
		if err != nil {
			return
		}
		name, ok := termString(k)
		if !ok {
			err = mistyped(field+".types", "keyed by non-empty strings")
			return
		}
		buckets, ok := termStrings(v)
		if !ok {
			err = mistyped(field+".types[]", "an array of non-empty strings")
			return
		}
		r.Types[name] = buckets
	})
	return r, err
}

func decodeRules(v ast.Value, field string) ([]ResponseRule, error) {
	arr, ok := v.(*ast.Array)
	if !ok {
		return nil, mistyped(field, "an array")
	}
	if arr.Len() == 0 {
		return nil, nil
	}
	rules := make([]ResponseRule, arr.Len())
	for i := range arr.Len() {
		obj, ok := arr.Elem(i).Value.(ast.Object)
		if !ok {
			return nil, mistyped(field+"[]", "an object")
		}
		if err := onlyKeys(obj, field+"[]", ruleKeys); err != nil {
			return nil, err
		}
		var r ResponseRule
		if r.Type, ok = termString(obj.Get(keyType)); !ok {
			return nil, mistyped(field+"[].type", "a non-empty string")
		}
		if r.Buckets, ok = termStrings(obj.Get(keyBuckets)); !ok {
			return nil, mistyped(field+"[].buckets", "an array of non-empty strings")
		}
		if t := obj.Get(keyConstraints); t != nil {
			// Same shape and rules as search_params: an empty value would
			// be a constraint that silently constrains nothing.
			params, err := decodeSearchParams(t.Value, field+"[].constraints")
			if err != nil {
				return nil, err
			}
			r.Constraints = params
		}
		if t := obj.Get(keyNarrowed); t != nil {
			if r.Narrowed, ok = termBool(t); !ok {
				return nil, mistyped(field+"[].narrowed", "a boolean")
			}
		}
		rules[i] = r
	}
	return rules, nil
}

func decodeDepths(v ast.Value, field string) (map[string]string, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, mistyped(field, "an object")
	}
	if obj.Len() == 0 {
		return nil, nil
	}
	out := make(map[string]string, obj.Len())
	var err error
	obj.Foreach(func(k, v *ast.Term) {
		if err != nil {
			return
		}
		bucket, ok := termString(k)
		date, ok2 := termString(v)
		if !ok || !ok2 || !isDate(date) {
			err = mistyped(field, "keyed by buckets, with dates YYYY-MM-DD")
			return
		}
		out[bucket] = date
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// isDate accepts exactly YYYY-MM-DD with a plausible month and day.
func isDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for i, c := range []byte(s) {
		if i != 4 && i != 7 && (c < '0' || c > '9') {
			return false
		}
	}
	return s[5:7] >= "01" && s[5:7] <= "12" && s[8:10] >= "01" && s[8:10] <= "31"
}

func onlyKeys(obj ast.Object, field string, allowed map[string]struct{}) error {
	for _, k := range obj.Keys() {
		s, ok := k.Value.(ast.String)
		if !ok {
			return mistyped(field, "keyed by strings")
		}
		if _, ok := allowed[string(s)]; !ok {
			return mistyped(field, "free of unknown keys")
		}
	}
	return nil
}

func termBool(t *ast.Term) (bool, bool) {
	if t == nil {
		return false, false
	}
	b, ok := t.Value.(ast.Boolean)
	return bool(b), ok
}

func termInt(t *ast.Term) (int, bool) {
	if t == nil {
		return 0, false
	}
	n, ok := t.Value.(ast.Number)
	if !ok {
		return 0, false
	}
	return n.Int()
}

func termString(t *ast.Term) (string, bool) {
	if t == nil {
		return "", false
	}
	s, ok := t.Value.(ast.String)
	if !ok || s == "" {
		return "", false
	}
	return string(s), true
}

// termStrings accepts an array or a set (Rego's natural type for reasons) of
// non-empty strings; a set comes out sorted.
func termStrings(t *ast.Term) ([]string, bool) {
	if t == nil {
		return nil, false
	}
	var arr *ast.Array
	switch v := t.Value.(type) {
	case *ast.Array:
		arr = v
	case ast.Set:
		arr = v.Sorted()
	default:
		return nil, false
	}
	out := make([]string, arr.Len())
	for i := range arr.Len() {
		s, ok := termString(arr.Elem(i))
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

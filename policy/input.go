package policy

import (
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/smart"
)

// Patient is the token's patient: the national id (system and value) and the
// upstream Patient ids Go resolved for it.
type Patient struct {
	System, Value string
	// IDs are the upstream Patient ids. A non-nil empty slice means the
	// patient has no data at this data source; nil means unresolved and
	// becomes null, which the default policy denies (patient_missing).
	IDs []string
}

// Client is the NTN member that called, and its certificate thumbprint.
type Client struct{ MemberID, Thumbprint string }

// Input is everything the policy sees about one request. Value renders it
// as the documented input document (policies/README.md).
type Input struct {
	Request *fhir.Request
	// Entries are the parsed entries of a batch or transaction, in order;
	// nil otherwise. A nil entry becomes null, which the policy denies.
	Entries []*fhir.Request
	// Token is the introspection response (introspection.Claims.Raw).
	// Numbers may be json.Number; values must be JSON-like.
	Token   map[string]any
	Scopes  []smart.Scope
	Patient Patient
	Client  Client
}

// Value builds the input document directly as AST terms: no JSON round
// trip (except for Token values of Go types JSON decoding never produces).
// Besides the documented fields it adds the facts Go precomputes for the
// policy (scopes[].security_items and scope_index, policies/README.md).
//
// Value returns nil when Token holds a value that has no JSON form (a
// function, a channel, NaN); Eval denies a nil input with ErrInput. Values
// decoded from JSON always have one.
func (in *Input) Value() ast.Value {
	token, ok := tokenTerm(in.Token)
	if !ok {
		return nil
	}
	return ast.NewObject(
		ast.Item(keyRequest, requestTerm(in.Request, in.Entries, true)),
		ast.Item(keyToken, token),
		ast.Item(keyScopes, scopesTerm(in.Scopes)),
		ast.Item(keyScopeIndex, scopeIndex(in.Scopes)),
		ast.Item(keyPatient, patientTerm(in.Patient)),
		ast.Item(keyClient, ast.ObjectTerm(
			ast.Item(keyMemberID, stringOrNull(in.Client.MemberID)),
			ast.Item(keyThumbprint, stringOrNull(in.Client.Thumbprint)),
		)),
	)
}

// Keys of the input document, shared by every input (terms are never
// mutated once built).
var (
	keyRequest       = ast.StringTerm("request")
	keyToken         = ast.StringTerm("token")
	keyScopes        = ast.StringTerm("scopes")
	keyScopeIndex    = ast.StringTerm("scope_index")
	keyPatient       = ast.StringTerm("patient")
	keyClient        = ast.StringTerm("client")
	keyMethod        = ast.StringTerm("method")
	keyInteraction   = ast.StringTerm("interaction")
	keyResourceType  = ast.StringTerm("resource_type")
	keyID            = ast.StringTerm("id")
	keyVersionID     = ast.StringTerm("version_id")
	keyCompartment   = ast.StringTerm("compartment")
	keyOperation     = ast.StringTerm("operation")
	keyParams        = ast.StringTerm("params")
	keyParamList     = ast.StringTerm("param_list")
	keyWantsXML      = ast.StringTerm("wants_xml")
	keyEntriesInput  = ast.StringTerm("entries")
	keyType          = ast.StringTerm("type")
	keyLevel         = ast.StringTerm("level")
	keyModifier      = ast.StringTerm("modifier")
	keyChain         = ast.StringTerm("chain")
	keyHas           = ast.StringTerm("has")
	keyValues        = ast.StringTerm("values")
	keyContext       = ast.StringTerm("context")
	keyPermissions   = ast.StringTerm("permissions")
	keyConstraints   = ast.StringTerm("constraints")
	keyVersion       = ast.StringTerm("version")
	keyRaw           = ast.StringTerm("raw")
	keySecurityItems = ast.StringTerm("security_items")
	keySystem        = ast.StringTerm("system")
	keyCode          = ast.StringTerm("code")
	keyCodeLower     = ast.StringTerm("code_lower")
	keyCodeSpellings = ast.StringTerm("code_spellings")
	keyIDs           = ast.StringTerm("ids")
	keyMemberID      = ast.StringTerm("member_id")
	keyThumbprint    = ast.StringTerm("thumbprint")
)

// constantTerms holds the strings most inputs repeat (methods,
// interactions, scope contexts, common permissions), so that building them
// allocates nothing.
var constantTerms = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, s := range []string{
		"GET", "POST", "PUT", "PATCH", "DELETE",
		"read", "vread", "update", "patch", "delete", "history-instance",
		"history-type", "history-system", "create", "search-type",
		"search-system", "search-compartment", "capabilities", "batch",
		"transaction", "operation", "system", "type", "instance",
		"patient", "user", "rs", "cruds", "cud", "*", "c", "r", "u", "d", "s",
		"Patient", "Observation", "_security",
	} {
		m[s] = ast.StringTerm(s)
	}
	return m
}()

func stringTerm(s string) *ast.Term {
	if t, ok := constantTerms[s]; ok {
		return t
	}
	return ast.StringTerm(s)
}

// stringOrNull is the documented encoding of an optional string: absent
// (empty) is null.
func stringOrNull(s string) *ast.Term {
	if s == "" {
		return ast.InternedNullTerm
	}
	return stringTerm(s)
}

func stringArray(values []string) *ast.Term {
	if len(values) == 0 {
		return ast.ArrayTerm()
	}
	terms := make([]*ast.Term, len(values))
	for i, v := range values {
		terms[i] = stringTerm(v)
	}
	return ast.ArrayTerm(terms...)
}

// requestTerm renders one request; entries only at the top level of a batch or
// transaction (entries never nest).
func requestTerm(r *fhir.Request, entries []*fhir.Request, top bool) *ast.Term {
	if r == nil {
		return ast.InternedNullTerm
	}
	compartment := ast.InternedNullTerm
	if c := r.Compartment; c != nil {
		compartment = ast.ObjectTerm(
			ast.Item(keyType, stringOrNull(c.Type)),
			ast.Item(keyID, stringOrNull(c.ID)),
		)
	}
	operation := ast.InternedNullTerm
	if op := r.Operation; op != nil {
		operation = ast.ObjectTerm(
			ast.Item(keyName, stringOrNull(op.Name)),
			ast.Item(keyLevel, stringOrNull(string(op.Level))),
		)
	}
	params, paramList := paramsTerms(r.Params)
	items := make([][2]*ast.Term, 0, 12)
	items = append(items,
		ast.Item(keyMethod, stringOrNull(r.Method)),
		ast.Item(keyInteraction, stringOrNull(string(r.Interaction))),
		ast.Item(keyResourceType, stringOrNull(r.ResourceType)),
		ast.Item(keyID, stringOrNull(r.ID)),
		ast.Item(keyVersionID, stringOrNull(r.VersionID)),
		ast.Item(keyCompartment, compartment),
		ast.Item(keyOperation, operation),
		ast.Item(keyParams, params),
		ast.Item(keyParamList, paramList),
		ast.Item(keyWantsXML, ast.InternedTerm(r.WantsXML)),
	)
	if top && (r.Interaction == fhir.InteractionBatch || r.Interaction == fhir.InteractionTransaction) {
		terms := make([]*ast.Term, len(entries))
		for i, e := range entries {
			terms[i] = requestTerm(e, nil, false)
		}
		items = append(items, ast.Item(keyEntriesInput, ast.ArrayTerm(terms...)))
	}
	return ast.ObjectTerm(items...)
}

// paramsTerms renders request.params (key with modifier and chain -> raw values
// in order) and request.param_list (one parsed object per parameter).
func paramsTerms(params []fhir.Param) (*ast.Term, *ast.Term) {
	if len(params) == 0 {
		return ast.ObjectTerm(), ast.ArrayTerm()
	}
	// Group raw values by key, keeping the first position of each key.
	keys := make([]string, 0, len(params))
	raws := make([][]string, 0, len(params))
	for _, p := range params {
		if i := slices.Index(keys, p.Key); i >= 0 {
			raws[i] = append(raws[i], p.Raw)
			continue
		}
		keys = append(keys, p.Key)
		raws = append(raws, []string{p.Raw})
	}
	byKey := make([][2]*ast.Term, len(keys))
	for i, k := range keys {
		byKey[i] = ast.Item(stringTerm(k), stringArray(raws[i]))
	}
	list := make([]*ast.Term, len(params))
	for i, p := range params {
		list[i] = ast.ObjectTerm(
			ast.Item(keyName, stringTerm(p.Name)),
			ast.Item(keyModifier, stringTerm(p.Modifier)),
			ast.Item(keyChain, stringTerm(p.Chain)),
			ast.Item(keyHas, ast.InternedTerm(p.IsHas)),
			ast.Item(keyValues, stringArray(p.Values)),
		)
	}
	return ast.ObjectTerm(byKey...), ast.ArrayTerm(list...)
}

func scopesTerm(scopes []smart.Scope) *ast.Term {
	terms := make([]*ast.Term, len(scopes))
	for i := range scopes {
		s := &scopes[i]
		terms[i] = ast.ObjectTerm(
			ast.Item(keyContext, stringTerm(s.Context)),
			ast.Item(keyResourceType, stringTerm(s.ResourceType)),
			ast.Item(keyPermissions, stringTerm(s.Permissions)),
			ast.Item(keyConstraints, constraintsTerm(s.Constraints)),
			ast.Item(keyVersion, ast.InternedTerm(s.Version)),
			ast.Item(keyRaw, stringTerm(s.Raw)),
			ast.Item(keySecurityItems, securityItems(s.Constraints["_security"])),
		)
	}
	return ast.ArrayTerm(terms...)
}

func constraintsTerm(c map[string][]string) *ast.Term {
	items := make([][2]*ast.Term, 0, len(c))
	for k, v := range c {
		items = append(items, ast.Item(stringTerm(k), stringArray(v)))
	}
	return ast.ObjectTerm(items...)
}

// securityItems splits _security values into their comma items and parses
// each as "system|code" (exactly one bar, a non-empty code); other items
// have a null system and code. Splitting is literal, as Rego's split:
// escapes are not interpreted.
func securityItems(values []string) *ast.Term {
	var terms []*ast.Term
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			terms = append(terms, securityItem(item))
		}
	}
	return ast.ArrayTerm(terms...)
}

func securityItem(item string) *ast.Term {
	system, code, ok := strings.Cut(item, "|")
	if !ok || code == "" || strings.Contains(code, "|") {
		return ast.ObjectTerm(
			ast.Item(keyValue, stringTerm(item)),
			ast.Item(keySystem, ast.InternedNullTerm),
			ast.Item(keyCode, ast.InternedNullTerm),
			ast.Item(keyCodeLower, ast.InternedNullTerm),
			ast.Item(keyCodeSpellings, ast.ArrayTerm()),
		)
	}
	return ast.ObjectTerm(
		ast.Item(keyValue, stringTerm(item)),
		ast.Item(keySystem, stringTerm(system)),
		ast.Item(keyCode, stringTerm(code)),
		ast.Item(keyCodeLower, stringTerm(strings.ToLower(code))),
		ast.Item(keyCodeSpellings, stringArray(codeSpellings(code))),
	)
}

// codeSpellings is the code as written, in lower case, lowerCamel and
// UpperCamel (first character changed, the rest as written), sorted and
// without repeats.
func codeSpellings(code string) []string {
	first, size := utf8.DecodeRuneInString(code)
	rest := code[size:]
	out := []string{
		code,
		strings.ToLower(code),
		strings.ToLower(string(first)) + rest,
		strings.ToUpper(string(first)) + rest,
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// scopeIndex maps each resource type named by a scope ("*" included) and
// each permission letter of those scopes to the positions of the scopes in
// input.scopes, in order: {"Observation": {"r": [0, 1], "s": [0, 1]}}.
func scopeIndex(scopes []smart.Scope) *ast.Term {
	type letterPositions struct {
		letter    byte
		positions []*ast.Term
	}
	types := make([]string, 0, len(scopes))
	byType := make([][]letterPositions, 0, len(scopes))
	for i := range scopes {
		t := scopes[i].ResourceType
		j := slices.Index(types, t)
		if j < 0 {
			j = len(types)
			types = append(types, t)
			byType = append(byType, nil)
		}
		perms := scopes[i].Permissions
		for k := 0; k < len(perms); k++ {
			l := slices.IndexFunc(byType[j], func(lp letterPositions) bool { return lp.letter == perms[k] })
			if l < 0 {
				l = len(byType[j])
				byType[j] = append(byType[j], letterPositions{letter: perms[k]})
			}
			byType[j][l].positions = append(byType[j][l].positions, ast.InternedTerm(i))
		}
	}
	items := make([][2]*ast.Term, len(types))
	for j, t := range types {
		letters := make([][2]*ast.Term, len(byType[j]))
		for l, lp := range byType[j] {
			letters[l] = ast.Item(stringTerm(string(lp.letter)), ast.ArrayTerm(lp.positions...))
		}
		items[j] = ast.Item(stringTerm(t), ast.ObjectTerm(letters...))
	}
	return ast.ObjectTerm(items...)
}

func patientTerm(p Patient) *ast.Term {
	ids := ast.InternedNullTerm
	if p.IDs != nil {
		ids = stringArray(p.IDs)
	}
	return ast.ObjectTerm(
		ast.Item(keySystem, stringOrNull(p.System)),
		ast.Item(keyValue, stringOrNull(p.Value)),
		ast.Item(keyIDs, ids),
	)
}

// tokenTerm converts the introspection response. A nil map is null.
func tokenTerm(token map[string]any) (*ast.Term, bool) {
	if token == nil {
		return ast.InternedNullTerm, true
	}
	v, ok := jsonValue(token)
	if !ok {
		return nil, false
	}
	return ast.NewTerm(v), true
}

// jsonValue converts decoded JSON (json.Number included) to AST. Other Go
// values go through ast.InterfaceToValue (a JSON round trip); values with no
// JSON form, non-finite floats included, are refused.
func jsonValue(x any) (ast.Value, bool) {
	switch x := x.(type) {
	case map[string]any:
		items := make([][2]*ast.Term, 0, len(x))
		for k, e := range x {
			v, ok := jsonValue(e)
			if !ok {
				return nil, false
			}
			items = append(items, ast.Item(stringTerm(k), ast.NewTerm(v)))
		}
		return ast.NewObject(items...), true
	case []any:
		terms := make([]*ast.Term, len(x))
		for i, e := range x {
			v, ok := jsonValue(e)
			if !ok {
				return nil, false
			}
			terms[i] = ast.NewTerm(v)
		}
		return ast.NewArray(terms...), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
	case float32:
		return jsonValue(float64(x))
	}
	v, err := ast.InterfaceToValue(x)
	if err != nil {
		return nil, false
	}
	return v, true
}

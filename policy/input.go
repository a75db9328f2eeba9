package policy

import (
	"crypto/sha256"
	"encoding/json"
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

// Basket is one information bucket the patient consented to (the token's
// "baskets" claim, introspection.Basket): System as sent (or the default
// bucket system), Code as sent, HistoricalDepth "YYYY-MM-DD" or "" for no
// bound.
type Basket struct{ System, Code, HistoricalDepth string }

// Input is everything the policy sees about one request. Value renders it
// as the input document documented in policies/README.md.
type Input struct {
	Request *fhir.Request
	// Entries are the parsed entries of a batch or transaction, in order;
	// nil otherwise. A nil entry becomes null, which the policy denies.
	Entries []*fhir.Request
	// Token is input.token as decoded JSON, read only; numbers may be
	// json.Number. For tools and tests: the key of a cached decision
	// encodes it on every request. Set at most one of Token and Claims.
	Token map[string]any
	// Claims is input.token in a form prepared once per token
	// (introspection.Claims): rendered only when the policy is evaluated,
	// and keyed in the decision cache by its digest. Setting both Token and
	// Claims is refused (ErrInput).
	Claims  TokenDocument
	Scopes  []smart.Scope
	Patient Patient
	Client  Client
	// Baskets are the consented buckets. Nil means the token has no
	// "baskets" claim and input.baskets is absent (the scopes alone grant
	// buckets); a non-nil empty slice is a consent to no bucket.
	Baskets []Basket
}

// TokenDocument is a token document prepared ahead of the request, such
// as introspection.Claims.
type TokenDocument interface {
	// TokenValue renders the document; nil when it has none (denied).
	TokenValue() ast.Value
	// TokenDigest is a collision-resistant digest of an injective encoding
	// of the document: two documents with the same digest render the same
	// value. It is zero exactly when TokenValue is nil: an engine whose
	// policy never reads input.token refuses such a document by its digest
	// instead of rendering it.
	TokenDigest() [sha256.Size]byte
}

// Value builds the input document directly as AST terms, without a JSON
// round trip. Besides the documented request, token, scopes, patient and
// client it adds the facts Go precomputes for the policy
// (request.param_facts, scopes[].security_items, scope_index; see
// policies/README.md). Empty strings are null.
//
// Value returns nil when Token holds a value that has no JSON form (a
// function, a channel, a NaN), when Claims renders nothing, or when both
// are set; Eval denies a nil input with ErrInput. Values decoded from JSON
// always have one.
func (in *Input) Value() ast.Value { return in.value(allInputReads) }

// value is Value with input.token and input.client rendered only when
// reads says the policy may read them (inputreads.go).
func (in *Input) value(reads inputReads) ast.Value {
	var b builder
	return in.valueWith(&b, reads, in.tokenTerms(&b), nil)
}

// tokenTerms are the parts of the input document that depend only on the
// token: input.scopes, input.scope_index, input.patient and input.baskets
// (nil when absent). A kept grant holds them (grant.go): its key covers
// everything they are rendered from.
type tokenTerms struct{ scopes, scopeIndex, patient, baskets *ast.Term }

func (in *Input) tokenTerms(b *builder) tokenTerms {
	// One lookup of the kept terms for both (scopeTerms).
	scopes, scopeIndex := scopeTerms(in.Scopes)
	t := tokenTerms{scopes: scopes, scopeIndex: scopeIndex, patient: b.patient(in.Patient)}
	if in.Baskets != nil {
		t.baskets = b.baskets(in.Baskets)
	}
	return t
}

// valueWith renders the input document with the token's parts tt and, when
// not nil, input.grant, in one object.
func (in *Input) valueWith(b *builder, reads inputReads, tt tokenTerms, grant *ast.Term) ast.Value {
	token, ok := in.renderToken(reads)
	if !ok {
		return nil
	}
	items := make([][2]*ast.Term, 0, 8)
	// The order of Value before the parts became optional.
	items = append(items, ast.Item(keyRequest, b.request(in.Request, in.Entries, true)))
	if token != nil {
		items = append(items, ast.Item(keyToken, token))
	}
	items = append(items,
		ast.Item(keyScopes, tt.scopes),
		ast.Item(keyScopeIndex, tt.scopeIndex),
		ast.Item(keyPatient, tt.patient),
	)
	if reads.client {
		items = append(items, ast.Item(keyClient, b.object(
			ast.Item(keyMemberID, b.stringOrNull(in.Client.MemberID)),
			ast.Item(keyThumbprint, b.stringOrNull(in.Client.Thumbprint)),
		)))
	}
	if tt.baskets != nil {
		items = append(items, ast.Item(keyBaskets, tt.baskets))
	}
	if grant != nil {
		items = append(items, ast.Item(keyGrant, grant))
	}
	return ast.NewObject(items...)
}

// scopeTermEntries bounds the scope sets whose terms are kept (a few KB
// each). A token's scopes repeat on every request it makes, and most tokens
// of one client carry the same scope string.
const scopeTermEntries = 1024

// keptScopeTerms holds input.scopes and input.scope_index per scope set, as
// a two-element array term.
// keptScopeTerms keeps input.scopes and input.scope_index per scope set.
var keptScopeTerms = newKeptCache[*ast.Term](scopeTermEntries)

// scopeTerms renders input.scopes and input.scope_index, or returns the
// terms kept for an equal scope set (every field compared, cachekey.go).
// Terms are shared between inputs: OPA never mutates a term it was given.
func scopeTerms(scopes []smart.Scope) (*ast.Term, *ast.Term) {
	bp := keyBuffers.Get().(*[]byte)
	e := keyEncoder{buf: (*bp)[:0]}
	e.count(len(scopes), scopes == nil)
	for i := range scopes {
		e.scope(&scopes[i])
	}
	defer func() { *bp = e.buf; keyBuffers.Put(bp) }()
	if t := keptScopeTerms.get(e.buf); t != nil {
		pair := t.Value.(*ast.Array)
		return pair.Elem(0), pair.Elem(1)
	}
	var b builder
	scopesTerm, indexTerm := b.renderScopes(scopes), b.renderScopeIndex(scopes)
	keptScopeTerms.put(string(e.buf), ast.ArrayTerm(scopesTerm, indexTerm))
	return scopesTerm, indexTerm
}

// baskets renders input.baskets: one {"system", "code",
// "historical_depth"} object per basket, all strings ("" for no depth, as
// the policy contract says, not null).
func (b *builder) baskets(baskets []Basket) *ast.Term {
	terms := make([]*ast.Term, len(baskets))
	for i, k := range baskets {
		terms[i] = b.object(
			ast.Item(keySystem, b.string(k.System)),
			ast.Item(keyCode, b.string(k.Code)),
			ast.Item(keyHistoricalDepth, b.string(k.HistoricalDepth)),
		)
	}
	return b.array(terms...)
}

// Keys of the input document. Terms are shared by every input: OPA never
// mutates a term it was given.
var (
	keyRequest         = ast.StringTerm("request")
	keyToken           = ast.StringTerm("token")
	keyScopes          = ast.StringTerm("scopes")
	keyScopeIndex      = ast.StringTerm("scope_index")
	keyPatient         = ast.StringTerm("patient")
	keyClient          = ast.StringTerm("client")
	keyBaskets         = ast.StringTerm("baskets")
	keyHistoricalDepth = ast.StringTerm("historical_depth")
	keyMethod          = ast.StringTerm("method")
	keyInteraction     = ast.StringTerm("interaction")
	keyResourceType    = ast.StringTerm("resource_type")
	keyID              = ast.StringTerm("id")
	keyVersionID       = ast.StringTerm("version_id")
	keyCompartment     = ast.StringTerm("compartment")
	keyOperation       = ast.StringTerm("operation")
	keyParams          = ast.StringTerm("params")
	keyParamList       = ast.StringTerm("param_list")
	keyParamFacts      = ast.StringTerm("param_facts")
	keyWantsXML        = ast.StringTerm("wants_xml")
	keyFacts           = ast.StringTerm("facts")
	keyEntriesInput    = ast.StringTerm("entries")
	keyType            = ast.StringTerm("type")
	keyLevel           = ast.StringTerm("level")
	keyModifier        = ast.StringTerm("modifier")
	keyChain           = ast.StringTerm("chain")
	keyChained         = ast.StringTerm("chained")
	keyHas             = ast.StringTerm("has")
	keyNames           = ast.StringTerm("names")
	keyValues          = ast.StringTerm("values")
	keyContext         = ast.StringTerm("context")
	keyPermissions     = ast.StringTerm("permissions")
	keyConstraints     = ast.StringTerm("constraints")
	keyVersion         = ast.StringTerm("version")
	keyRaw             = ast.StringTerm("raw")
	keySecurityItems   = ast.StringTerm("security_items")
	keySystem          = ast.StringTerm("system")
	keyCode            = ast.StringTerm("code")
	keyCodeLower       = ast.StringTerm("code_lower")
	keyCodeSpellings   = ast.StringTerm("code_spellings")
	keyIDs             = ast.StringTerm("ids")
	keyMemberID        = ast.StringTerm("member_id")
	keyThumbprint      = ast.StringTerm("thumbprint")
)

// constantTerms holds strings that most inputs repeat (methods,
// interactions, operation levels, scope contexts, permission letters), so
// that they cost no allocation.
var constantTerms = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, s := range []string{
		"GET", "POST", "PUT", "PATCH", "DELETE",
		"read", "vread", "update", "patch", "delete", "history-instance",
		"history-type", "history-system", "create", "search-type",
		"search-system", "search-compartment", "capabilities", "batch",
		"transaction", "operation", "system", "type", "instance",
		"patient", "user", "*", "c", "r", "u", "d", "s", "rs", "cud", "cruds",
		"Patient", "_security", "_id", "_include", "_revinclude", "_count",
		"_sort", "_elements", "_summary", "_format", "category", "code",
		"date", "subject", "status",
	} {
		m[s] = ast.StringTerm(s)
	}
	return m
}()

// The request fields of a request without parameters (most reads), shared
// by every such input.
var (
	noParams     = ast.NewTerm(ast.NewObject())
	noParamList  = ast.NewTerm(ast.NewArray())
	noParamFacts = ast.NewTerm(ast.NewObject(
		ast.Item(keyHas, ast.InternedTerm(false)),
		ast.Item(keyChained, ast.InternedTerm(false)),
		ast.Item(keyNames, ast.NewTerm(ast.NewArray())),
	))
)

// builder hands out terms from a shared block, so that one input costs a
// few allocations per hundred terms instead of one per term.
type builder struct{ block []ast.Term }

const blockSize = 64

func (b *builder) term(v ast.Value) *ast.Term {
	if len(b.block) == 0 {
		b.block = make([]ast.Term, blockSize)
	}
	t := &b.block[0]
	b.block = b.block[1:]
	t.Value = v
	return t
}

func (b *builder) object(items ...[2]*ast.Term) *ast.Term {
	return b.term(ast.NewObject(items...))
}

func (b *builder) array(terms ...*ast.Term) *ast.Term {
	if len(terms) == 0 {
		return b.term(ast.NewArray())
	}
	return b.term(ast.NewArray(terms...))
}

func (b *builder) string(s string) *ast.Term {
	if t, ok := constantTerms[s]; ok {
		return t
	}
	return b.term(ast.String(s))
}

// stringOrNull is the documented encoding of an optional string: absent
// (empty) is null.
func (b *builder) stringOrNull(s string) *ast.Term {
	if s == "" {
		return ast.InternedNullTerm
	}
	return b.string(s)
}

func (b *builder) strings(values []string) *ast.Term {
	terms := make([]*ast.Term, len(values))
	for i, v := range values {
		terms[i] = b.string(v)
	}
	return b.array(terms...)
}

// request renders one request; entries only at the top level of a batch or
// transaction (entries never nest).
func (b *builder) request(r *fhir.Request, entries []*fhir.Request, top bool) *ast.Term {
	if r == nil {
		return ast.InternedNullTerm
	}
	compartment := ast.InternedNullTerm
	if c := r.Compartment; c != nil {
		compartment = b.object(
			ast.Item(keyType, b.stringOrNull(c.Type)),
			ast.Item(keyID, b.stringOrNull(c.ID)),
		)
	}
	operation := ast.InternedNullTerm
	if op := r.Operation; op != nil {
		operation = b.object(
			ast.Item(keyName, b.stringOrNull(op.Name)),
			ast.Item(keyLevel, b.stringOrNull(string(op.Level))),
		)
	}
	params, paramList := b.params(r.Params)
	items := make([][2]*ast.Term, 0, 13)
	items = append(items,
		ast.Item(keyMethod, b.stringOrNull(r.Method)),
		ast.Item(keyInteraction, b.stringOrNull(string(r.Interaction))),
		ast.Item(keyResourceType, b.stringOrNull(r.ResourceType)),
		ast.Item(keyID, b.stringOrNull(r.ID)),
		ast.Item(keyVersionID, b.stringOrNull(r.VersionID)),
		ast.Item(keyCompartment, compartment),
		ast.Item(keyOperation, operation),
		ast.Item(keyParams, params),
		ast.Item(keyParamList, paramList),
		ast.Item(keyParamFacts, b.paramFacts(r.Params)),
		ast.Item(keyWantsXML, ast.InternedTerm(r.WantsXML)),
		ast.Item(keyFacts, requestFacts(r)),
	)
	if top && (r.Interaction == fhir.InteractionBatch || r.Interaction == fhir.InteractionTransaction) {
		terms := make([]*ast.Term, len(entries))
		for i, e := range entries {
			terms[i] = b.request(e, nil, false)
		}
		items = append(items, ast.Item(keyEntriesInput, b.array(terms...)))
	}
	return b.object(items...)
}

// The per-request protocol facts (input.request.facts, policies/README.md).
// Each is what a helper rule of the policy used to work out on every
// request from the other request fields; the policy's rules now read them
// (request.rego) and deny when one is anything but true, so a missing or
// mistyped fact denies. Go's tests compare every fact with that helper rule
// (kept in the Rego test fixtures, fixtures_test.rego: with_facts) on the
// golden corpus and fuzzed requests (facts_test.go).
var (
	keyJSONFormat      = ast.StringTerm("json_format")
	keyIDValid         = ast.StringTerm("id_valid")
	keyParamFactsKnown = ast.StringTerm("param_facts_known")
)

// factTerms holds the facts objects of every combination of the two facts
// that vary, indexed by factIndex: a request's facts cost no allocation.
var factTerms = func() (terms [4]*ast.Term) {
	for i := range terms {
		terms[i] = ast.NewTerm(ast.NewObject(
			ast.Item(keyJSONFormat, ast.InternedTerm(i&1 != 0)),
			ast.Item(keyIDValid, ast.InternedTerm(i&2 != 0)),
			// Go always renders param_facts (paramFacts) in the shape the
			// policy's parameter rules read.
			ast.Item(keyParamFactsKnown, ast.InternedTerm(true)),
		))
	}
	return terms
}()

// requestFacts renders request.facts for r:
//   - json_format: the request asks for JSON (request.wants_xml is false);
//   - id_valid: request.id is a non-empty string (an empty id renders as
//     null);
//   - param_facts_known: request.param_facts is the summary Go computed.
func requestFacts(r *fhir.Request) *ast.Term {
	i := 0
	if !r.WantsXML {
		i |= 1
	}
	if r.ID != "" {
		i |= 2
	}
	return factTerms[i]
}

// params renders request.params (key with modifier and chain -> raw values
// in order) and request.param_list (one parsed object per parameter).
func (b *builder) params(params []fhir.Param) (*ast.Term, *ast.Term) {
	if len(params) == 0 {
		return noParams, noParamList
	}
	// Group raw values by key, keeping the order of first appearance.
	keys := make([]string, 0, len(params))
	raws := make([][]*ast.Term, 0, len(params))
	for _, p := range params {
		if i := slices.Index(keys, p.Key); i >= 0 {
			raws[i] = append(raws[i], b.string(p.Raw))
			continue
		}
		keys = append(keys, p.Key)
		raws = append(raws, []*ast.Term{b.string(p.Raw)})
	}
	byKey := make([][2]*ast.Term, len(keys))
	for i, k := range keys {
		byKey[i] = ast.Item(b.string(k), b.array(raws[i]...))
	}
	list := make([]*ast.Term, len(params))
	for i, p := range params {
		list[i] = b.object(
			ast.Item(keyName, b.string(p.Name)),
			ast.Item(keyModifier, b.string(p.Modifier)),
			ast.Item(keyChain, b.string(p.Chain)),
			ast.Item(keyHas, ast.InternedTerm(p.IsHas)),
			ast.Item(keyValues, b.strings(p.Values)),
		)
	}
	return b.object(byKey...), b.array(list...)
}

// paramFacts summarises the parameters: whether one is a reverse chain
// (_has), whether one is chained (subject.name, subject:Patient.name), and
// their distinct names (Param.Name), sorted.
func (b *builder) paramFacts(params []fhir.Param) *ast.Term {
	if len(params) == 0 {
		return noParamFacts
	}
	var has, chained bool
	names := make([]string, 0, len(params))
	for _, p := range params {
		has = has || p.IsHas
		chained = chained || (!p.IsHas && p.Chain != "")
		if !slices.Contains(names, p.Name) {
			names = append(names, p.Name)
		}
	}
	slices.Sort(names)
	return b.object(
		ast.Item(keyHas, ast.InternedTerm(has)),
		ast.Item(keyChained, ast.InternedTerm(chained)),
		ast.Item(keyNames, b.strings(names)),
	)
}

func (b *builder) renderScopes(scopes []smart.Scope) *ast.Term {
	terms := make([]*ast.Term, len(scopes))
	for i := range scopes {
		s := &scopes[i]
		terms[i] = b.object(
			ast.Item(keyContext, b.string(s.Context)),
			ast.Item(keyResourceType, b.string(s.ResourceType)),
			ast.Item(keyPermissions, b.string(s.Permissions)),
			ast.Item(keyConstraints, b.constraints(s.Constraints)),
			ast.Item(keyVersion, ast.InternedTerm(s.Version)),
			ast.Item(keyRaw, b.string(s.Raw)),
			ast.Item(keySecurityItems, b.securityItems(s.Constraints["_security"])),
		)
	}
	return b.array(terms...)
}

func (b *builder) constraints(c map[string][]string) *ast.Term {
	items := make([][2]*ast.Term, 0, len(c))
	for k, v := range c {
		items = append(items, ast.Item(b.string(k), b.strings(v)))
	}
	return b.object(items...)
}

// securityItems splits _security values into their comma items and parses
// each like the policy's security_item: "system|code" with exactly one bar
// and a non-empty code has its system, code, lower-case code and code
// spellings; any other item has null system and codes and no spellings.
// Splitting is literal, as Rego's split: escapes are not interpreted.
func (b *builder) securityItems(values []string) *ast.Term {
	var terms []*ast.Term
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			terms = append(terms, b.securityItem(item))
		}
	}
	return b.array(terms...)
}

func (b *builder) securityItem(item string) *ast.Term {
	system, code, ok := strings.Cut(item, "|")
	if !ok || code == "" || strings.Contains(code, "|") {
		return b.object(
			ast.Item(keyValue, b.string(item)),
			ast.Item(keySystem, ast.InternedNullTerm),
			ast.Item(keyCode, ast.InternedNullTerm),
			ast.Item(keyCodeLower, ast.InternedNullTerm),
			ast.Item(keyCodeSpellings, b.array()),
		)
	}
	return b.object(
		ast.Item(keyValue, b.string(item)),
		ast.Item(keySystem, b.string(system)),
		ast.Item(keyCode, b.string(code)),
		ast.Item(keyCodeLower, b.string(strings.ToLower(code))),
		ast.Item(keyCodeSpellings, b.strings(codeSpellings(code))),
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

// renderScopeIndex maps each resource type named by a scope ("*" included) and
// each permission letter of those scopes to the positions of the scopes in
// input.scopes, in order: {"Observation": {"r": [0, 1], "s": [0, 1]}}.
func (b *builder) renderScopeIndex(scopes []smart.Scope) *ast.Term {
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
			letters[l] = ast.Item(b.string(string(rune(lp.letter))), b.array(lp.positions...))
		}
		items[j] = ast.Item(b.string(t), b.object(letters...))
	}
	return b.object(items...)
}

func (b *builder) patient(p Patient) *ast.Term {
	ids := ast.InternedNullTerm
	if p.IDs != nil {
		ids = b.strings(p.IDs)
	}
	return b.object(
		ast.Item(keySystem, b.stringOrNull(p.System)),
		ast.Item(keyValue, b.stringOrNull(p.Value)),
		ast.Item(keyIDs, ids),
	)
}

// maxTokenDepth bounds the nesting jsonLike follows; introspection
// responses are shallow, and a cycle must not recurse forever.
const maxTokenDepth = 32

// jsonLike reports whether x holds only what ast.InterfaceToValue converts
// exactly, without a JSON round trip: the types encoding/json decodes to
// (valid json.Number included), finite floats, Go integers, []string and
// map[string]string. Anything else (a NaN would become the string-like
// number "NaN", a struct would be re-encoded) is refused.
func jsonLike(x any, depth int) bool {
	if depth > maxTokenDepth {
		return false
	}
	switch x := x.(type) {
	case nil, bool, string, int, int64, uint64, []string, map[string]string:
		return true
	case json.Number:
		// Valid JSON that starts like a number is a number.
		return x != "" && (x[0] == '-' || (x[0] >= '0' && x[0] <= '9')) && json.Valid([]byte(x))
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case []any:
		for _, e := range x {
			if !jsonLike(e, depth+1) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range x {
			if !jsonLike(e, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

package policy

import (
	"container/list"
	"context"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"

	"github.com/hdp-il/fhir-pep/fhir"
)

// GrantQuery is what the token's scopes, baskets and patient grant for one
// kind of request (policies/fhir/pep/grant.rego). It reads only
// input.scopes, input.scope_index, input.baskets, input.patient and
// input.request's interaction, resource_type and operation, so one result
// serves every request of that kind with that token.
const GrantQuery = "data.fhir.pep.scope_grant"

// grantEntries bounds the grants an Engine keeps: one per token (scope set,
// baskets claim, patient) and kind of request in recent use. A grant of
// three bucket scopes, with its decoded allowing decision and the token's
// input parts, holds about 15 KB (10 KB before the fourth round), so the
// bound is about 15 MB.
const grantEntries = 1024

// grants evaluates and keeps GrantQuery results.
type grants struct {
	grantQuery *preparedQuery
	cache      *keptCache[*keptGrant]
}

// keptGrant is one GrantQuery result, with the two of its terms a decision
// may return decoded at most once (OPA hands back the input's term, it does
// not rebuild it): allow, the whole allowing decision the default policy
// returns when nothing denies (allow_decision), and obligations, for a
// policy whose decision returns the grant's obligations in a decision of
// its own (the default policy did before allow_decision; a site's policy
// may still). The engine copies the decoded form instead of decoding again.
type keptGrant struct {
	term        *ast.Term
	obligations knownObligations
	// allow is the grant's allow_decision: when nothing denies a request
	// of its kind, the policy returns that term as the decision.
	allow knownDecision
	// tokens are the input's parts the grant was evaluated on (scopes,
	// scope_index, patient, baskets): the grant's key covers everything
	// they are rendered from, so later requests of its kind reuse them.
	tokens tokenTerms
}

// prepareGrants prepares the two queries when the policy set defines
// GrantQuery, is deterministic and GrantQuery reads only what grantInput
// gives it: a grant kept from one request is only right for the next if
// evaluating it again would give the same result, and it is evaluated on
// grantInput, where any other input field is undefined. Otherwise it
// returns nil and EvalInput evaluates Query alone (correct, only slower).
func prepareGrants(compiler *ast.Compiler, store storage.Store) (*grants, error) {
	rules := compiler.GetRulesExact(ast.MustParseRef(GrantQuery))
	if len(rules) == 0 || !deterministic(compiler) || grantReadsOtherInput(compiler, rules) != nil {
		return nil, nil
	}
	q, err := prepareQuery(compiler, store, GrantQuery)
	if err != nil {
		return nil, err
	}
	return &grants{grantQuery: q, cache: newKeptCache[*keptGrant](grantEntries)}, nil
}

// grantReadsOtherInput returns the first input reference, in the rules
// GrantQuery depends on (transitively, functions included), that grantInput
// does not provide, or nil. A policy author may change scope_grant or a
// helper it uses to read, say, input.client: evaluated on grantInput that
// would be undefined, and a deny it should raise would be missing from the
// kept grant. A reference the check cannot place (input alone, a variable
// key) counts as another field.
func grantReadsOtherInput(compiler *ast.Compiler, start []*ast.Rule) ast.Ref {
	var bad ast.Ref
	walkRuleRefs(compiler, start, func(ref ast.Ref) bool {
		if ref.HasPrefix(ast.InputRootRef) && !grantInputRef(ref) {
			bad = ref
		}
		return bad != nil
	})
	return bad
}

// grantInputRef reports whether ref reads inside what grantInput renders:
// input.scopes, input.scope_index, input.patient, input.baskets (any part)
// and input.request.interaction, .resource_type and .operation.
func grantInputRef(ref ast.Ref) bool {
	key := func(i int) (string, bool) {
		if len(ref) <= i {
			return "", false
		}
		s, ok := ref[i].Value.(ast.String)
		return string(s), ok
	}
	switch k, _ := key(1); k {
	case "scopes", "scope_index", "patient", "baskets":
		return true
	case "request":
		switch k2, _ := key(2); k2 {
		case "interaction", "resource_type", "operation":
			return true
		}
	}
	return false
}

// deterministic reports whether no module calls a built-in whose result
// depends on more than its arguments (cacheUnsafe).
func deterministic(compiler *ast.Compiler) bool {
	ok := true
	for _, m := range compiler.Modules {
		ast.WalkTerms(m, func(t *ast.Term) bool {
			var op ast.Ref
			switch v := t.Value.(type) {
			case ast.Call:
				op, _ = v[0].Value.(ast.Ref)
			case ast.Ref:
				op = v
			}
			if op != nil {
				if b, found := ast.BuiltinMap[op.String()]; found && cacheUnsafe(b) {
					ok = false
				}
			}
			return !ok
		})
	}
	return ok
}

// usesGrant reports whether a kept grant may serve the request: not for a
// batch or transaction, whose entries each have their own kind.
func usesGrant(r *fhir.Request) bool {
	return r != nil && r.Interaction != fhir.InteractionBatch && r.Interaction != fhir.InteractionTransaction
}

// grantFor returns the grant for in, kept or evaluated now; nil when
// GrantQuery gave anything but one object (the caller then evaluates Query
// alone, which fails the same way or decides without the grant).
func (g *grants) grantFor(ctx context.Context, in *Input) *keptGrant {
	bp := keyBuffers.Get().(*[]byte)
	e := keyEncoder{buf: (*bp)[:0]}
	grantKey(&e, in)
	defer func() { *bp = e.buf; keyBuffers.Put(bp) }()
	if kg := g.cache.get(e.buf); kg != nil {
		return kg
	}
	var b builder
	tokens := in.tokenTerms(&b)
	v, results, err := g.grantQuery.eval(ctx, grantInput(&b, in, tokens))
	if err != nil || results != 1 {
		return nil
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return nil
	}
	kg := &keptGrant{term: ast.NewTerm(obj), tokens: tokens}
	if o := obj.Get(keyObligations); o != nil {
		if _, isObj := o.Value.(ast.Object); isObj { // null when the request settles them
			kg.obligations.term = o
		}
	}
	if a := obj.Get(keyAllowDecision); a != nil {
		if _, isObj := a.Value.(ast.Object); isObj { // null when the request settles the obligations
			kg.allow.term = a
		}
	}
	g.cache.put(string(e.buf), kg)
	return kg
}

// grantKey encodes everything grantInput renders, injectively (cachekey.go).
func grantKey(e *keyEncoder, in *Input) {
	r := in.Request
	e.str(string(r.Interaction))
	e.str(r.ResourceType)
	if op := r.Operation; op == nil {
		e.tag(tagNil)
	} else {
		e.tag(tagPresent)
		e.str(op.Name)
		e.str(string(op.Level))
	}
	e.count(len(in.Scopes), in.Scopes == nil)
	for i := range in.Scopes {
		e.scope(&in.Scopes[i])
	}
	e.count(len(in.Baskets), in.Baskets == nil)
	for _, b := range in.Baskets {
		e.str(b.System)
		e.str(b.Code)
		e.str(b.HistoricalDepth)
	}
	e.str(in.Patient.System)
	e.str(in.Patient.Value)
	e.strs(in.Patient.IDs)
}

// grantInput is the part of the input document GrantQuery may read, and
// nothing else: a grant rule that read more would see it undefined here and
// differ from the decision evaluated without a kept grant, which the golden
// test (both ways, thousands of inputs) reports.
func grantInput(b *builder, in *Input, tokens tokenTerms) ast.Value {
	r := in.Request
	operation := ast.InternedNullTerm
	if op := r.Operation; op != nil {
		operation = b.object(
			ast.Item(keyName, b.stringOrNull(op.Name)),
			ast.Item(keyLevel, b.stringOrNull(string(op.Level))),
		)
	}
	items := make([][2]*ast.Term, 0, 5)
	items = append(items,
		ast.Item(keyRequest, b.object(
			ast.Item(keyInteraction, b.stringOrNull(string(r.Interaction))),
			ast.Item(keyResourceType, b.stringOrNull(r.ResourceType)),
			ast.Item(keyOperation, operation),
		)),
		ast.Item(keyScopes, tokens.scopes),
		ast.Item(keyScopeIndex, tokens.scopeIndex),
		ast.Item(keyPatient, tokens.patient),
	)
	if tokens.baskets != nil {
		items = append(items, ast.Item(keyBaskets, tokens.baskets))
	}
	return ast.NewObject(items...)
}

// evalWithGrant evaluates the decision for in with its kept grant; ok is
// false when no grant can serve it and the caller must evaluate Query.
func (g *grants) evalWithGrant(ctx context.Context, query *preparedQuery, in *Input, reads inputReads) (d Decision, err error, ok bool) {
	if !usesGrant(in.Request) {
		return d, nil, false
	}
	kg := g.grantFor(ctx, in)
	if kg == nil {
		return d, nil, false
	}
	var b builder
	input := in.valueWith(&b, reads, kg.tokens, kg.term)
	if input == nil {
		return d, nil, false
	}
	v, results, err := query.eval(ctx, input)
	if err == nil && results == 1 {
		if d, ok := kg.allow.decoded(v); ok {
			return d, nil, true
		}
	}
	d, err = decodeResult(v, results, err, &kg.obligations)
	return d, err, true
}

var (
	keyGrant         = ast.StringTerm("grant")
	keyAllowDecision = ast.StringTerm("allow_decision")
)

// keptCache is a bounded LRU by string key. Kept values are shared by
// concurrent evaluations: OPA never mutates a term it was given, and a
// keptGrant's decoded obligations are only ever copied out.
type keptCache[V any] struct {
	mu      sync.Mutex
	max     int
	order   *list.List // front: most recently used; values are *keptEntry[V]
	entries map[string]*list.Element
}

type keptEntry[V any] struct {
	key   string
	value V
}

func newKeptCache[V any](maxEntries int) *keptCache[V] {
	return &keptCache[V]{max: maxEntries, order: list.New(), entries: make(map[string]*list.Element)}
}

// get looks key up without allocating a string for it; the zero V when
// absent.
func (c *keptCache[V]) get(key []byte) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[string(key)]
	if !ok {
		var zero V
		return zero
	}
	c.order.MoveToFront(el)
	return el.Value.(*keptEntry[V]).value
}

func (c *keptCache[V]) put(key string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.order.MoveToFront(el)
		return
	}
	if c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*keptEntry[V]).key)
	}
	c.entries[key] = c.order.PushFront(&keptEntry[V]{key: key, value: v})
}

func (c *keptCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

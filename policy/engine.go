// Package policy evaluates the fhir-pep Rego policies: it loads a policy
// directory, compiles it strictly, prepares the query data.fhir.pep.decision
// once, and turns each result into a Decision. Input renders one request as
// the documented input document (policies/README.md), directly as AST terms.
// Anything unexpected (undefined, several results, a wrong type, an
// evaluation error) is a deny with an error. With WithDecisionCache,
// EvalInput remembers decisions of deterministic policies.
package policy

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Query is the one query the engine evaluates.
const Query = "data.fhir.pep.decision"

// Engine is a loaded, compiled and prepared policy set. It is immutable and
// safe for concurrent use; a configuration reload loads a new Engine.
type Engine struct {
	query         *preparedQuery
	version       string
	bucketSystems []string
	cache         *decisionCache // nil unless WithDecisionCache
	grants        *grants        // nil when the policy set has no usable grant (grant.go)
	reads         inputReads     // the optional input parts Query may read (inputreads.go)
}

// Option configures Load.
type Option func(*config)

type config struct {
	capabilities  *ast.Capabilities
	cacheEntries  int
	cacheRequired bool
}

// WithDecisionCache makes EvalInput remember up to entries decisions (least
// recently used first out), keyed by the SHA-256 of the policy version and
// of a canonical encoding of the whole Input; Eval does not use it. A hit
// skips evaluation entirely. Only deterministic policies may be cached, so
// with this option Load refuses policies that call a built-in whose result
// depends on more than its arguments: OPA's non-deterministic built-ins
// (time.now_ns, rand.intn, uuid.rfc4122, http.send, opa.runtime,
// net.lookup_ip_addr, io.jwt.decode_verify, io.jwt.encode_sign*,
// json.verify_schema, json.match_schema), every rand.* and net.* built-in,
// and the crypto.x509.parse_and_verify_* built-ins, which read the clock.
// entries must be at least 1.
func WithDecisionCache(entries int) Option {
	return func(cfg *config) {
		cfg.cacheEntries = entries
		cfg.cacheRequired = true
	}
}

// deniedBuiltins are left out of the default capabilities.
var deniedBuiltins = []string{"http.send", "net.lookup_ip_addr", "opa.runtime"}

func defaultCapabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	builtins := make([]*ast.Builtin, 0, len(caps.Builtins))
	for _, b := range caps.Builtins {
		if !slices.Contains(deniedBuiltins, b.Name) {
			builtins = append(builtins, b)
		}
	}
	caps.Builtins = builtins
	caps.AllowNet = []string{}
	return caps
}

func newConfig(opts []Option) (config, error) {
	cfg := config{capabilities: defaultCapabilities()}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.cacheRequired {
		if cfg.cacheEntries < 1 {
			return cfg, fmt.Errorf("policy: decision cache size %d, want at least 1", cfg.cacheEntries)
		}
		cfg.capabilities = deterministicCapabilities(cfg.capabilities)
	}
	return cfg, nil
}

// cacheUnsafeBuiltins are refused with the decision cache besides those OPA
// marks non-deterministic (which include the first four again): the clock,
// randomness, the network and the process, and certificate verification,
// which compares validity dates with the clock.
var cacheUnsafeBuiltins = []string{
	"time.now_ns", "uuid.rfc4122", "http.send", "opa.runtime",
	"crypto.x509.parse_and_verify_certificates",
	"crypto.x509.parse_and_verify_certificates_with_options",
}

// cacheUnsafePrefixes are built-in families refused as a whole: rand.* is
// random, and net.* is refused whole rather than sorting lookups from pure
// address arithmetic.
var cacheUnsafePrefixes = []string{"rand.", "net."}

func cacheUnsafe(b *ast.Builtin) bool {
	if b.IsNondeterministic() || slices.Contains(cacheUnsafeBuiltins, b.Name) {
		return true
	}
	for _, p := range cacheUnsafePrefixes {
		if strings.HasPrefix(b.Name, p) {
			return true
		}
	}
	return false
}

// deterministicCapabilities is caps without the cache-unsafe built-ins, so
// that compiling a policy that calls one fails with an undefined function.
func deterministicCapabilities(caps *ast.Capabilities) *ast.Capabilities {
	out := *caps
	out.Builtins = make([]*ast.Builtin, 0, len(caps.Builtins))
	for _, b := range caps.Builtins {
		if !cacheUnsafe(b) {
			out.Builtins = append(out.Builtins, b)
		}
	}
	return &out
}

// LoadDir is Load on os.DirFS(dir).
func LoadDir(ctx context.Context, dir string, opts ...Option) (*Engine, error) {
	return Load(ctx, os.DirFS(dir), opts...)
}

// Load reads every .rego file (except *_test.rego) and every data.json,
// data.yaml and data.yml under the root of fsys (hidden files and directories
// are skipped), compiles the modules in strict mode, and prepares the query
// once. A data file's object is placed at its directory's path. A policy set
// that has no decision rule loads, and every Eval on it denies.
func Load(ctx context.Context, fsys fs.FS, opts ...Option) (*Engine, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	set, err := readPolicySet(fsys, false)
	if err != nil {
		return nil, err
	}
	store, err := newStore(set.data)
	if err != nil {
		return nil, err
	}
	compiler, err := compile(ctx, set.modules, store, cfg.capabilities, false)
	if err != nil {
		return nil, err
	}
	pq, err := prepareQuery(compiler, store, Query)
	if err != nil {
		return nil, err
	}
	g, err := prepareGrants(compiler, store)
	if err != nil {
		return nil, err
	}
	systems, err := readBucketSystems(ctx, compiler, store)
	if err != nil {
		return nil, err
	}
	e := &Engine{query: pq, version: set.version, bucketSystems: systems, grants: g, reads: decisionInputReads(compiler)}
	if cfg.cacheRequired {
		e.cache = newDecisionCache(cfg.cacheEntries)
	}
	return e, nil
}

// BucketSystemsQuery names the bucket system aliases in the policy data; the
// first is canonical.
const BucketSystemsQuery = "data.fhir.pep.bucket_systems"

// readBucketSystems evaluates BucketSystemsQuery once, at load. Undefined is
// allowed (a policy set without buckets); any other shape than an array of
// non-empty strings is an error.
func readBucketSystems(ctx context.Context, compiler *ast.Compiler, store storage.Store) ([]string, error) {
	rs, err := rego.New(
		rego.Query(BucketSystemsQuery),
		rego.Compiler(compiler),
		rego.Store(store),
		rego.StrictBuiltinErrors(true),
		rego.GenerateJSON(resultAsAST),
	).Eval(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", BucketSystemsQuery, newEvalError(err))
	}
	if len(rs) == 0 {
		return nil, nil
	}
	// An array, not a set: order matters, the first system is canonical.
	arr, ok := rs[0].Expressions[0].Value.(*ast.Array)
	if !ok {
		return nil, mistyped(BucketSystemsQuery, "an array of non-empty strings")
	}
	systems, ok := termStrings(ast.NewTerm(arr))
	if !ok || len(systems) == 0 {
		return nil, mistyped(BucketSystemsQuery, "an array of non-empty strings")
	}
	return systems, nil
}

// BucketSystems returns data.fhir.pep.bucket_systems as loaded: the bucket
// code system aliases, canonical first, so that the response check
// normalises meta.security exactly as the policy does. Nil when the policy
// set defines none. The slice is a copy.
func (e *Engine) BucketSystems() []string { return slices.Clone(e.bucketSystems) }

// newStore holds the data as AST values, so that evaluation reads them
// without converting on every request.
func newStore(data map[string]any) (storage.Store, error) {
	v, err := ast.InterfaceToValue(data)
	if err != nil {
		return nil, fmt.Errorf("policy: data: %w", err)
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("policy: data is not an object")
	}
	return inmem.NewFromASTObject(obj), nil
}

// compile is `opa check --strict`: unused variables and imports, shadowed
// input/data, deprecated built-ins and rules clashing with data are errors.
func compile(ctx context.Context, modules map[string]*ast.Module, store storage.Store, caps *ast.Capabilities, withPrint bool) (*ast.Compiler, error) {
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer store.Abort(ctx, txn)
	c := ast.NewCompiler().
		WithStrict(true).
		WithCapabilities(caps).
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(withPrint).
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	if c.Compile(modules); c.Failed() {
		return nil, fmt.Errorf("policy: compile: %w", c.Errors)
	}
	return c, nil
}

// resultAsAST keeps a rego result as an ast.Value (readBucketSystems, at
// load), without a JSON-like conversion; decisions are evaluated by
// preparedQuery (query.go).
func resultAsAST(t *ast.Term, _ *rego.EvalContext) (any, error) {
	return t.Value, nil
}

// Version is the hex SHA-256 over the loaded files (sorted paths and their
// contents), for audit records.
func (e *Engine) Version() string { return e.version }

// noMetrics avoids allocating a metrics registry per evaluation.
var noMetrics = metrics.NoOp()

// Eval evaluates the decision for one request, usually on Input.Value(). On
// any error the Decision is a deny (status 500, reason "policy_error") and
// err says why: ErrInput (nil input), ErrUndefined, ErrMultiple,
// ErrMistyped, or an *EvalError (errors.Is ErrEval).
func (e *Engine) Eval(ctx context.Context, input ast.Value) (Decision, error) {
	if input == nil {
		// Without input every rule on input is undefined, and a policy
		// written as "allow unless a deny rule fires" would allow.
		return policyErrorDecision(), ErrInput
	}
	// A request already cancelled is refused without evaluating, as the
	// evaluator would refuse it before its first expression (ctxCancel).
	if err := ctx.Err(); err != nil {
		return policyErrorDecision(), &EvalError{Code: topdown.CancelErr, cause: err}
	}
	v, results, err := e.query.eval(ctx, input)
	return decodeResult(v, results, err, nil)
}

// decodeResult decodes the one decision a query gave (results is their
// number), or reports why there is none; decision.obligations are taken
// from known (nil: none) when they are its term.
func decodeResult(v ast.Value, results int, err error, known *knownObligations) (Decision, error) {
	switch {
	case err != nil:
		return policyErrorDecision(), newEvalError(err)
	case results == 0:
		return policyErrorDecision(), ErrUndefined
	case results > 1:
		return policyErrorDecision(), ErrMultiple
	}
	return decodeDecision(v, known)
}

// EvalInput decides like Eval(ctx, in.Value()), through the decision cache
// when Load was given WithDecisionCache. Errors are never cached; a cached
// Decision is returned as a copy. When the policy set defines GrantQuery
// and is deterministic, the grant of each kind of request is evaluated once
// per token scope set and baskets claim and kept (grant.go), and the decision
// is evaluated with it.
func (e *Engine) EvalInput(ctx context.Context, in *Input) (Decision, error) {
	if in == nil {
		return policyErrorDecision(), ErrInput
	}
	if e.cache == nil {
		return e.evalInput(ctx, in)
	}
	key, ok := newCacheKey(e.version, in)
	if !ok {
		return policyErrorDecision(), ErrInput
	}
	if d, hit := e.cache.get(key); hit {
		return d, nil
	}
	d, err := e.evalInput(ctx, in)
	if err != nil {
		return d, err
	}
	e.cache.put(key, d)
	return d, nil
}

// evalInput is EvalInput without the decision cache.
func (e *Engine) evalInput(ctx context.Context, in *Input) (Decision, error) {
	if e.grants != nil && ctx.Err() == nil {
		if d, err, ok := e.grants.evalWithGrant(ctx, e.query, in, e.reads); ok {
			return d, err
		}
	}
	return e.Eval(ctx, in.value(e.reads))
}

// EvalInterface converts a JSON-like input and evaluates it. For tools and
// tests; the request path builds an ast.Value and calls Eval.
func (e *Engine) EvalInterface(ctx context.Context, input map[string]any) (Decision, error) {
	v, err := ast.InterfaceToValue(input)
	if err != nil {
		return policyErrorDecision(), fmt.Errorf("%w: input: %w", ErrEval, err)
	}
	return e.Eval(ctx, v)
}

package policy

import (
	"context"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// The oracle of TestPreparedQueryMatchesRego (query_test.go): the
// decision query evaluated through rego.PreparedEvalQuery, as the engine
// evaluated it before preparedQuery, and through preparedQuery.

// QueryBothWaysForTest evaluates the decision query on input both ways.
func (e *Engine) QueryBothWaysForTest(ctx context.Context, input ast.Value) (direct, viaRego QueryOutcomeForTest) {
	v, n, err := e.query.eval(ctx, input)
	direct = QueryOutcomeForTest{Value: v, Results: n, Err: err}
	pq, err := regoQueryFor(ctx, e)
	if err != nil {
		viaRego.Err = err
		return direct, viaRego
	}
	rs, err := pq.Eval(ctx, rego.EvalParsedInput(input))
	viaRego = QueryOutcomeForTest{Results: len(rs), Err: err}
	if len(rs) > 0 {
		viaRego.Value, _ = rs[len(rs)-1].Expressions[0].Value.(ast.Value)
	}
	return direct, viaRego
}

// regoQueries holds each engine's query prepared by rego.
var regoQueries sync.Map // *Engine -> rego.PreparedEvalQuery

func regoQueryFor(ctx context.Context, e *Engine) (rego.PreparedEvalQuery, error) {
	if pq, ok := regoQueries.Load(e); ok {
		return pq.(rego.PreparedEvalQuery), nil
	}
	pq, err := rego.New(
		rego.Query(e.query.text),
		rego.Compiler(e.query.compiler),
		rego.Store(e.query.store),
		rego.StrictBuiltinErrors(true),
		rego.GenerateJSON(resultAsAST),
	).PrepareForEval(ctx)
	if err == nil {
		regoQueries.Store(e, pq)
	}
	return pq, err
}

// QueryOutcomeForTest is what one evaluation gave.
type QueryOutcomeForTest struct {
	Value   ast.Value
	Results int
	Err     error
}

// InputWithGrantForTest is in's input document with its kept grant, as
// evalWithGrant evaluates it; nil when no grant serves it.
func (e *Engine) InputWithGrantForTest(ctx context.Context, in *Input) ast.Value {
	if e.grants == nil || !usesGrant(in.Request) {
		return nil
	}
	kg := e.grants.grantFor(ctx, in)
	if kg == nil {
		return nil
	}
	var b builder
	return in.valueWith(&b, e.reads, kg.tokens, kg.term)
}

// NewEvalErrorForTest is newEvalError, for comparing error codes.
func NewEvalErrorForTest(err error) error { return newEvalError(err) }

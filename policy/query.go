package policy

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// preparedQuery is one query compiled once against the policy set and
// evaluated with OPA's evaluator (topdown) directly. rego.PreparedEvalQuery
// wraps the same evaluator in per-call work a decision does not need and
// that costs about a tenth of a decision with a kept grant: an evaluation
// context, a metrics registry, a goroutine per query waiting for the
// context, and a result set of bindings, expressions and locations built
// for every answer. The evaluation itself is configured as rego configures
// it for the engine (strict built-in errors, rule indexing and early exit
// on, no tracers, no print hook); TestPreparedQueryMatchesRego compares
// both on the golden corpus.
type preparedQuery struct {
	text     string
	compiler *ast.Compiler
	store    storage.Store
	body     ast.Body // resultVar = <query>, compiled
}

// resultVar names the query's value in its compiled body.
var resultVar = ast.Var("result")

// prepareQuery compiles `result = <query>` with compiler's query compiler.
func prepareQuery(compiler *ast.Compiler, store storage.Store, query string) (*preparedQuery, error) {
	parsed, err := ast.ParseBodyWithOpts(string(resultVar)+" = "+query, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, fmt.Errorf("policy: prepare %s: %w", query, err)
	}
	body, err := compiler.QueryCompiler().Compile(parsed)
	if err != nil {
		return nil, fmt.Errorf("policy: prepare %s: %w", query, err)
	}
	return &preparedQuery{text: query, compiler: compiler, store: store, body: body}, nil
}

// eval evaluates the query on input. results is the number of answers
// (0: undefined); value is the last one's (the caller refuses more than
// one).
func (q *preparedQuery) eval(ctx context.Context, input ast.Value) (value ast.Value, results int, err error) {
	txn, err := q.store.NewTransaction(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer q.store.Abort(ctx, txn)
	err = topdown.NewQuery(q.body).
		WithCompiler(q.compiler).
		WithStore(q.store).
		WithTransaction(txn).
		WithInput(ast.NewTerm(input)).
		WithMetrics(noMetrics).
		WithStrictBuiltinErrors(true).
		// The evaluator asks ctx before every expression; OPA's own
		// canceller would need a goroutine per query to watch ctx.
		WithCancel(ctxCancel{ctx}).
		Iter(ctx, func(qr topdown.QueryResult) error {
			results++
			if t := qr[resultVar]; t != nil {
				value = t.Value
			}
			return nil
		})
	if err != nil {
		return nil, 0, err
	}
	return value, results, nil
}

// ctxCancel is a topdown.Cancel that is cancelled when its context is done.
// Cancel does nothing: the context's owner cancels it.
type ctxCancel struct{ ctx context.Context }

func (ctxCancel) Cancel()           {}
func (c ctxCancel) Cancelled() bool { return c.ctx.Err() != nil }

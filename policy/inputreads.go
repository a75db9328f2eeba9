package policy

import (
	"crypto/sha256"

	"github.com/open-policy-agent/opa/v1/ast"
)

// inputReads says which optional parts of the input document the rules
// behind Query may read. Rendering input.token costs a document per request
// (TokenValue builds it from the compact claims) and the default policy
// never reads it; a security team's rule that does read it makes Load set
// token, and the document is rendered again.
type inputReads struct{ token, client bool }

// allInputReads renders every part: Input.Value and policies the analysis
// cannot place.
var allInputReads = inputReads{token: true, client: true}

// decisionInputReads walks every rule Query may evaluate (transitively,
// functions, else branches and dynamically selected rules included, as the
// compiler's dependency graph lists them) and records which of input.token
// and input.client they reference. A reference it cannot place (input
// alone, passed whole to a function or walked; a variable key such as
// input[k]) counts as reading both.
func decisionInputReads(compiler *ast.Compiler) inputReads {
	var reads inputReads
	walkRuleRefs(compiler, compiler.GetRules(ast.MustParseRef(Query)), func(ref ast.Ref) bool {
		if !ref.HasPrefix(ast.InputRootRef) {
			return false
		}
		if len(ref) < 2 {
			reads = allInputReads
			return true
		}
		switch k, ok := ref[1].Value.(ast.String); {
		case !ok:
			reads = allInputReads
		case k == "token":
			reads.token = true
		case k == "client":
			reads.client = true
		}
		return reads == allInputReads
	})
	return reads
}

// walkRuleRefs calls visit on every reference in start and in the rules
// they depend on, transitively (the compiler's dependency graph: rules,
// functions, else branches, rules a variable key may select), until visit
// returns true.
func walkRuleRefs(compiler *ast.Compiler, start []*ast.Rule, visit func(ast.Ref) bool) {
	seen := make(map[*ast.Rule]bool)
	queue := append([]*ast.Rule(nil), start...)
	stop := false
	for len(queue) > 0 && !stop {
		r := queue[0]
		queue = queue[1:]
		if seen[r] {
			continue
		}
		seen[r] = true
		ast.WalkRefs(r, func(ref ast.Ref) bool {
			if !stop {
				stop = visit(ref)
			}
			return false
		})
		if r.Else != nil {
			queue = append(queue, r.Else)
		}
		for dep := range compiler.Graph.Dependencies(r) {
			if d, ok := dep.(*ast.Rule); ok && !seen[d] {
				queue = append(queue, d)
			}
		}
	}
}

// renderToken is input.token as Value renders it, or ok false when the
// input is refused (ErrInput): both Token and Claims set, a Token without a
// JSON form, Claims that render nothing. When reads.token is false the
// document is not rendered (absent): the rules never look at it. The
// refusals stay: Claims that would render nothing are recognised by their
// zero digest (TokenDocument), without rendering them.
func (in *Input) renderToken(reads inputReads) (*ast.Term, bool) {
	switch {
	case in.Token != nil && in.Claims != nil:
		return nil, false
	case in.Claims != nil:
		if !reads.token {
			return nil, in.Claims.TokenDigest() != [sha256.Size]byte{}
		}
		v := in.Claims.TokenValue()
		if v == nil {
			return nil, false
		}
		return ast.NewTerm(v), true
	case in.Token != nil:
		if !jsonLike(in.Token, 0) {
			return nil, false
		}
		if !reads.token {
			return nil, true
		}
		v, err := ast.InterfaceToValue(in.Token)
		if err != nil {
			return nil, false
		}
		return ast.NewTerm(v), true
	}
	if !reads.token {
		return nil, true
	}
	return ast.InternedNullTerm, true
}

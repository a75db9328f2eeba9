package caddymodule

import (
	"errors"
	"net/http"
	"strings"

	"github.com/hdp-il/fhir-pep/enforce"
	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/policy"
)

// reasonForbiddenLabel is the audit and metric reason of an upstream answer
// that held a resource with a forbidden security label.
const reasonForbiddenLabel = "forbidden_label"

// denyForbiddenLabel refuses a whole upstream answer in which some resource
// carries a forbidden label (enforce.ErrForbiddenLabel). The upstream
// ignored the _security:not the PEP sent, so nothing of the answer is
// trusted. The client gets a generic 400 that does not say why: no code or
// text may reveal that such data exists. It counts as fail-closed.
var denyForbiddenLabel = denial{
	status: http.StatusBadRequest, issueType: "invalid", code: codeInvalidRequest,
	text: "The request cannot be answered.", reason: reasonForbiddenLabel, failClosed: true,
}

// forbiddenLabelNotFound is the answer to a read whose resource carries a
// forbidden label: the 404 of a resource that does not exist.
func forbiddenLabelNotFound() denial {
	d := notFound(reasonForbiddenLabel)
	d.failClosed = true
	return d
}

// isForbiddenLabel reports whether err is the refusal of an answer that held
// a forbidden label, from enforce or from bundle.
func isForbiddenLabel(err error) bool {
	if errors.Is(err, enforce.ErrForbiddenLabel) {
		return true
	}
	var d denial
	return errors.As(err, &d) && d.reason == reasonForbiddenLabel
}

// forbiddenNot is the value of one "_security:not" per forbidden label, in
// the enforcer's order: every upstream search carries all of them, so the
// query and the response check use one list.
func (p *PEP) forbiddenNot() []string {
	labels := p.enforcer.ForbiddenLabels()
	out := make([]string, len(labels))
	for i, l := range labels {
		out[i] = fhir.TokenValue(l.System, l.Code)
	}
	return out
}

// forbiddenLabelFound logs the refusal for operators: it means the upstream
// ignored _security:not, or the PEP's query lost it.
func (p *PEP) forbiddenLabelFound() {
	p.logger.Error("upstream answer holds a resource with a forbidden security label; refused whole")
}

// ruleAccess builds the enforcer's scope from the policy's rules and
// depths (see accessFor).
func (p *PEP) ruleAccess(resp policy.Response, ids []string) (*enforce.Access, error) {
	sc := enforce.Scope{PatientIDs: ids}
	rules := resp.Rules
	if len(rules) == 0 {
		// Depths without rules (a custom policy): each type grant is a
		// rule without constraints.
		for typ, buckets := range resp.Types {
			rules = append(rules, policy.ResponseRule{Type: typ, Buckets: buckets})
		}
	}
	for _, r := range rules {
		er := enforce.Rule{Type: r.Type, Narrowed: r.Narrowed}
		for _, b := range r.Buckets {
			bk, err := obligationBucket(b)
			if err != nil {
				return nil, err
			}
			er.Buckets = append(er.Buckets, bk)
		}
		for _, c := range r.Constraints {
			er.Constraints = append(er.Constraints, enforce.Constraint{Name: c.Name, Value: c.Value})
		}
		sc.Rules = append(sc.Rules, er)
	}
	for key, since := range resp.Depths {
		bk, err := obligationBucket(key)
		if err != nil {
			return nil, err
		}
		sc.Depths = append(sc.Depths, enforce.Depth{Bucket: bk, Since: since})
	}
	return p.enforcer.Access(sc)
}

// obligationBucket reads "<canonical system>|<lower-case code>".
func obligationBucket(b string) (enforce.Bucket, error) {
	if b == "*" {
		// "any bucket" (require_bucket off) has no response-side meaning
		// yet: refuse rather than guess.
		return enforce.Bucket{}, errors.New("wildcard bucket grants are not supported by response enforcement")
	}
	system, code, ok := strings.Cut(b, "|")
	if !ok || system == "" || code == "" {
		return enforce.Bucket{}, errors.New("malformed bucket in policy obligations")
	}
	return enforce.Bucket{System: system, Code: code}, nil
}

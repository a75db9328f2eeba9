package caddymodule

import (
	"errors"
	"net/http"

	"github.com/hdp-il/fhir-pep/enforce"
	"github.com/hdp-il/fhir-pep/fhir"
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
	if err == nil {
		return false // without the errors.As below, which allocates
	}
	if errors.Is(err, enforce.ErrForbiddenLabel) {
		return true
	}
	var d denial
	return errors.As(err, &d) && d.reason == reasonForbiddenLabel
}

// forbiddenNot is the value of one "_security:not" per forbidden label, in
// the enforcer's order: every upstream search carries all of them, so the
// query and the response check use one list. Rendered once at Provision.
func (p *PEP) forbiddenNot() []string { return p.forbiddenNotValues }

func forbiddenNotValues(labels []enforce.Label) []string {
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

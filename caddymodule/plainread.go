package caddymodule

import "github.com/hdp-il/fhir-pep/fhir"

// plainRead decides how a read the policy narrows goes upstream. On a real
// FHIR server a read is a primary-key lookup and a search is a query, so a
// read is sent as a plain read whenever the response check verifies on the
// returned resource everything the narrowed search would have applied: the
// compartment (the patient's ids), the type, the buckets, every constraint
// of every scope that grants the type (enforce.Access.VerifiesOnResource),
// the historical depths and the forbidden labels. The check is pl.access,
// built from the policy's per-scope response rules (accessFor), so each
// scope's constraints hold on that scope's own buckets.
//
// The read stays a narrowed search for vread and history, for a policy
// that gives no response rules (its bucket union alone cannot check
// constraints), and when some constraint cannot be read on the resource:
// there only the upstream search can prove it.
func plainRead(pl *plan) bool {
	return pl.req.Interaction == fhir.InteractionRead &&
		len(pl.decision.Obligations.Response.Rules) > 0 &&
		pl.access.VerifiesOnResource(pl.req.ResourceType)
}

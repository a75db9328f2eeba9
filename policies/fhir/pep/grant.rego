package fhir.pep

# What the token grants for this kind of request, in one object: which
# scopes serve it, the buckets, the narrowing, the response rules, the
# historical depths, the compartment parameter, the search parameters that
# can reference a patient (other_patient.rego), the reasons to deny that
# follow from those alone (kind_deny) and, when the scopes settle the
# narrowing, the whole obligations object. It depends only on input.scopes,
# input.scope_index, input.baskets, input.patient and input.request's
# interaction, resource_type and operation (with data), never on the
# request's id, parameters or format: for one token and one kind of request
# it is always the same. Engine.EvalInput (policy/) relies on that: it
# evaluates data.fhir.pep.scope_grant once for such an input, keeps the
# result, and sends it as input.grant with later requests of the same kind,
# so that the comprehensions over the scopes are not repeated on every
# request. The rules outside this file read these facts only through
# `grant`. Keep it that way when changing a rule: a fact that depends on
# anything else must not go into scope_grant (Go's tests compare both ways
# of evaluating on thousands of inputs, policy/golden_test.go, and a fuzz
# test, policy/grant_fuzz_test.go).

# The grant Go kept for this token and kind of request, else the one
# computed from the input.
grant := input.grant if {
	is_object(input.grant)
} else := scope_grant

# METADATA
# title: FHIR PEP scope grant
# description: >-
#   What the token's scopes, baskets and patient grant for the request's
#   kind (interaction, type, operation); see the comment above and
#   policies/README.md. Go keeps it per token and kind of request and sends
#   it back as input.grant.
# entrypoint: true
scope_grant := {
	"kind_deny": kind_deny,
	"obligations": grant_obligations,
	"search_params": grant_search_params,
	"compartment_params": grant_compartment_params,
	"empty_result": grant_empty_result_bool,
	"relevant": count(relevant_scopes) > 0,
	"granted_buckets": granted_buckets,
	"constraint_sets": constraint_sets,
	"narrowing": resolved_narrowing,
	"rule_scopes": rule_scopes,
	"response_types": response_types,
	"response_depths": response_depths,
	"depth_params": depth_params,
	"patient_ref_params": patient_ref_params,
	"allow_decision": grant_allow_decision,
}

# Reasons to deny that depend only on what grant depends on: the kind of
# request and the scopes (request.rego, scopes.rego, compartment.rego). The
# decision denies with each of them.
deny contains reason if some reason in grant.kind_deny

# Only with resolved patient ids: without them the decision denies
# (patient_missing) before it needs the parameters, and patient_refs could
# not join them.
grant_compartment_params := params if {
	is_array(input.patient.ids)
	params := compartment_params
} else := null

grant_empty_result_bool if {
	grant_empty_result
} else := false

# The narrowing when the scopes alone settle it (cases 1 to 4 in
# narrowing.rego): the parameters, the constraint sets they apply, and the
# response rules. null when only the client's query can settle it (case 5,
# pinned_sets), which the decision then works out per request.
resolved_narrowing := {
	"params": params,
	"applied": applied,
	"response_rules": sort({rule |
		some r in rule_scopes
		rule := response_rule(r, applied)
	}),
} if {
	params := resolved_constraint_params
	applied := resolved_applied_sets
} else := null

# The obligations of an allowed request when the grant settles all of them
# (decision.rego: obligations), else null.
grant_obligations := {
	"search_params": params,
	"read_as_search": grant_read_as_search(params),
	"empty_result": grant_empty_result_bool,
	"response": {"types": response_types, "rules": narrowing.response_rules, "depths": response_depths},
} if {
	params := grant_search_params
	params != null
	narrowing := resolved_narrowing
	narrowing != null
} else := null

# The decision of a request nothing denies when the grant settles all its
# obligations (decision.rego: single_decision), else null. Kept in the
# grant, the decision is the grant's own object: OPA need not build it on
# every request, and Go decodes it once per grant.
grant_allow_decision := {
	"allow": true,
	"status": 200,
	"reasons": [],
	"obligations": o,
} if {
	o := grant_obligations
	o != null
} else := null

# read_as_search (decision.rego) on the grant's search parameters.
grant_read_as_search(params) if {
	input.request.interaction in {"read", "vread", "history-instance"}
	count(params) > 0
} else := false

# The usable scopes with the request's letter that grant a bucket, as the
# response rules need them: the rule without its "narrowed" flag, the
# scope's constraint set, and whether the upstream query of this request
# could carry it (a narrowed request of the scope's type, or a wildcard).
rule_scopes := [r |
	some f in letter_scopes
	count(f.grants) > 0
	r := {
		"type": f.type,
		"buckets": sort(f.grants),
		"constraints": sort({c |
			some name, values in f.constraints
			some v in values
			c := {"name": name, "value": v}
		}),
		"set": f.constraints,
		"narrowable": narrowable_type(f.type),
	}
]

narrowable_type(t) if {
	narrows
	t in {rtype, "*"}
}

else := false

# One response rule: narrowed when the query could carry the scope's
# constraints and the narrowing applied its constraint set.
response_rule(r, applied) := {
	"type": r.type,
	"buckets": r.buckets,
	"constraints": r.constraints,
	"narrowed": rule_narrowed(r, applied),
}

rule_narrowed(r, applied) if {
	r.narrowable == true
	r.set in applied
}

else := false

package fhir.pep

# METADATA
# title: FHIR PEP decision
# description: >-
#   The decision for one FHIR request made with a PCM token: allow, the HTTP
#   status to use when denied, low-cardinality reason codes, and the
#   obligations Go must apply (query narrowing, read-as-search, empty result,
#   response check). Input and output are documented in policies/README.md.
# entrypoint: true
decision := batch_decision if {
	# A batch or transaction, tested on input directly: a test of input
	# against constants is decided by OPA's rule index, without evaluating
	# a helper rule.
	input.request.interaction in {"batch", "transaction"}
} else := single_decision

default allow := false

# METADATA
# title: FHIR PEP allow
# description: decision.allow as a plain boolean, for tools that only ask yes or no.
# entrypoint: true
allow if decision.allow == true

# The decision for input.request alone (batch entries are evaluated with it).
# When nothing denies: the grant's decision when it settles the obligations
# (grant.rego: allow_decision), else one with the obligations worked out for
# this request.
single_decision := d if {
	count(deny) == 0
	d := grant.allow_decision
	d != null
} else := {
	"allow": true,
	"status": 200,
	"reasons": [],
	"obligations": obligations,
} if {
	count(deny) == 0
} else := {
	"allow": false,
	"status": status_for(deny),
	"reasons": sort(deny),
	"obligations": {},
}

# The obligations as the grant settled them (grant.rego), or worked out for
# this request when only the client's query settles the narrowing.
obligations := o if {
	o := grant.obligations
	o != null
} else := {
	"search_params": search_params,
	"read_as_search": read_as_search,
	"empty_result": empty_result,
	"response": {"types": grant.response_types, "rules": response_rules, "depths": grant.response_depths},
}

# The parameters as the grant settled them (grant.rego), or, when only the
# client's query settles the narrowing, with this request's constraint_params.
# No last else: when narrows holds, undefined parameters must leave
# search_params (and so the decision) undefined, never empty.
search_params := params if {
	params := grant.search_params
	params != null
} else := array.concat(array.concat(params, constraint_params), grant.depth_params) if {
	narrows
	params := grant.compartment_params
	params != null
} else := [] if {
	not narrows
}

# search_params for grant (grant.rego): null when they depend on more than
# the grant does (the client's query pins the narrowing, or compartment_params
# is undefined).
grant_search_params := array.concat(array.concat(compartment_params, params), depth_params) if {
	narrows
	is_array(input.patient.ids)
	params := resolved_constraint_params
} else := [] if {
	not narrows
} else := null

# A read becomes GET /<type>?_id=<id>&<search_params> whenever the policy
# narrows it: the upstream search proves the resource is the patient's and in
# a granted bucket before anything is returned.
default read_as_search := false

read_as_search if {
	input.request.interaction in {"read", "vread", "history-instance"}
	count(search_params) > 0
}

# The patient has no data here: Go answers an empty searchset itself.
default empty_result := false

empty_result if grant.empty_result == true

grant_empty_result if {
	input.request.interaction in {"search-type", "search-compartment"}
	in_compartment(rtype)
	no_patient_data
}

# Reasons that mean "this request uses something the PEP does not serve".
bad_request_reasons := {
	"interaction_unknown",
	"format_not_supported",
	"type_missing",
	"id_missing",
	"has_param_not_allowed",
	"chained_param_not_allowed",
	"param_not_allowed",
	"type_not_in_compartment",
	"nested_batch_not_allowed",
	"batch_empty",
	"batch_too_large",
}

# 400 beats 403 beats 404: 404 only when the patient simply has no data here.
status_for(reasons) := 400 if {
	some r in reasons
	r in bad_request_reasons
} else := 403 if {
	some r in reasons
	r != "patient_not_found"
} else := 404

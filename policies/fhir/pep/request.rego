package fhir.pep

# Request classification, and the FHIR features the PEP refuses to interpret.
# Every refusal here is a reason in `deny`, or in `kind_deny` when it depends
# only on the kind of request (grant.rego adds those to deny); see README.md
# for the list.
#
# Performance note: OPA skips a rule whose first expressions compare input
# with constants (`input.request.interaction == "operation"`, `... in {...}`
# with a literal set, a plain `input...` reference) when the input does not
# match, without evaluating its body. Rules that only apply to some
# interactions therefore start with such a test on input.

interactions := {
	"read", "vread", "update", "patch", "delete",
	"history-instance", "history-type", "history-system",
	"create", "search-type", "search-system", "search-compartment",
	"capabilities", "batch", "transaction", "operation",
}

# The SMART v2 permission letter ("cruds") each interaction needs.
permission_letters := {
	"read": "r", "vread": "r", "history-instance": "r",
	"search-type": "s", "search-compartment": "s",
	"create": "c", "update": "u", "patch": "u", "delete": "d",
}

letter := permission_letters[input.request.interaction]

letter := "r" if {
	input.request.interaction == "operation"
	everything_request
}

# The interaction sets below are written out, not built from other rules, so
# that OPA can skip the rules for other interactions (see the note above).
is_read if input.request.interaction in {"read", "vread", "history-instance"}

is_search if input.request.interaction in {"search-type", "search-compartment"}

is_capabilities if input.request.interaction == "capabilities"

# GET /Patient/<id>/$everything, the only operation the default policy knows.
everything_request if {
	input.request.interaction == "operation"
	input.request.operation.name == "$everything"
	input.request.operation.level == "instance"
	input.request.resource_type == "Patient"
}

# The request names one resource instance: is_read, or everything_request.
reads_instance if input.request.interaction in {"read", "vread", "history-instance"}

reads_instance if {
	input.request.interaction == "operation"
	everything_request
}

# The request returns patient data and so needs a patient, a type and a
# scope: is_read, is_search, or everything_request.
data_request if input.request.interaction in {"read", "vread", "history-instance", "search-type", "search-compartment"}

data_request if {
	input.request.interaction == "operation"
	everything_request
}

# The request's query is narrowed by search_params (directly, or as a
# read_as_search): is_read or is_search.
narrows if input.request.interaction in {"read", "vread", "history-instance", "search-type", "search-compartment"}

# The request's concrete resource type; undefined for null, "" and "*".
rtype := input.request.resource_type if {
	is_string(input.request.resource_type)
	not input.request.resource_type in {"", "*"}
}

concrete_type if rtype

# Negation note: OPA hoists a reference argument of a call out of `not`, so
# `not input.x in s` is undefined (not true) when input.x is missing. Every
# negated check therefore negates a helper rule, which is false when missing.
# The one exception used here is a comparison with a constant, `not input.x
# == true`, which holds when input.x is missing (the facts below; their
# tests in request_test.rego check it).
known_interaction if input.request.interaction in interactions

kind_deny contains "interaction_unknown" if not known_interaction

# Never allowed by the default policy. Writes: the policy does not see the
# body, so it cannot prove that a new or changed resource stays in the
# patient's compartment. Type and system history, and system search: no
# compartment parameter can narrow them.
kind_deny contains "interaction_not_allowed" if input.request.interaction in {
	"create", "update", "patch", "delete",
	"history-type", "history-system", "search-system",
}

kind_deny contains "nested_batch_not_allowed" if input.request.interaction in {"batch", "transaction"}

kind_deny contains "operation_not_allowed" if {
	input.request.interaction == "operation"
	not everything_request
}

# Per-request protocol facts. Go works them out from the request's other
# fields and sends them as input.request.facts (README.md, "Precomputed
# fields"): evaluating them here on every request cost more than the rest
# of a decision with a kept grant. Each rule below states its check on its
# fact and denies unless the fact is exactly true, so a missing or mistyped
# fact denies (fail closed). What each fact means is in README.md; the Rego
# test fixtures (fixtures_test.rego, with_facts) define them from the other
# fields, and Go's tests compare Go's facts with those definitions.
#
# `not input.request.facts.<fact> == true` is written directly, not through
# a helper rule: OPA then evaluates it without entering another rule
# (README.md, "Keep it fast").

# Fail closed: a request that asks for XML (wants_xml true), or whose fact
# is missing, is refused.
deny contains "format_not_supported" if not input.request.facts.json_format == true

# The names these checks had as helper rules before Go computed them, kept
# for site rules written against them (README.md, "Precomputed fields").
# Each holds exactly when its fact is true. The rules above do not use
# them: a rule reading the fact directly costs OPA one expression less.
json_format if input.request.facts.json_format == true

valid_id if input.request.facts.id_valid == true

param_facts_known if input.request.facts.param_facts_known == true

kind_deny contains "type_missing" if {
	data_request
	not concrete_type
}

# An instance request needs an id: a non-empty string.
deny contains "id_missing" if {
	input.request.interaction in {"read", "vread", "history-instance"}
	not input.request.facts.id_valid == true
}

deny contains "id_missing" if {
	input.request.interaction == "operation"
	everything_request
	not input.request.facts.id_valid == true
}

# Parameters, from Go's summary input.request.param_facts (README.md): a
# reverse chain (_has), a chain, the parameter names. A request without that
# summary is refused (param_facts_known, below).
deny contains "has_param_not_allowed" if input.request.param_facts.has == true

deny contains "chained_param_not_allowed" if input.request.param_facts.chained == true

deny contains "param_not_allowed" if {
	some name in input.request.param_facts.names
	name in data.fhir.pep.denied_params
}

# _include:iterate and _revinclude:iterate (":recurse" in older servers) follow
# references transitively, far outside what the query names.
deny contains "param_not_allowed" if input.request.params["_include:iterate"]

deny contains "param_not_allowed" if input.request.params["_include:recurse"]

deny contains "param_not_allowed" if input.request.params["_revinclude:iterate"]

deny contains "param_not_allowed" if input.request.params["_revinclude:recurse"]

# The rules above trust Go's summary; a request without it is refused.
deny contains "param_not_allowed" if not input.request.facts.param_facts_known == true

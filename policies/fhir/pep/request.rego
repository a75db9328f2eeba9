package fhir.pep

# Request classification, and the FHIR features the PEP refuses to interpret.
# Every refusal here is a reason in `deny`; see README.md for the list.

interactions := {
	"read", "vread", "update", "patch", "delete",
	"history-instance", "history-type", "history-system",
	"create", "search-type", "search-system", "search-compartment",
	"capabilities", "batch", "transaction", "operation",
}

# Never allowed by the default policy. Writes: the policy does not see the body,
# so it cannot prove that a new or changed resource stays in the patient's
# compartment. Type and system history, and system search: no compartment
# parameter can narrow them.
refused_interactions := {
	"create", "update", "patch", "delete",
	"history-type", "history-system", "search-system",
}

# The SMART v2 permission letter ("cruds") each interaction needs.
permission_letters := {
	"read": "r", "vread": "r", "history-instance": "r",
	"search-type": "s", "search-compartment": "s",
	"create": "c", "update": "u", "patch": "u", "delete": "d",
}

letter := permission_letters[input.request.interaction]

letter := "r" if everything_request

is_read if input.request.interaction in {"read", "vread", "history-instance"}

is_search if input.request.interaction in {"search-type", "search-compartment"}

is_capabilities if input.request.interaction == "capabilities"

is_batch if input.request.interaction in {"batch", "transaction"}

# GET /Patient/<id>/$everything, the only operation the default policy knows.
everything_request if {
	input.request.interaction == "operation"
	input.request.operation.name == "$everything"
	input.request.operation.level == "instance"
	input.request.resource_type == "Patient"
}

# The request names one resource instance.
reads_instance if is_read

reads_instance if everything_request

# The request returns patient data and so needs a patient, a type and a scope.
data_request if is_read

data_request if is_search

data_request if everything_request

# The request's query is narrowed by search_params (directly, or as a
# read_as_search).
narrows if is_read

narrows if is_search

concrete_type if {
	is_string(input.request.resource_type)
	not input.request.resource_type in {"", "*"}
}

rtype := input.request.resource_type if concrete_type

valid_id if {
	is_string(input.request.id)
	input.request.id != ""
}

# Negation note: OPA hoists a reference argument of a call out of `not`, so
# `not input.x in s` is undefined (not true) when input.x is missing. Every
# negated check therefore negates a helper rule, which is false when missing.
known_interaction if input.request.interaction in interactions

json_format if input.request.wants_xml == false

deny contains "interaction_unknown" if not known_interaction

deny contains "interaction_not_allowed" if input.request.interaction in refused_interactions

deny contains "nested_batch_not_allowed" if is_batch

deny contains "operation_not_allowed" if {
	input.request.interaction == "operation"
	not everything_request
}

# Fail closed: a request that does not say it wants JSON is refused.
deny contains "format_not_supported" if not json_format

deny contains "type_missing" if {
	data_request
	not concrete_type
}

deny contains "id_missing" if {
	reads_instance
	not valid_id
}

deny contains "has_param_not_allowed" if {
	some p in input.request.param_list
	p.has == true
}

deny contains "has_param_not_allowed" if {
	some name, _ in input.request.params
	startswith(name, "_has")
}

deny contains "chained_param_not_allowed" if {
	some p in input.request.param_list
	p.chain != ""
}

# Belt and braces: a chain always has a dot in the raw parameter name.
deny contains "chained_param_not_allowed" if {
	some name, _ in input.request.params
	contains(name, ".")
}

deny contains "param_not_allowed" if {
	some p in input.request.param_list
	p.name in data.fhir.pep.denied_params
}

deny contains "param_not_allowed" if {
	some name, _ in input.request.params
	split(name, ":")[0] in data.fhir.pep.denied_params
}

# _include:iterate and _revinclude:iterate (":recurse" in older servers) follow
# references transitively, far outside what the query names.
deny contains "param_not_allowed" if {
	some p in input.request.param_list
	p.name in {"_include", "_revinclude"}
	p.modifier in {"iterate", "recurse"}
}

deny contains "param_not_allowed" if {
	some name, _ in input.request.params
	name in {"_include:iterate", "_include:recurse", "_revinclude:iterate", "_revinclude:recurse"}
}

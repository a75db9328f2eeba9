package fhir.pep

# SMART scopes: which of the token's scopes may serve this request.
# Several scopes combine as a union; a scope never grants more than its own
# type, permissions and constraints.

# Parameters that select nothing (result shaping) or that the PEP refuses in
# requests. A scope constrained by one of them is malformed and grants nothing:
# injecting it would widen the answer, not narrow it.
non_filter_params := {
	"_include", "_revinclude", "_sort", "_count", "_elements", "_summary",
	"_total", "_contained", "_containedType", "_format", "_pretty",
	"_filter", "_query",
}

non_filter_constraint(s) if {
	some name, _ in s.constraints
	not filter_constraint(name)
}

filter_constraint(name) if {
	not split(name, ":")[0] in non_filter_params
	not startswith(name, "_has")
	not contains(name, ".")
}

honoured_context(s) if s.context in data.fhir.pep.honoured_contexts

# usable_scope: the scope is in an honoured context (default: patient/ only)
# and every constraint is a filter.
usable_scope(s) if {
	honoured_context(s)
	not non_filter_constraint(s)
}

# What the policy needs to know about each usable scope, computed once:
#   type, permissions, constraints  as parsed by Go
#   items        the comma items of its _security values
#   grants       the buckets it grants (see grants below)
#   enforceable  true when every constraint is a bucket, so that the response
#                check alone can verify it
scope_facts := [fact |
	some s in input.scopes
	usable_scope(s)
	constraints := object.get(s, "constraints", {})
	items := [item |
		some v in object.get(constraints, "_security", [])
		some item in split(v, ",")
	]
	keys := [key | some item in items; key := bucket_key(item)]
	fact := {
		"type": s.resource_type,
		"permissions": s.permissions,
		"constraints": constraints,
		"items": items,
		"grants": grants({key | some key in keys}),
		"enforceable": only_buckets(constraints, items, keys),
	}
]

# The buckets a scope grants: those it names; "*" (any bucket) when it names
# none and require_bucket is false; none otherwise.
grants(buckets) := buckets if {
	count(buckets) > 0
} else := {"*"} if {
	data.fhir.pep.require_bucket == false
} else := set()

only_buckets(constraints, items, keys) if {
	count(object.keys(constraints) - {"_security"}) == 0
	count(items) == count(keys)
} else := false

type_grants("*", _)

type_grants(t, t)

# Usable scopes granting the request's type and permission.
matching_scopes := [f |
	some f in scope_facts
	type_grants(f.type, rtype)
	contains(f.permissions, letter)
]

# Of those, the ones that grant data: with require_bucket (the default) a scope
# must name at least one information bucket in its _security constraint.
relevant_scopes := [f |
	some f in matching_scopes
	count(f.grants) > 0
]

# A scope outside the honoured contexts (user/, system/) would have granted it.
other_context_grants if {
	some s in input.scopes
	not honoured_context(s)
	type_grants(s.resource_type, rtype)
	contains(s.permissions, letter)
}

deny contains "scope_missing" if {
	data_request
	count(matching_scopes) == 0
	not other_context_grants
}

deny contains "scope_context_not_allowed" if {
	data_request
	count(matching_scopes) == 0
	other_context_grants
}

deny contains "bucket_missing" if {
	data_request
	count(matching_scopes) > 0
	count(relevant_scopes) == 0
}

package fhir.pep

# SMART scopes: which of the token's scopes may serve this request.
# Several scopes combine as a union; a scope never grants more than its own
# type, permissions and constraints.
#
# Go lists the scopes by type and permission letter in input.scope_index
# (README.md), so the rules below look only at the scopes with the request's
# letter instead of scanning every scope of the token.

# Parameters that select nothing (result shaping) or that the PEP refuses in
# requests. A scope constrained by one of them is malformed and grants nothing:
# injecting it would widen the answer, not narrow it.
non_filter_params := {
	"_include", "_revinclude", "_sort", "_count", "_elements", "_summary",
	"_total", "_contained", "_containedType", "_format", "_pretty",
	"_filter", "_query",
}

filter_constraint(name) if {
	not split(name, ":")[0] in non_filter_params
	not startswith(name, "_has")
	not contains(name, ".")
}

honoured_context(s) if s.context in data.fhir.pep.honoured_contexts

# The usable scopes with the request's permission letter, of any type: in an
# honoured context (default: patient/ only), every constraint a filter. And
# what the policy needs to know about each, computed once:
#   type, constraints  as parsed by Go
#   items        the scope's _security items (security_item in buckets.rego;
#                Go precomputes them as input.scopes[_].security_items)
#   grants       the buckets it grants: "<canonical system>|<lower-case code>"
#                for every bucket item; {"*"} (any bucket) when it names none
#                and any_bucket_allowed (require_bucket false, or a baskets
#                claim that bounds it); {} otherwise
#   enforceable  true when every constraint is a bucket, so that the response
#                check alone can verify it
# With a baskets claim, consented_fact (baskets.rego) then keeps only the
# buckets the patient consented to.
letter_scopes := [fact |
	some by_letter in input.scope_index
	some i in by_letter[letter]
	s := input.scopes[i]
	s.context in data.fhir.pep.honoured_contexts
	others := [name |
		some name, _ in s.constraints
		name != "_security"
	]
	count([name | some name in others; not filter_constraint(name)]) == 0
	buckets := [item |
		some item in s.security_items
		item.system in data.fhir.pep.bucket_systems
	]
	keys := {concat("|", [data.fhir.pep.bucket_systems[0], item.code_lower]) | some item in buckets}
	fact := consented_fact({
		"type": s.resource_type,
		"constraints": s.constraints,
		"items": s.security_items,
		"grants": (keys | {"*" | count(keys) == 0; any_bucket_allowed}),
		# Every item is a bucket and no other parameter constrains it.
		"enforceable": [buckets, others] == [s.security_items, []],
	})
]

# A scope that names no bucket grants any bucket when require_bucket is
# false, or when the token carries a baskets claim: consented_fact
# (baskets.rego) then cuts it down to exactly the consented buckets, so the
# data still stays inside buckets the patient chose. The national PCM issues
# this shape (scope "patient/Observation.rs" with baskets ["laboratoryTests"],
# the national reference adapter's example), and a drop-in replacement must
# accept it.
any_bucket_allowed if not bucket_required

any_bucket_allowed if baskets_given

# require_bucket: anything but false (even a missing key) means true.
default bucket_required := true

bucket_required := false if data.fhir.pep.require_bucket == false

# Usable scopes granting the request's type and permission: scopes of the
# type, and wildcard scopes.
matching_scopes := array.concat(
	[f | some f in letter_scopes; f.type == rtype],
	[f | some f in letter_scopes; f.type == "*"],
)

# Of those, the ones that grant data: with require_bucket (the default) a scope
# must name at least one information bucket in its _security constraint.
relevant_scopes := [f |
	some f in matching_scopes
	count(f.grants) > 0
]

# A scope outside the honoured contexts (user/, system/) would have granted it.
other_context_grants if {
	some type in {rtype, "*"}
	some i in input.scope_index[type][letter]
	not honoured_context(input.scopes[i])
}

kind_deny contains "scope_missing" if {
	data_request
	count(matching_scopes) == 0
	not other_context_grants
}

kind_deny contains "scope_context_not_allowed" if {
	data_request
	count(matching_scopes) == 0
	other_context_grants
}

kind_deny contains "bucket_missing" if {
	data_request
	count(matching_scopes) > 0
	count(relevant_scopes) == 0
}

package fhir.pep

# The response check's rules (obligations.response.rules and .depths).
#
# Every usable scope with the request's permission letter that grants a
# bucket becomes one rule: its type, its granted buckets, and all its
# constraints, one per name=value pair (a parameter repeated in the scope is
# two constraints, both must hold: AND, as in a FHIR search). Go checks every
# returned resource against them, whatever path brought it (search, read,
# vread, history, _include, $everything): the constraints it can read on the
# resource (dates, codes, _security) must hold; a constraint it cannot read
# fails, except on the match entries of a search whose upstream query carried
# it ("narrowed"). See README.md.

# The scopes come from grant (grant.rego), where the rules are complete
# whenever the scopes alone settle the narrowing.
response_rules := rules if {
	rules := grant.narrowing.response_rules
} else := sort({rule |
	some r in grant.rule_scopes
	rule := response_rule(r, applied_sets)
})

# A rule is narrowed when the upstream query of this request carried the
# scope's constraints: a scope of the request's type whose constraint set the
# narrowing applied (rule_narrowed, grant.rego).

# historical_depth per granted bucket, from input.baskets (absent when the
# token has no baskets claim): "<canonical system>|<lower-case code>" ->
# "YYYY-MM-DD". A basket without system is in the HDP bucket system. Two
# depths for one bucket: the later (stricter) one.
depth_baskets := input.baskets if is_array(input.baskets)

else := []

depth_pairs := {[key, b.historical_depth] |
	some b in depth_baskets
	is_string(b.historical_depth)
	b.historical_depth != ""
	basket_in_bucket_system(b)
	key := concat("|", [data.fhir.pep.bucket_systems[0], lower(b.code)])
}

basket_in_bucket_system(b) if b.system in data.fhir.pep.bucket_systems

basket_in_bucket_system(b) if b.system == ""

response_depths := {key: latest |
	some [key, _] in depth_pairs
	dates := sort([d | some [k, d] in depth_pairs; k == key])
	latest := dates[count(dates) - 1]
}

# Narrowing by historical_depth: when every bucket the request's scopes grant
# has a depth, the search only reaches data of those buckets, so it can be
# narrowed with "<clinical date parameter>=ge<the earliest depth>" (the
# loosest bound: each bucket's own bound is enforced on the response). A
# bucket without a depth, or a type without a clinical date parameter
# (clinical_date/data.json), adds nothing.
depth_params := [{"name": param, "value": concat("", ["ge", sort(dates)[0]])}] if {
	param := data.fhir.pep.clinical_date.params[rtype]
	count(granted_buckets) > 0
	not "*" in granted_buckets
	every b in granted_buckets {
		response_depths[b]
	}
	dates := [response_depths[b] | some b in granted_buckets]
} else := []

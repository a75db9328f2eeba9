package fhir.pep

# Consented baskets: the token's "baskets" claim, as input.baskets
# (README.md). When the claim is present, a bucket is granted only if BOTH a
# scope's _security constraint and a basket grant it. consented_fact cuts
# every scope fact (letter_scopes, scopes.rego) down to the consented
# buckets before anything uses it, so grants, narrowing and the response
# check all see the intersection. Without the claim the scopes alone decide.
# Codes compare case-insensitively and the bucket systems are aliases, as
# everywhere (buckets.rego). historical_depth is not read here: Go applies it
# to searches and responses.

baskets_given if is_array(input.baskets)

# The consented buckets, "<canonical system>|<lower-case code>". A basket in
# a system that is not a bucket system grants nothing.
basket_keys := {key |
	some b in input.baskets
	b.system in data.fhir.pep.bucket_systems
	key := concat("|", [data.fhir.pep.bucket_systems[0], lower(b.code)])
}

# The consented buckets as security items (security_item), for a scope that
# names no bucket of its own.
basket_items := [item |
	some b in input.baskets
	item := security_item(concat("|", [b.system, b.code]))
	bucket_item(item)
]

# An item a basket allows: anything that is not a bucket (other labels are
# the scope's own business), or a consented bucket.
consented_item(item) if not bucket_item(item)

consented_item(item) if bucket_key_of(item) in basket_keys

consented_fact(f) := f if {
	not baskets_given
} else := wildcard_consented_fact(f) if {
	"*" in f.grants
} else := bucket_consented_fact(f) if {
	count(f.grants) > 0
} else := f

# A scope that names no bucket (with require_bucket false it grants any
# bucket) grants exactly the consented ones, and is narrowed to them: its
# _security constraint gains one more value (AND) listing the baskets.
wildcard_consented_fact(f) := object.union(f, {
	"grants": basket_keys,
	"items": array.concat(f.items, basket_items),
	"constraints": object.union(f.constraints, {"_security": array.concat(
		object.get(f.constraints, "_security", []),
		[concat(",", [item.value | some item in basket_items])],
	)}),
}) if {
	count(basket_items) > 0
} else := object.union(f, {"grants": set()})

# A scope that names buckets keeps only the consented ones, in its grants,
# its items and its _security values. A _security value left without any
# item (all its buckets unconsented) can match nothing: the scope then
# grants nothing, rather than losing that constraint.
bucket_consented_fact(f) := object.union(f, {
	"grants": {g | some g in f.grants; g in basket_keys},
	"items": [item | some item in f.items; consented_item(item)],
	"constraints": object.union(f.constraints, {"_security": kept}),
}) if {
	kept := [concat(",", items) |
		some v in f.constraints._security
		items := [i | some i in split(v, ","); consented_item(security_item(i))]
	]
	every v in kept {
		v != ""
	}
} else := object.union(f, {"grants": set()})

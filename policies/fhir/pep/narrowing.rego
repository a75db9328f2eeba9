package fhir.pep

# Query narrowing: the search parameters Go appends (AND) to the upstream query.
#
# The relevant scopes form a union of constraint sets. Their parameters are
# added only where they select exactly that union, never more:
#   1. a scope without constraints makes the union unconstrained;
#   2. every scope constrains buckets only: one _security with all their
#      bucket items (OR);
#   3. one distinct set: its parameters;
#   4. sets with the same parameter names that differ in exactly one parameter
#      without a modifier, holding one value in each set: that parameter's
#      values joined with commas (OR), the rest as they are;
#   5. sets the client's own query already pins (each of their values is
#      repeated, or narrowed to a subset of its comma items, by the client):
#      their parameters, which then remove nothing the client asked for;
#   6. otherwise: deny, "ambiguous_scope_constraints".
# _security bucket items are rewritten so that every alias system and the
# usual spellings of the code match (codes are case-insensitive, upstream
# token search usually is not); see README.md.

constraint_sets := {f.constraints | some f in relevant_scopes}

unconstrained if {
	some f in relevant_scopes
	count(f.constraints) == 0
}

constraint_params := params if {
	params := grant.narrowing.params
} else := pairs_params(pinned_sets) if {
	count(pinned_sets) > 0
}

# Cases 1 to 4: the scopes alone settle the narrowing (grant.narrowing).
resolved_constraint_params := [] if {
	unconstrained
} else := [{"name": "_security", "value": concat(",", bucket_variants(codes))}] if {
	only_bucket_scopes

	# Every item of these scopes is a bucket.
	codes := sort({code |
		some f in relevant_scopes
		some item in f.items
		some code in item.code_spellings
	})
} else := pairs_params(constraint_sets) if {
	count(constraint_sets) == 1
} else := merged_params if {
	mergeable
}

# The common case: every relevant scope constrains buckets only, with one
# _security value. Their union is the OR of all their bucket items. A scope
# that repeats _security (_security=A&_security=B) means A AND B: it is not
# this case, and its two values are sent as two parameters.
only_bucket_scopes if {
	count([f | some f in relevant_scopes; f.enforceable == false]) == 0
	count([f | some f in relevant_scopes; count(object.get(f.constraints, "_security", [])) > 1]) == 0
}

# The constraint sets the upstream query carries, case by case as in
# constraint_params: the unconstrained set; every set (cases 2 to 4); the
# pinned sets (case 5).
applied_sets := sets if {
	sets := grant.narrowing.applied
} else := pinned_sets

resolved_applied_sets := {c | some c in constraint_sets; count(c) == 0} if {
	unconstrained
} else := constraint_sets if {
	only_bucket_scopes
} else := constraint_sets if {
	count(constraint_sets) == 1
} else := constraint_sets if {
	mergeable
}

# Only the client's query can settle the narrowing when grant.narrowing is
# null; otherwise constraint_params is always defined.
deny contains "ambiguous_scope_constraints" if {
	grant.narrowing == null
	narrows
	grant.relevant
	not constraint_params
}

pairs_params(sets) := sort({p |
	some c in sets
	some name, values in c
	some v in values
	p := {"name": name, "value": query_value(name, v)}
})

constraint_names := {name |
	some c in constraint_sets
	some name, _ in c
}

differing_names := {name |
	some name in constraint_names
	count({object.get(c, name, null) | some c in constraint_sets}) > 1
}

mergeable if {
	count(constraint_sets) > 1
	count(differing_names) == 1
	every c in constraint_sets {
		count(c) == count(constraint_names)
	}
	some name in differing_names
	not contains(name, ":")
	every c in constraint_sets {
		count(c[name]) == 1
	}
}

merged_params := sort(common_params | {p |
	some name in differing_names
	p := {"name": name, "value": concat(",", sort({query_value(name, c[name][0]) | some c in constraint_sets}))}
})

common_params := {p |
	some c in constraint_sets
	some name, values in c
	not name in differing_names
	some v in values
	p := {"name": name, "value": query_value(name, v)}
}

pinned_sets := {c |
	some c in grant.constraint_sets
	pinned(c)
}

pinned(c) if {
	every name, values in c {
		every v in values {
			client_pins(name, v)
		}
	}
}

client_pins(name, v) if {
	some cv in input.request.params[name]
	cv == v
}

# The client's value keeps a subset of the scope value's comma items. Values
# with escapes ("\,") are only compared whole.
client_pins(name, v) if {
	some cv in input.request.params[name]
	not contains(cv, "\\")
	not contains(v, "\\")
	allowed := {item_key(name, i) | some i in split(v, ",")}
	every i in split(cv, ",") {
		item_key(name, i) in allowed
	}
}

item_key(name, i) := b if {
	name == "_security"
	b := bucket_key(i)
} else := i

query_value(name, v) := security_query(v) if name == "_security"

query_value(name, v) := v if name != "_security"

security_query(v) := security_query_items([security_item(item) | some item in split(v, ",")])

# The _security value for a list of security items (security_item): every
# bucket item in every alias system with every usual spelling of its code
# (the IG's examples write "laboratoryTests", its code system
# "LaboratoryTests"), then every other item as it is.
security_query_items(items) := concat(",", array.concat(bucket_variants(codes), sort(others))) if {
	buckets := [item | some item in items; item.system in data.fhir.pep.bucket_systems]
	codes := sort({code | some item in buckets; some code in item.code_spellings})

	# Equal values parse alike, so this leaves exactly the other items.
	others := {item.value | some item in items} - {item.value | some item in buckets}
}

# "S|a,S|b,S|c" for each bucket system S, sorted, given the sorted code
# spellings: S, "|", then the codes joined by ",S|".
bucket_variants(codes) := [concat("", [system, "|", concat(concat("", [",", system, "|"]), codes)]) |
	count(codes) > 0
	some system in sort(data.fhir.pep.bucket_systems)
]

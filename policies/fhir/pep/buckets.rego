package fhir.pep

# Information buckets (HDP codes carried in meta.security).
# Codes compare case-insensitively (the code system says caseSensitive=false);
# the systems in data.fhir.pep.bucket_systems are aliases of the first one.

# security_item parses one comma item of a _security value. Go computes the
# same object for every item of a scope's _security constraint
# (input.scopes[_].security_items, README.md), and Go's tests check that the
# two agree. An item with exactly one "|" and a non-empty code has its
# system, its code, the code in lower case, and the code's usual spellings
# (as written, lower case, lowerCamel, UpperCamel; sorted); any other item
# has null system and codes and no spellings.
security_item(item) := {
	"value": item,
	"system": parts[0],
	"code": parts[1],
	"code_lower": lower(parts[1]),
	"code_spellings": sort(code_spellings(parts[1])),
} if {
	parts := split(item, "|")
	count(parts) == 2
	parts[1] != ""
} else := {
	"value": item,
	"system": null,
	"code": null,
	"code_lower": null,
	"code_spellings": [],
}

code_spellings(code) := {
	code,
	lower(code),
	concat("", [lower(first), rest]),
	concat("", [upper(first), rest]),
} if {
	first := substring(code, 0, 1)
	rest := substring(code, 1, -1)
}

# A security item is a bucket when its system is one of the bucket systems.
bucket_item(item) if item.system in data.fhir.pep.bucket_systems

# bucket_key_of(item) is the bucket's normalised key,
# "<canonical system>|<lower-case code>"; undefined for an item that is not a
# bucket.
bucket_key_of(item) := concat("|", [data.fhir.pep.bucket_systems[0], item.code_lower]) if bucket_item(item)

# bucket_key normalises one "system|code" item given as text.
bucket_key(item) := bucket_key_of(security_item(item))

granted_buckets := {b |
	some f in relevant_scopes
	some b in f.grants
}

# The client's own _security parameter may only name buckets it was granted.
deny contains "bucket_not_granted" if {
	input.request.params._security
	data_request
	not "*" in grant.granted_buckets
	some v in input.request.params._security
	some item in split(v, ",")
	b := bucket_key(item)
	not b in grant.granted_buckets
}

# The buckets the response may carry, as [response type, bucket] pairs. A
# scope whose every constraint is a bucket (enforceable) counts for its own
# type, "*" for a wildcard scope, so that _include'd resources of that type
# pass too. A scope with constraints the response check cannot verify
# (category=..., date=...) counts only for the request's own type, and only
# when those constraints narrowed the query.
response_pairs contains [f.type, b] if {
	some f in letter_scopes
	f.enforceable
	some b in f.grants
}

response_pairs contains [rtype, b] if {
	narrows
	some f in relevant_scopes
	f.enforceable == false
	some b in f.grants
}

# obligations.response.types: per resource type (or "*"), the granted buckets.
response_types := {key: sort(buckets) |
	some [key, _] in response_pairs
	buckets := {pair[1] |
		some pair in response_pairs
		pair[0] == key
	}
}

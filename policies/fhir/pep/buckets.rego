package fhir.pep

# Information buckets (HDP codes carried in meta.security).
# Codes compare case-insensitively (the code system says caseSensitive=false);
# the systems in data.fhir.pep.bucket_systems are aliases of the first one.

# bucket_key normalises one "system|code" item of a _security value to
# "<canonical system>|<lower-case code>". It is undefined for an item that is
# not a bucket: unknown system, no code, no system, or more than one bar.
bucket_key(item) := concat("|", [data.fhir.pep.bucket_systems[0], lower(parts[1])]) if {
	parts := split(item, "|")
	count(parts) == 2
	parts[0] in data.fhir.pep.bucket_systems
	parts[1] != ""
}

granted_buckets := {b |
	some f in relevant_scopes
	some b in f.grants
}

# The client's own _security parameter may only name buckets it was granted.
deny contains "bucket_not_granted" if {
	data_request
	not "*" in granted_buckets
	some v in input.request.params._security
	some item in split(v, ",")
	b := bucket_key(item)
	not b in granted_buckets
}

# Scopes whose buckets the response may carry. A scope with constraints the
# response check cannot verify (category=..., date=...) counts only for the
# request's own type, and only when those constraints narrowed the query.
contributing_scopes contains f if {
	some f in scope_facts
	f.enforceable
	count(f.grants) > 0
	contains(f.permissions, letter)
}

contributing_scopes contains f if {
	narrows
	some f in relevant_scopes
}

response_key(f) := f.type if f.type != "*"

response_key(f) := "*" if {
	f.type == "*"
	f.enforceable
}

response_key(f) := rtype if {
	f.type == "*"
	not f.enforceable
}

response_pairs contains [response_key(f), b] if {
	some f in contributing_scopes
	some b in f.grants
}

# obligations.response.types: per resource type (or "*"), the granted buckets.
response_types := {key: sort(buckets) |
	some pair in response_pairs
	key := pair[0]
	buckets := {b |
		some other in response_pairs
		other[0] == key
		b := other[1]
	}
}

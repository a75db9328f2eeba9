package fhir.pep_test

import data.fhir.pep

lab_and_category := scope("Observation", "rs", {"_security": [lab], "category": ["laboratory"]})

vital_and_category := scope("Observation", "rs", {"_security": [lab], "category": ["vital-signs"]})

test_single_scope_constraints_added if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_and_category])
	d.allow == true
	d.obligations.search_params == [
		{"name": "subject", "value": "Patient/pat-1"},
		{"name": "_security", "value": lab_query},
		{"name": "category", "value": "laboratory"},
	]
}

test_repeated_constraint_values_each_added if {
	both := scope("Observation", "rs", {"_security": [lab], "code": ["a", "b"]})
	d := pep.decision with input as inp(search("Observation", {}), [both])
	d.allow == true
	param_value(d, "code") == ["a", "b"]
}

test_identical_scopes_collapse if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope, lab_scope])
	d.allow == true
	param_value(d, "_security") == [lab_query]
}

test_security_query_spellings if {
	pep.security_query(lab) == lab_query
	pep.security_query(concat("|", [seed_buckets, "laboratorytests"])) == concat(",", [
		concat("|", [seed_buckets, "Laboratorytests"]),
		concat("|", [seed_buckets, "laboratorytests"]),
		concat("|", [il_buckets, "Laboratorytests"]),
		concat("|", [il_buckets, "laboratorytests"]),
	])
}

test_security_query_keeps_non_buckets if {
	pep.security_query("http://example.org/labels|R") == "http://example.org/labels|R"
}

test_scopes_differing_in_bucket_merged if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope, measurements_scope])
	d.allow == true
	param_value(d, "_security") == [pep.security_query(concat(",", [lab, measurements]))]
	items := split(param_value(d, "_security")[0], ",")
	count(items) == 10
	concat("|", [il_buckets, "laboratoryTests"]) in items
	concat("|", [seed_buckets, "measurements"]) in items
}

test_scopes_differing_in_category_merged if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_and_category, vital_and_category])
	d.allow == true
	param_value(d, "category") == ["laboratory,vital-signs"]
	param_value(d, "_security") == [lab_query]
}

test_scopes_differing_in_two_params_ambiguous if {
	other := scope("Observation", "rs", {"_security": [measurements], "category": ["vital-signs"]})
	d := pep.decision with input as inp(search("Observation", {}), [lab_and_category, other])
	d.allow == false
	d.status == 403
	d.reasons == ["ambiguous_scope_constraints"]
}

test_scopes_with_different_names_ambiguous if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_and_category, measurements_scope])
	d.allow == false
	d.reasons == ["ambiguous_scope_constraints"]
}

test_scopes_differing_in_modified_param_ambiguous if {
	a := scope("Observation", "rs", {"_security": [lab], "code:text": ["glucose"]})
	b := scope("Observation", "rs", {"_security": [lab], "code:text": ["sodium"]})
	d := pep.decision with input as inp(search("Observation", {}), [a, b])
	d.allow == false
	d.reasons == ["ambiguous_scope_constraints"]
}

test_scopes_differing_in_repeated_param_ambiguous if {
	a := scope("Observation", "rs", {"_security": [lab], "code": ["a", "b"]})
	b := scope("Observation", "rs", {"_security": [lab], "code": ["c"]})
	d := pep.decision with input as inp(search("Observation", {}), [a, b])
	d.allow == false
	d.reasons == ["ambiguous_scope_constraints"]
}

test_pinned_scope_used if {
	params := {"_security": [lab], "category": ["laboratory"]}
	d := pep.decision with input as inp(search("Observation", params), [lab_and_category, measurements_scope])
	d.allow == true
	d.obligations.search_params == [
		{"name": "subject", "value": "Patient/pat-1"},
		{"name": "_security", "value": lab_query},
		{"name": "category", "value": "laboratory"},
	]
}

test_pinned_by_normalised_bucket if {
	params := {"_security": [concat("|", [seed_buckets, "laboratorytests"])], "category": ["laboratory"]}
	d := pep.decision with input as inp(search("Observation", params), [lab_and_category, measurements_scope])
	d.allow == true
}

test_pinned_by_comma_subset if {
	wide := scope("Observation", "rs", {"_security": [lab], "category": ["laboratory,vital-signs"]})
	params := {"_security": [lab], "category": ["vital-signs"]}
	d := pep.decision with input as inp(search("Observation", params), [wide, measurements_scope])
	d.allow == true
	param_value(d, "category") == ["laboratory,vital-signs"]
}

test_not_pinned_by_comma_superset if {
	params := {"_security": [lab], "category": ["laboratory,vital-signs"]}
	d := pep.decision with input as inp(search("Observation", params), [lab_and_category, measurements_scope])
	d.allow == false
	d.reasons == ["ambiguous_scope_constraints"]
}

test_escaped_values_compared_whole if {
	escaped := scope("Observation", "rs", {"_security": [lab], "code": ["a\\,b"]})
	denied := pep.decision with input as inp(search("Observation", {"_security": [lab], "code": ["b"]}), [escaped, measurements_scope])
	denied.allow == false
	allowed := pep.decision with input as inp(search("Observation", {"_security": [lab], "code": ["a\\,b"]}), [escaped, measurements_scope])
	allowed.allow == true
}

test_reads_with_ambiguous_scopes_denied if {
	d := pep.decision with input as inp(read("Observation", "obs-1"), [lab_and_category, measurements_scope])
	d.allow == false
	d.reasons == ["ambiguous_scope_constraints"]
}

test_unconstrained_scope_adds_no_constraints if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_and_category, scope("Observation", "rs", {})])
		with data.fhir.pep.require_bucket as false
	d.allow == true
	d.obligations.search_params == [{"name": "subject", "value": "Patient/pat-1"}]
}

test_bucket_only_scopes_of_wildcard_and_type_combined if {
	wild := scope("*", "rs", {"_security": [measurements]})
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope, wild])
	d.allow == true
	param_value(d, "_security") == [pep.security_query(concat(",", [lab, measurements]))]
	d.obligations.response.types == {"Observation": [canonical_lab], "*": [canonical_measurements]}
}

test_bucket_and_label_scope_not_bucket_only if {
	labelled := scope("Observation", "rs", {"_security": [concat(",", [lab, "http://example.org/labels|R"])]})
	d := pep.decision with input as inp(search("Observation", {}), [labelled, measurements_scope])
	d.allow == true
	value := param_value(d, "_security")[0]
	"http://example.org/labels|R" in split(value, ",")
	d.obligations.response.types == {"Observation": [canonical_lab, canonical_measurements]}
}

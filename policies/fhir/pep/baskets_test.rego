package fhir.pep_test

import data.fhir.pep

# input.baskets as Go builds it from the token's "baskets" claim.
basket(system, code) := {"system": system, "code": code, "historical_depth": ""}

with_baskets(input_doc, baskets) := object.union(input_doc, {"baskets": baskets})

lab_or_measurements_scope := scope("Observation", "rs", {"_security": [concat(",", [lab, measurements])]})

test_no_baskets_claim_scopes_decide if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_or_measurements_scope])
	d.allow == true
	d.obligations.response.types == {"Observation": [canonical_lab, canonical_measurements]}
}

test_baskets_narrower_than_scope if {
	doc := with_baskets(inp(search("Observation", {}), [lab_or_measurements_scope]), [basket(seed_buckets, "laboratoryTests")])
	d := pep.decision with input as doc
	d.allow == true
	d.obligations.response.types == {"Observation": [canonical_lab]}
	param_value(d, "_security") == [lab_query]
}

test_baskets_narrower_than_scopes if {
	doc := with_baskets(inp(search("Observation", {}), [lab_scope, measurements_scope]), [basket(il_buckets, "LaboratoryTests")])
	d := pep.decision with input as doc
	d.allow == true
	d.obligations.response.types == {"Observation": [canonical_lab]}
	param_value(d, "_security") == [lab_query]
}

test_baskets_wider_than_scopes if {
	doc := with_baskets(inp(search("Observation", {}), [lab_scope]), [
		basket(il_buckets, "LaboratoryTests"),
		basket(il_buckets, "Measurements"),
		basket(il_buckets, "PatientDemographics"),
	])
	d := pep.decision with input as doc
	d.allow == true
	d.obligations.response.types == {"Observation": [canonical_lab]}
	param_value(d, "_security") == [lab_query]
}

test_basket_codes_case_insensitive if {
	doc := with_baskets(inp(search("Observation", {}), [lab_scope]), [basket(seed_buckets, "LABORATORYTESTS")])
	d := pep.decision with input as doc
	d.allow == true
	d.obligations.response.types == {"Observation": [canonical_lab]}
}

test_basket_outside_scopes_denied if {
	doc := with_baskets(inp(search("Observation", {}), [lab_scope]), [basket(il_buckets, "Measurements")])
	d := pep.decision with input as doc
	d.allow == false
	d.status == 403
	"bucket_missing" in d.reasons
}

test_empty_baskets_grant_nothing if {
	d := pep.decision with input as with_baskets(inp(search("Observation", {}), [lab_scope]), [])
	d.allow == false
	"bucket_missing" in d.reasons
}

test_basket_in_other_system_grants_nothing if {
	doc := with_baskets(inp(search("Observation", {}), [lab_scope]), [basket("http://example.org/buckets", "LaboratoryTests")])
	d := pep.decision with input as doc
	d.allow == false
	"bucket_missing" in d.reasons
}

test_baskets_bound_a_scope_without_buckets if {
	# require_bucket (the default): a scope naming no bucket grants exactly
	# the consented baskets, and searches are narrowed to them.
	doc := with_baskets(inp(search("Observation", {}), [scope("Observation", "rs", {})]), [basket(il_buckets, "LaboratoryTests")])
	d := pep.decision with input as doc
	d.allow == true
	d.obligations.response.types == {"Observation": [canonical_lab]}
	param_value(d, "_security") == [lab_query]
}

test_national_adapter_token_shape if {
	# The national reference adapter's example: scope without _security,
	# baskets as bare codes (Go fills in the seed bucket system).
	doc := with_baskets(inp(search("Observation", {}), [scope("Observation", "rs", {})]), [basket(seed_buckets, "laboratoryTests")])
	d := pep.decision with input as doc
	d.allow == true
	d.obligations.response.types == {"Observation": [canonical_lab]}
}

test_without_baskets_a_scope_without_buckets_grants_none if {
	d := pep.decision with input as inp(search("Observation", {}), [scope("Observation", "rs", {})])
	d.allow == false
	"bucket_missing" in d.reasons
}

test_empty_baskets_bound_a_scope_without_buckets_to_nothing if {
	doc := with_baskets(inp(search("Observation", {}), [scope("Observation", "rs", {})]), [])
	d := pep.decision with input as doc
	d.allow == false
	"bucket_missing" in d.reasons
}

test_baskets_narrow_a_scope_without_buckets if {
	doc := with_baskets(inp(search("Observation", {}), [scope("Observation", "rs", {})]), [basket(il_buckets, "LaboratoryTests")])
	d := pep.decision with input as doc with data.fhir.pep.require_bucket as false
	d.allow == true
	d.obligations.response.types == {"Observation": [canonical_lab]}
	param_value(d, "_security") == [lab_query]
}

test_baskets_narrow_a_wildcard_scope_with_other_constraints if {
	lab_category := scope("Observation", "rs", {"category": ["laboratory"]})
	doc := with_baskets(inp(search("Observation", {}), [lab_category]), [basket(il_buckets, "LaboratoryTests")])
	d := pep.decision with input as doc with data.fhir.pep.require_bucket as false
	d.allow == true
	param_value(d, "category") == ["laboratory"]
	param_value(d, "_security") == [lab_query]
}

test_empty_baskets_narrow_a_scope_without_buckets_to_nothing if {
	doc := with_baskets(inp(search("Observation", {}), [scope("Observation", "rs", {})]), [])
	d := pep.decision with input as doc with data.fhir.pep.require_bucket as false
	d.allow == false
}

test_unconsented_value_of_an_and_constraint_grants_nothing if {
	# Two _security values: a resource must carry both; without consent
	# for one of them the scope matches nothing.
	both := scope("Observation", "rs", {"_security": [lab, measurements]})
	doc := with_baskets(inp(search("Observation", {}), [both]), [basket(il_buckets, "LaboratoryTests")])
	d := pep.decision with input as doc
	d.allow == false
	"bucket_missing" in d.reasons
}

test_other_labels_of_a_scope_are_kept if {
	label := "http://example.org/labels|R"
	labelled := scope("Observation", "rs", {"_security": [concat(",", [lab, measurements, label])]})
	doc := with_baskets(inp(search("Observation", {}), [labelled]), [basket(il_buckets, "LaboratoryTests")])
	d := pep.decision with input as doc
	d.allow == true
	param_value(d, "_security") == [concat(",", [lab_query, label])]
}

test_other_constraints_kept if {
	lab_and_category_or_measurements := scope("Observation", "rs", {
		"_security": [concat(",", [lab, measurements])],
		"category": ["laboratory"],
	})
	doc := with_baskets(inp(search("Observation", {}), [lab_and_category_or_measurements]), [basket(il_buckets, "LaboratoryTests")])
	d := pep.decision with input as doc
	d.allow == true
	param_value(d, "_security") == [lab_query]
	param_value(d, "category") == ["laboratory"]
}

test_client_security_outside_baskets_denied if {
	req := search("Observation", {"_security": [measurements]})
	doc := with_baskets(inp(req, [lab_or_measurements_scope]), [basket(il_buckets, "LaboratoryTests")])
	d := pep.decision with input as doc
	d.allow == false
	"bucket_not_granted" in d.reasons
}

test_client_security_inside_baskets_allowed if {
	req := search("Observation", {"_security": [lab]})
	doc := with_baskets(inp(req, [lab_or_measurements_scope]), [basket(il_buckets, "LaboratoryTests")])
	d := pep.decision with input as doc
	d.allow == true
}

test_historical_depth_does_not_change_grants if {
	deep := {"system": seed_buckets, "code": "laboratoryTests", "historical_depth": "2024-01-01"}
	doc := with_baskets(inp(search("Observation", {}), [lab_or_measurements_scope]), [deep])
	d := pep.decision with input as doc
	d.allow == true
	d.obligations.response.types == {"Observation": [canonical_lab]}
}

test_baskets_apply_to_reads if {
	doc := with_baskets(inp(read("Observation", "obs-1"), [lab_or_measurements_scope]), [basket(il_buckets, "LaboratoryTests")])
	d := pep.decision with input as doc
	d.allow == true
	d.obligations.read_as_search == true
	d.obligations.response.types == {"Observation": [canonical_lab]}
	param_value(d, "_security") == [lab_query]
}

test_baskets_apply_to_wildcard_type_scopes if {
	doc := with_baskets(
		inp(search("Observation", {}), [scope("*", "rs", {"_security": [concat(",", [lab, measurements])]})]),
		[basket(il_buckets, "Measurements")],
	)
	d := pep.decision with input as doc
	d.allow == true
	d.obligations.response.types == {"*": [canonical_measurements]}
}

package fhir.pep_test

import data.fhir.pep

pathology := concat("|", [il_buckets, "Pathology"])

canonical_pathology := concat("|", [il_buckets, "pathology"])

encounters := concat("|", [il_buckets, "EncounterInformation"])

canonical_encounters := concat("|", [il_buckets, "encounterinformation"])

lab_and_pathology := scope("Observation", "rs", {"_security": [lab, pathology]})

encounters_since_2024 := scope("Encounter", "rs", {"_security": [encounters], "date": ["ge2024-01-01"]})

with_depth_baskets(input_doc, baskets) := object.union(input_doc, {"baskets": baskets})

depth_basket(code, depth) := {"system": il_buckets, "code": code, "historical_depth": depth}

# A parameter repeated inside one scope is AND: two _security parameters
# upstream, never one OR list.
test_repeated_security_is_and_upstream if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_and_pathology])
	d.allow == true
	param_value(d, "_security") == [lab_query, pep.security_query(pathology)]
}

test_repeated_security_is_and_on_the_response if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_and_pathology])
	d.obligations.response.rules == [{
		"type": "Observation",
		"buckets": [canonical_lab, canonical_pathology],
		"constraints": [{"name": "_security", "value": lab}, {"name": "_security", "value": pathology}],
		"narrowed": true,
	}]
}

# One _security value with a comma list is still OR, merged with others.
test_single_security_list_is_or if {
	d := pep.decision with input as inp(search("Observation", {}), [scope("Observation", "rs", {"_security": [concat(",", [lab, pathology])]})])
	d.allow == true
	count(param_value(d, "_security")) == 1
}

test_rule_per_scope_with_every_constraint if {
	d := pep.decision with input as inp(search("Encounter", {"_include": ["Encounter:part-of"]}), [encounters_since_2024])
	d.allow == true
	d.obligations.response.rules == [{
		"type": "Encounter",
		"buckets": [canonical_encounters],
		"constraints": [{"name": "_security", "value": encounters}, {"name": "date", "value": "ge2024-01-01"}],
		"narrowed": true,
	}]
}

# vread and history are narrowed by the read-as-search probe only: the rule
# still carries the date, which Go checks on the version it returns.
test_vread_rule_keeps_the_date if {
	req := request({"interaction": "vread", "resource_type": "Encounter", "id": "e1", "version_id": "1"})
	d := pep.decision with input as inp(req, [encounters_since_2024])
	d.allow == true
	d.obligations.read_as_search == true
	some rule in d.obligations.response.rules
	{"name": "date", "value": "ge2024-01-01"} in rule.constraints
}

# $everything carries no narrowing: no rule is narrowed, and scopes with
# constraints now count (Go verifies them), for their own type only.
test_everything_rules_not_narrowed if {
	d := pep.decision with input as inp(everything("pat-1", "instance"), [patient_scope, encounters_since_2024])
	d.allow == true
	count(d.obligations.response.rules) == 2
	every rule in d.obligations.response.rules {
		rule.narrowed == false
	}
}

# Scopes of another type are rules for the response (includes) but never
# narrowed: their constraints were not in the query.
test_other_type_rule_not_narrowed if {
	d := pep.decision with input as inp(search("Observation", {"_include": ["Observation:encounter"]}), [lab_scope, encounters_since_2024])
	d.allow == true
	some rule in d.obligations.response.rules
	rule.type == "Encounter"
	rule.narrowed == false
}

# Pinned sets: only the pinned scope is narrowed.
test_only_pinned_scope_narrowed if {
	a := scope("Observation", "rs", {"_security": [lab], "category": ["laboratory"], "status": ["final"]})
	b := scope("Observation", "rs", {"_security": [lab], "category": ["vital-signs"], "code": ["x"]})
	d := pep.decision with input as inp(search("Observation", {"_security": [lab], "category": ["laboratory"], "status": ["final"]}), [a, b])
	d.allow == true
	narrowed := {rule.constraints | some rule in d.obligations.response.rules; rule.narrowed}
	narrowed == {[
		{"name": "_security", "value": lab},
		{"name": "category", "value": "laboratory"},
		{"name": "status", "value": "final"},
	]}
}

test_no_baskets_no_depths if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope])
	d.obligations.response.depths == {}
	param_value(d, "date") == []
}

test_depths_from_baskets if {
	doc := with_depth_baskets(inp(search("Observation", {}), [lab_scope]), [depth_basket("laboratoryTests", "2024-01-01"), depth_basket("Measurements", "")])
	d := pep.decision with input as doc
	d.allow == true
	d.obligations.response.depths == {canonical_lab: "2024-01-01"}
}

test_depth_twice_keeps_the_later if {
	doc := with_depth_baskets(inp(search("Observation", {}), [lab_scope]), [depth_basket("laboratoryTests", "2020-01-01"), depth_basket("LaboratoryTests", "2024-01-01")])
	d := pep.decision with input as doc
	d.obligations.response.depths == {canonical_lab: "2024-01-01"}
}

test_depth_narrows_a_single_bucket_search if {
	doc := with_depth_baskets(inp(search("Observation", {}), [lab_scope]), [depth_basket("laboratoryTests", "2024-01-01")])
	d := pep.decision with input as doc
	param_value(d, "date") == ["ge2024-01-01"]
}

test_depth_narrows_by_the_loosest_bound if {
	doc := with_depth_baskets(
		inp(search("Observation", {}), [lab_scope, measurements_scope]),
		[depth_basket("laboratoryTests", "2024-01-01"), depth_basket("measurements", "2022-06-01")],
	)
	d := pep.decision with input as doc
	param_value(d, "date") == ["ge2022-06-01"]
	d.obligations.response.depths == {canonical_lab: "2024-01-01", canonical_measurements: "2022-06-01"}
}

test_no_depth_narrowing_when_a_bucket_has_none if {
	doc := with_depth_baskets(
		inp(search("Observation", {}), [lab_scope, measurements_scope]),
		[depth_basket("laboratoryTests", "2024-01-01"), depth_basket("measurements", "")],
	)
	d := pep.decision with input as doc
	d.allow == true
	param_value(d, "date") == []
}

test_depth_narrowing_uses_the_types_parameter if {
	doc := with_depth_baskets(inp(search("Encounter", {}), [encounters_since_2024]), [depth_basket("encounterInformation", "2023-01-01")])
	d := pep.decision with input as doc
	param_value(d, "date") == ["ge2024-01-01", "ge2023-01-01"]
}

test_depth_without_clinical_date_parameter_adds_nothing if {
	doc := with_depth_baskets(inp(read("Practitioner", "p1"), [practitioner_scope]), [depth_basket("practitioner", "2024-01-01")])
	d := pep.decision with input as doc
	d.allow == true
	every p in d.obligations.search_params {
		p.name == "_security"
	}
	d.obligations.response.depths == {canonical_practitioner: "2024-01-01"}
}

test_depth_ignores_other_systems if {
	doc := with_depth_baskets(inp(search("Observation", {}), [lab_scope]), [depth_basket("laboratoryTests", ""), {"system": "http://example.org/x", "code": "laboratoryTests", "historical_depth": "2024-01-01"}])
	d := pep.decision with input as doc
	d.obligations.response.depths == {}
}

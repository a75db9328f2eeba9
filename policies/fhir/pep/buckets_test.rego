package fhir.pep_test

import data.fhir.pep

test_bucket_key_normalises if {
	pep.bucket_key(lab) == canonical_lab
	pep.bucket_key(concat("|", [seed_buckets, "LABORATORYTESTS"])) == canonical_lab
	pep.bucket_key(concat("|", [il_buckets, "laboratoryTests"])) == canonical_lab
}

test_bucket_key_rejects_non_buckets if {
	not pep.bucket_key("http://terminology.hl7.org/CodeSystem/v3-Confidentiality|N")
	not pep.bucket_key("LaboratoryTests")
	not pep.bucket_key("|LaboratoryTests")
	not pep.bucket_key(concat("", [il_buckets, "|"]))
	not pep.bucket_key(concat("|", [il_buckets, "a", "b"]))
}

test_bucket_key_follows_alias_data if {
	other := "http://example.org/buckets"
	pep.bucket_key(concat("|", [other, "Lab"])) == concat("|", [other, "lab"]) with data.fhir.pep.bucket_systems as [other]
	not pep.bucket_key(lab) with data.fhir.pep.bucket_systems as [other]
}

test_response_types_for_scope if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope])
	d.obligations.response.types == {"Observation": [canonical_lab]}
}

test_response_types_normalise_seed_system if {
	seed_lab := scope("Observation", "rs", {"_security": [concat("|", [seed_buckets, "LaboratoryTests"])]})
	d := pep.decision with input as inp(search("Observation", {}), [seed_lab])
	d.obligations.response.types == {"Observation": [canonical_lab]}
}

test_comma_list_grants_each_bucket if {
	both := scope("Observation", "rs", {"_security": [concat(",", [lab, measurements])]})
	d := pep.decision with input as inp(search("Observation", {}), [both])
	d.obligations.response.types == {"Observation": [canonical_lab, canonical_measurements]}
}

test_response_types_union_of_scopes if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope, measurements_scope, practitioner_scope])
	d.obligations.response.types == {
		"Observation": [canonical_lab, canonical_measurements],
		"Practitioner": [canonical_practitioner],
	}
}

test_response_types_only_for_the_needed_letter if {
	read_only := scope("Practitioner", "r", {"_security": [practitioner_bucket]})
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope, read_only])
	d.obligations.response.types == {"Observation": [canonical_lab]}
}

test_wildcard_scope_response_key if {
	d := pep.decision with input as inp(search("Observation", {}), [scope("*", "rs", {"_security": [lab]})])
	d.obligations.response.types == {"*": [canonical_lab]}
}

test_unenforceable_wildcard_scope_counts_for_request_type_only if {
	wild := scope("*", "rs", {"_security": [lab], "category": ["laboratory"]})
	d := pep.decision with input as inp(search("Observation", {}), [wild])
	d.obligations.response.types == {"Observation": [canonical_lab]}
}

test_unenforceable_scope_of_other_type_excluded if {
	constrained := scope("Practitioner", "rs", {"_security": [practitioner_bucket], "active": ["true"]})
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope, constrained])
	d.obligations.response.types == {"Observation": [canonical_lab]}
}

test_enforceable_scope_of_other_type_included if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope, practitioner_scope])
	d.obligations.response.types.Practitioner == [canonical_practitioner]
}

test_unenforceable_scope_of_request_type_included if {
	constrained := scope("Observation", "rs", {"_security": [lab], "category": ["laboratory"]})
	d := pep.decision with input as inp(search("Observation", {}), [constrained])
	d.obligations.response.types == {"Observation": [canonical_lab]}
}

test_everything_excludes_unenforceable_scopes if {
	constrained := scope("Observation", "rs", {"_security": [measurements], "category": ["vital-signs"]})
	d := pep.decision with input as inp(everything("pat-1", "instance"), [patient_scope, lab_scope, constrained])
	d.allow == true
	d.obligations.response.types == {
		"Observation": [canonical_lab],
		"Patient": [concat("|", [il_buckets, "patientdemographics"])],
	}
}

test_client_security_outside_grant_denied if {
	d := pep.decision with input as inp(search("Observation", {"_security": [measurements]}), [lab_scope])
	d.allow == false
	d.status == 403
	d.reasons == ["bucket_not_granted"]
}

test_client_security_in_comma_list_outside_grant_denied if {
	d := pep.decision with input as inp(search("Observation", {"_security": [concat(",", [lab, measurements])]}), [lab_scope])
	d.allow == false
	d.reasons == ["bucket_not_granted"]
}

test_client_security_inside_grant_allowed if {
	asked := concat("|", [seed_buckets, "laboratorytests"])
	d := pep.decision with input as inp(search("Observation", {"_security": [asked]}), [lab_scope])
	d.allow == true
}

test_client_security_non_bucket_allowed if {
	d := pep.decision with input as inp(search("Observation", {"_security": ["http://terminology.hl7.org/CodeSystem/v3-Confidentiality|N"]}), [lab_scope])
	d.allow == true
}

test_client_security_any_bucket_when_not_required if {
	d := pep.decision with input as inp(search("Observation", {"_security": [measurements]}), [scope("Observation", "rs", {})])
		with data.fhir.pep.require_bucket as false
	d.allow == true
}

test_security_item_parses_buckets if {
	pep.security_item(lab) == {
		"value": lab,
		"system": il_buckets,
		"code": "LaboratoryTests",
		"code_lower": "laboratorytests",
		"code_spellings": ["LaboratoryTests", "laboratoryTests", "laboratorytests"],
	}
	pep.security_item("s|éCole").code_spellings == ["ÉCole", "éCole", "école"]
}

test_security_item_rejects_non_buckets if {
	every item in ["LaboratoryTests", "|", "a|b|c", "s|", ""] {
		pep.security_item(item) == {"value": item, "system": null, "code": null, "code_lower": null, "code_spellings": []}
	}
	pep.security_item("|x").system == ""
}

test_bucket_item_follows_alias_data if {
	pep.bucket_item(pep.security_item(lab))
	not pep.bucket_item(pep.security_item(lab)) with data.fhir.pep.bucket_systems as ["http://example.org/buckets"]
	not pep.bucket_item(pep.security_item("LaboratoryTests"))
}

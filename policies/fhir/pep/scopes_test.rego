package fhir.pep_test

import data.fhir.pep

test_no_scope_denied if {
	d := pep.decision with input as inp(search("Observation", {}), [])
	d.allow == false
	d.status == 403
	d.reasons == ["scope_missing"]
}

test_scope_for_type_allowed if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope])
	d.allow == true
	d.status == 200
}

test_scope_for_other_type_denied if {
	d := pep.decision with input as inp(search("Condition", {}), [lab_scope])
	d.allow == false
	d.reasons == ["scope_missing"]
}

test_wildcard_type_scope_allowed if {
	d := pep.decision with input as inp(search("Condition", {}), [scope("*", "rs", {"_security": [lab]})])
	d.allow == true
}

test_read_needs_r if {
	d := pep.decision with input as inp(read("Observation", "obs-1"), [scope("Observation", "s", {"_security": [lab]})])
	d.allow == false
	d.reasons == ["scope_missing"]
}

test_read_with_r_allowed if {
	d := pep.decision with input as inp(read("Observation", "obs-1"), [scope("Observation", "r", {"_security": [lab]})])
	d.allow == true
}

test_search_needs_s if {
	d := pep.decision with input as inp(search("Observation", {}), [scope("Observation", "r", {"_security": [lab]})])
	d.allow == false
	d.reasons == ["scope_missing"]
}

test_search_with_s_allowed if {
	d := pep.decision with input as inp(search("Observation", {}), [scope("Observation", "s", {"_security": [lab]})])
	d.allow == true
}

test_history_and_vread_need_r if {
	every interaction in ["vread", "history-instance"] {
		req := request({"interaction": interaction, "id": "obs-1", "version_id": "2"})
		denied := pep.decision with input as inp(req, [scope("Observation", "s", {"_security": [lab]})])
		denied.allow == false
		allowed := pep.decision with input as inp(req, [scope("Observation", "r", {"_security": [lab]})])
		allowed.allow == true
		allowed.obligations.read_as_search == true
	}
}

test_user_context_denied if {
	user_scope := object.union(lab_scope, {"context": "user"})
	d := pep.decision with input as inp(search("Observation", {}), [user_scope])
	d.allow == false
	d.status == 403
	d.reasons == ["scope_context_not_allowed"]
}

test_system_context_denied if {
	system_scope := object.union(lab_scope, {"context": "system"})
	d := pep.decision with input as inp(search("Observation", {}), [system_scope])
	d.allow == false
	d.reasons == ["scope_context_not_allowed"]
}

test_user_context_allowed_when_honoured if {
	user_scope := object.union(lab_scope, {"context": "user"})
	d := pep.decision with input as inp(search("Observation", {}), [user_scope])
		with data.fhir.pep.honoured_contexts as ["patient", "user"]
	d.allow == true
}

test_user_scope_ignored_beside_patient_scope if {
	user_scope := object.union(measurements_scope, {"context": "user"})
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope, user_scope])
	d.allow == true
	d.obligations.response.types == {"Observation": [canonical_lab]}
}

test_missing_honoured_contexts_denies if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope])
		with data.fhir.pep.honoured_contexts as []
	d.allow == false
	d.reasons == ["scope_context_not_allowed"]
}

test_scope_with_result_param_constraint_ignored if {
	every name in ["_include", "_revinclude", "_count", "_summary", "_elements", "_has:Observation:patient:code", "subject.name"] {
		bad := scope("Observation", "rs", {"_security": [lab], name: ["x"]})
		d := pep.decision with input as inp(search("Observation", {}), [bad])
		d.allow == false
		d.reasons == ["scope_missing"]
	}
}

test_scope_with_filter_constraint_used if {
	d := pep.decision with input as inp(search("Observation", {}), [scope("Observation", "rs", {"_security": [lab], "category": ["laboratory"]})])
	d.allow == true
}

test_scope_without_bucket_denied if {
	d := pep.decision with input as inp(search("Observation", {}), [scope("Observation", "rs", {"category": ["laboratory"]})])
	d.allow == false
	d.status == 403
	d.reasons == ["bucket_missing"]
}

test_scope_without_bucket_allowed_when_not_required if {
	d := pep.decision with input as inp(search("Observation", {}), [scope("Observation", "rs", {"category": ["laboratory"]})])
		with data.fhir.pep.require_bucket as false
	d.allow == true
	d.obligations.response.types == {"Observation": ["*"]}
}

test_scope_with_non_bucket_security_denied if {
	confidential := "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|N"
	d := pep.decision with input as inp(search("Observation", {}), [scope("Observation", "rs", {"_security": [confidential]})])
	d.allow == false
	d.reasons == ["bucket_missing"]
}

test_bucketless_scope_does_not_widen if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope, scope("Observation", "rs", {})])
	d.allow == true
	param_value(d, "_security") == [lab_query]
}

test_malformed_require_bucket_data_still_requires_bucket if {
	every value in [null, "false", 0] {
		d := pep.decision with input as inp(search("Observation", {}), [scope("Observation", "rs", {})])
			with data.fhir.pep.require_bucket as value
		d.allow == false
		d.reasons == ["bucket_missing"]
	}
}

test_scopes_union if {
	scopes := [lab_scope, practitioner_scope]
	observations := pep.decision with input as inp(search("Observation", {}), scopes)
	observations.allow == true
	practitioners := pep.decision with input as inp(search("Practitioner", {}), scopes)
	practitioners.allow == true
	conditions := pep.decision with input as inp(search("Condition", {}), scopes)
	conditions.allow == false
}

with_index(input_doc, index) := object.union(object.remove(input_doc, ["scope_index"]), {"scope_index": index})

test_scope_missing_from_index_ignored if {
	d := pep.decision with input as with_index(inp(search("Observation", {}), [lab_scope]), {})
	d.allow == false
	d.reasons == ["scope_missing"]
}

test_scope_in_index_used if {
	d := pep.decision with input as with_index(inp(search("Observation", {}), [lab_scope]), {"Observation": {"s": [0]}})
	d.allow == true
}

test_scope_index_letter_respected if {
	d := pep.decision with input as with_index(inp(search("Observation", {}), [lab_scope]), {"Observation": {"r": [0]}})
	d.allow == false
	d.reasons == ["scope_missing"]
}

test_scope_grants_come_from_security_items if {
	no_items := object.union(lab_scope, {"security_items": []})
	denied := pep.decision with input as inp(search("Observation", {}), [no_items])
	denied.allow == false
	denied.reasons == ["bucket_missing"]
	allowed := pep.decision with input as inp(search("Observation", {}), [lab_scope])
	allowed.allow == true
}

test_scope_grants_use_bucket_key if {
	items := [pep.security_item(concat("|", [seed_buckets, "LABORATORYtests"]))]
	s := object.union(scope("Observation", "rs", {"_security": [concat("|", [seed_buckets, "LABORATORYtests"])]}), {"security_items": items})
	d := pep.decision with input as inp(search("Observation", {}), [s])
	d.obligations.response.types == {"Observation": [pep.bucket_key_of(items[0])]}
	pep.bucket_key_of(items[0]) == canonical_lab
}

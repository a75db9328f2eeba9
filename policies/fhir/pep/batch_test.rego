package fhir.pep_test

import data.fhir.pep

batch(interaction, entries) := request({"interaction": interaction, "resource_type": null, "entries": entries})

test_batch_of_allowed_entries_allowed if {
	req := batch("batch", [search("Observation", {}), read("Patient", "pat-1")])
	d := pep.decision with input as inp(req, [lab_scope, patient_scope])
	d.allow == true
	d.status == 200
	count(d.obligations.entries) == 2
	d.obligations.entries[0].search_params[0] == {"name": "subject", "value": "Patient/pat-1"}
	d.obligations.entries[1].read_as_search == true
	d.obligations.response.types == {
		"Observation": [canonical_lab],
		"Patient": [concat("|", [il_buckets, "patientdemographics"])],
	}
}

test_batch_with_denied_entry_denied if {
	req := batch("batch", [search("Observation", {}), read("Patient", "pat-2")])
	d := pep.decision with input as inp(req, [lab_scope, patient_scope])
	d.allow == false
	d.status == 403
	d.reasons == ["batch_entry_denied", "other_patient"]
}

test_transaction_of_allowed_entries_allowed if {
	d := pep.decision with input as inp(batch("transaction", [search("Observation", {})]), [lab_scope])
	d.allow == true
}

test_transaction_with_write_denied if {
	req := batch("transaction", [request({"interaction": "create"})])
	d := pep.decision with input as inp(req, [scope("Observation", "cruds", {"_security": [lab]})])
	d.allow == false
	d.reasons == ["batch_entry_denied", "interaction_not_allowed"]
}

test_empty_batch_denied if {
	d := pep.decision with input as inp(batch("batch", []), [lab_scope])
	d.allow == false
	d.status == 400
	d.reasons == ["batch_empty"]
}

test_batch_without_entries_denied if {
	d := pep.decision with input as inp(request({"interaction": "batch", "resource_type": null}), [lab_scope])
	d.allow == false
	d.reasons == ["batch_empty"]
}

test_batch_too_large_denied if {
	req := batch("batch", [search("Observation", {}), search("Observation", {})])
	d := pep.decision with input as inp(req, [lab_scope]) with data.fhir.pep.max_batch_entries as 1
	d.allow == false
	d.status == 400
	d.reasons == ["batch_too_large"]
}

test_batch_at_limit_allowed if {
	req := batch("batch", [search("Observation", {})])
	d := pep.decision with input as inp(req, [lab_scope]) with data.fhir.pep.max_batch_entries as 1
	d.allow == true
}

test_batch_limit_missing_denies if {
	req := batch("batch", [search("Observation", {})])
	d := pep.decision with input as inp(req, [lab_scope]) with data.fhir.pep.max_batch_entries as null
	d.allow == false
	"batch_too_large" in d.reasons
}

test_nested_batch_denied if {
	req := batch("batch", [batch("batch", [search("Observation", {})])])
	d := pep.decision with input as inp(req, [lab_scope])
	d.allow == false
	d.status == 400
	d.reasons == ["batch_entry_denied", "nested_batch_not_allowed"]
}

test_xml_batch_denied if {
	req := with_facts(object.union(batch("batch", [search("Observation", {})]), {"wants_xml": true}))
	d := pep.decision with input as inp(req, [lab_scope])
	d.allow == false
	d.reasons == ["format_not_supported"]
}

test_batch_entry_not_found_is_forbidden if {
	req := batch("batch", [read("Observation", "obs-1")])
	d := with_ids(inp(req, [lab_scope]), [])
	decision := pep.decision with input as d
	decision.allow == false
	decision.status == 403
	decision.reasons == ["batch_entry_denied", "patient_not_found"]
}

test_batch_entry_without_decision_denied if {
	req := batch("batch", [search("Observation", {})])
	d := pep.decision with input as inp(req, [lab_scope]) with pep.entry_decisions as []
	d.allow == false
	"batch_entry_denied" in d.reasons
}

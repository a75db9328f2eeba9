package fhir.pep_test

import data.fhir.pep

test_search_narrowed_to_patient if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope])
	d.allow == true
	d.obligations.search_params[0] == {"name": "subject", "value": "Patient/pat-1"}
	d.obligations.read_as_search == false
	d.obligations.empty_result == false
}

test_search_narrowed_to_every_patient_id if {
	d := pep.decision with input as with_ids(inp(search("Encounter", {}), [scope("Encounter", "rs", {"_security": [lab]})]), ["a", "b"])
	d.allow == true
	param_value(d, "patient") == ["Patient/a,Patient/b"]
}

test_patient_search_narrowed_by_id if {
	d := pep.decision with input as with_ids(inp(search("Patient", {"name": ["cohen"]}), [patient_scope]), ["a", "b"])
	d.allow == true
	param_value(d, "_id") == ["a,b"]
}

test_search_without_patient_data_is_empty if {
	d := pep.decision with input as with_ids(inp(search("Observation", {}), [lab_scope]), [])
	d.allow == true
	d.obligations.empty_result == true
	param_value(d, "subject") == []
}

test_search_with_patient_data_not_empty if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope])
	d.obligations.empty_result == false
}

test_read_of_compartment_type_is_search if {
	d := pep.decision with input as inp(read("Observation", "obs-1"), [lab_scope])
	d.allow == true
	d.obligations.read_as_search == true
	d.obligations.search_params == [
		{"name": "subject", "value": "Patient/pat-1"},
		{"name": "_security", "value": lab_query},
	]
}

test_read_without_patient_data_not_found if {
	d := pep.decision with input as with_ids(inp(read("Observation", "obs-1"), [lab_scope]), [])
	d.allow == false
	d.status == 404
	d.reasons == ["patient_not_found"]
}

test_own_patient_read_allowed if {
	d := pep.decision with input as inp(read("Patient", "pat-1"), [patient_scope])
	d.allow == true
	d.obligations.read_as_search == true
	param_value(d, "_id") == ["pat-1"]
}

test_other_patient_read_denied if {
	d := pep.decision with input as inp(read("Patient", "pat-2"), [patient_scope])
	d.allow == false
	d.status == 403
	d.reasons == ["other_patient"]
}

test_other_patient_vread_denied if {
	req := request({"interaction": "vread", "resource_type": "Patient", "id": "pat-2", "version_id": "1"})
	d := pep.decision with input as inp(req, [patient_scope])
	d.allow == false
	d.reasons == ["other_patient"]
}

test_patient_read_without_patient_data_not_found if {
	d := pep.decision with input as with_ids(inp(read("Patient", "pat-1"), [patient_scope]), [])
	d.allow == false
	d.status == 404
	d.reasons == ["patient_not_found"]
}

test_own_compartment_search_allowed if {
	d := pep.decision with input as inp(compartment_search("Patient", "pat-1", "Observation"), [lab_scope])
	d.allow == true
	param_value(d, "subject") == ["Patient/pat-1"]
}

test_other_compartment_search_denied if {
	d := pep.decision with input as inp(compartment_search("Patient", "pat-2", "Observation"), [lab_scope])
	d.allow == false
	d.status == 403
	d.reasons == ["other_patient"]
}

test_compartment_search_without_patient_data_denied if {
	d := pep.decision with input as with_ids(inp(compartment_search("Patient", "pat-1", "Observation"), [lab_scope]), [])
	d.allow == false
	d.reasons == ["other_patient"]
}

test_non_patient_compartment_denied if {
	d := pep.decision with input as inp(compartment_search("Encounter", "enc-1", "Observation"), [lab_scope])
	d.allow == false
	d.status == 403
	d.reasons == ["compartment_not_supported"]
}

test_compartment_search_without_compartment_denied if {
	req := request({"interaction": "search-compartment"})
	d := pep.decision with input as inp(req, [lab_scope])
	d.allow == false
	"compartment_not_supported" in d.reasons
}

test_compartment_search_of_outside_type_denied if {
	d := pep.decision with input as inp(compartment_search("Patient", "pat-1", "Practitioner"), [practitioner_scope])
	d.allow == false
	d.status == 400
	d.reasons == ["type_not_in_compartment"]
}

test_group_not_supported if {
	d := pep.decision with input as inp(search("Group", {}), [scope("Group", "rs", {"_security": [lab]})])
	d.allow == false
	d.status == 403
	d.reasons == ["type_not_supported"]
}

test_group_supported_with_narrowing_data if {
	d := pep.decision with input as inp(search("Group", {}), [scope("Group", "rs", {"_security": [lab]})])
		with data.fhir.pep.compartment.narrowing.Group as "member"
	d.allow == true
	param_value(d, "member") == ["Patient/pat-1"]
}

test_outside_type_read_allowed if {
	d := pep.decision with input as inp(read("Practitioner", "prac-1"), [practitioner_scope])
	d.allow == true
	d.obligations.read_as_search == true
	d.obligations.search_params == [{"name": "_security", "value": pep.security_query(practitioner_bucket)}]
}

test_outside_type_search_has_no_patient_param if {
	d := pep.decision with input as inp(search("Practitioner", {}), [practitioner_scope])
	d.allow == true
	[p.name | some p in d.obligations.search_params] == ["_security"]
}

test_outside_type_allowed_without_patient_data if {
	read_d := pep.decision with input as with_ids(inp(read("Medication", "med-1"), [scope("Medication", "rs", {"_security": [lab]})]), [])
	read_d.allow == true
	search_d := pep.decision with input as with_ids(inp(search("Medication", {}), [scope("Medication", "rs", {"_security": [lab]})]), [])
	search_d.allow == true
	search_d.obligations.empty_result == false
}

test_outside_type_read_direct_without_narrowing if {
	d := pep.decision with input as inp(read("Medication", "med-1"), [scope("Medication", "r", {})])
		with data.fhir.pep.require_bucket as false
	d.allow == true
	d.obligations.read_as_search == false
	d.obligations.search_params == []
}

test_patient_missing_denied if {
	d := pep.decision with input as object.remove(inp(search("Observation", {}), [lab_scope]), ["patient"])
	d.allow == false
	d.status == 403
	d.reasons == ["patient_missing"]
}

test_patient_without_value_denied if {
	d := pep.decision with input as object.union(inp(search("Observation", {}), [lab_scope]), {"patient": {"value": "", "ids": ["pat-1"]}})
	d.allow == false
	d.reasons == ["patient_missing"]
}

test_patient_without_ids_denied if {
	d := pep.decision with input as object.union(inp(search("Observation", {}), [lab_scope]), {"patient": {"value": "000000018", "ids": null}})
	d.allow == false
	d.reasons == ["patient_missing"]
}

test_capabilities_need_no_patient if {
	d := pep.decision with input as object.remove(inp(request({"interaction": "capabilities"}), []), ["patient"])
	d.allow == true
}

test_everything_own_patient if {
	d := pep.decision with input as inp(everything("pat-1", "instance"), [patient_scope, lab_scope])
	d.allow == true
	d.obligations.search_params == []
	d.obligations.read_as_search == false
	d.obligations.empty_result == false
}

test_everything_other_patient_denied if {
	d := pep.decision with input as inp(everything("pat-2", "instance"), [patient_scope, lab_scope])
	d.allow == false
	d.status == 403
	d.reasons == ["other_patient"]
}

test_everything_without_patient_data_not_found if {
	d := pep.decision with input as with_ids(inp(everything("pat-1", "instance"), [patient_scope]), [])
	d.allow == false
	d.status == 404
	d.reasons == ["patient_not_found"]
}

test_everything_needs_patient_scope if {
	d := pep.decision with input as inp(everything("pat-1", "instance"), [lab_scope])
	d.allow == false
	d.reasons == ["scope_missing"]
}

test_every_narrowed_type_in_compartment if {
	every type, name in data.fhir.pep.compartment.narrowing {
		d := pep.decision with input as inp(search(type, {}), [scope(type, "rs", {"_security": [lab]})])
		d.allow == true
		d.obligations.search_params[0].name == name
	}
}

test_compartment_search_without_compartment_id_denied if {
	req := request({"interaction": "search-compartment", "compartment": {"type": "Patient"}})
	d := pep.decision with input as inp(req, [lab_scope])
	d.allow == false
	d.reasons == ["other_patient"]
}

test_patient_read_without_id_denied if {
	d := pep.decision with input as inp(with_facts(object.remove(read("Patient", "pat-1"), ["id"])), [patient_scope])
	d.allow == false
	"id_missing" in d.reasons
}

package fhir.pep_test

import data.fhir.pep

# Table: searches that name another patient are refused other_patient (403);
# those that name only ours, or no patient, are allowed.
other_patient_cases := [
	# [name, type, params, scopes, denied]
	["subject of another patient", "Observation", {"subject": ["Patient/pat-2"]}, [lab_scope], true],
	["subject, one of several items another's", "Observation", {"subject": ["Patient/pat-1", "Patient/pat-2"]}, [lab_scope], true],
	["patient bare id of another", "Observation", {"patient": ["pat-2"]}, [lab_scope], true],
	["performer (compartment parameter) names another", "Observation", {"performer": ["Patient/pat-2"]}, [lab_scope], true],
	["subject:Patient with another id", "Observation", {"subject:Patient": ["pat-2"]}, [lab_scope], true],
	["subject:identifier of another national id", "Observation", {"subject:identifier": ["http://fhir.health.gov.il/identifier/il-national-id|000000026"]}, [lab_scope], true],
	["subject:identifier without system", "Observation", {"subject:identifier": ["000000018"]}, [lab_scope], true],
	["subject by absolute URL on another base", "Observation", {"subject": ["http://other.example/fhir/Patient/pat-1"]}, [lab_scope], true],
	["subject by absolute URL on any base, lower case", "Observation", {"subject": ["https://fhir.hmo-b.example/R4/patient/pat-1"]}, [lab_scope], true],
	["subject in another case", "Observation", {"subject": ["patient/pat-1"]}, [lab_scope], true],
	["subject:not", "Observation", {"subject:not": ["Patient/pat-1"]}, [lab_scope], true],
	["subject:above", "Observation", {"subject:above": ["Patient/pat-1"]}, [lab_scope], true],
	["urn reference", "Observation", {"subject": ["urn:uuid:0f0d6b4c"]}, [lab_scope], true],
	["care team participant", "CareTeam", {"participant": ["Patient/pat-2"]}, [scope("CareTeam", "rs", {"_security": [practitioner_bucket]})], true],
	["Patient?_id of another", "Patient", {"_id": ["pat-2"]}, [patient_scope], true],
	["Patient?_id with ours and another", "Patient", {"_id": ["pat-1", "pat-2"]}, [patient_scope], true],
	["Patient?_id:not", "Patient", {"_id:not": ["pat-1"]}, [patient_scope], true],
	["Patient?identifier of another", "Patient", {"identifier": ["http://fhir.health.gov.il/identifier/il-national-id|000000026"]}, [patient_scope], true],
	["Patient?identifier bare value", "Patient", {"identifier": ["000000026"]}, [patient_scope], true],
	["Patient?link to another", "Patient", {"link": ["Patient/pat-2"]}, [patient_scope], true],
	["own subject", "Observation", {"subject": ["Patient/pat-1"]}, [lab_scope], false],
	["own subject with history", "Observation", {"subject": ["Patient/pat-1/_history/2"]}, [lab_scope], false],
	["own bare id", "Observation", {"patient": ["pat-1"]}, [lab_scope], false],
	["own subject:Patient", "Observation", {"subject:Patient": ["pat-1"]}, [lab_scope], false],
	["own subject:identifier", "Observation", {"subject:identifier": ["http://fhir.health.gov.il/identifier/il-national-id|000000018"]}, [lab_scope], false],
	["performer of another type", "Observation", {"performer": ["Practitioner/pr-1"]}, [lab_scope], false],
	["performer of another type by URL", "Observation", {"performer": ["http://other.example/fhir/Practitioner/pr-1"]}, [lab_scope], false],
	["performer:Practitioner bare id", "Observation", {"performer:Practitioner": ["pr-1"]}, [lab_scope], false],
	["subject:missing", "Observation", {"subject:missing": ["false"]}, [lab_scope], false],
	["a parameter that names no patient", "Observation", {"code": ["Patient/pat-2"]}, [lab_scope], false],
	["Patient?_id own", "Patient", {"_id": ["pat-1"]}, [patient_scope], false],
	["Patient?identifier own", "Patient", {"identifier": ["http://fhir.health.gov.il/identifier/il-national-id|000000018"]}, [patient_scope], false],
	["Patient by name", "Patient", {"name": ["cohen"]}, [patient_scope], false],
]

other_patient_verdict(d, true) if {
	d.allow == false
	d.status == 403
	"other_patient" in d.reasons
}

other_patient_verdict(d, false) if {
	d.allow == true
}

# The names of the failing cases (with opa test -v, the failing expression
# shows them).
test_other_patient_table if {
	failing := [c[0] |
		some c in other_patient_cases
		d := pep.decision with input as inp(search(c[1], c[2]), c[3])
		not other_patient_verdict(d, c[4])
	]
	failing == []
}

test_other_patient_in_own_compartment_search if {
	req := object.union(compartment_search("Patient", "pat-1", "Observation"), {
		"params": {"performer": ["Patient/pat-2"]},
		"param_list": param_list({"performer": ["Patient/pat-2"]}),
	})
	d := pep.decision with input as inp(with_param_facts(req), [lab_scope])
	d.allow == false
	d.status == 403
	d.reasons == ["other_patient"]
}

test_other_patient_without_patient_data if {
	d := pep.decision with input as with_ids(inp(search("Observation", {"subject": ["Patient/pat-1"]}), [lab_scope]), [])
	d.allow == false
	"other_patient" in d.reasons
}

test_other_patient_in_batch_entry if {
	entry := search("Observation", {"subject": ["Patient/pat-2"]})
	req := request({"interaction": "batch", "entries": [entry]})
	d := pep.decision with input as inp(req, [lab_scope])
	d.allow == false
	"other_patient" in d.reasons
}

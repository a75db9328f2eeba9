package fhir.pep

# The patient compartment (FHIR R4 CompartmentDefinition/patient, shipped as
# data.fhir.pep.compartment.patient) and the token's patient.
# input.patient.ids are the upstream Patient ids of the token's patient,
# resolved by Go; [] means the patient has no data at this data source.

in_compartment(t) if data.fhir.pep.compartment.patient[t]

has_patient if {
	is_string(input.patient.value)
	input.patient.value != ""
	is_array(input.patient.ids)
}

no_patient_data if {
	has_patient
	count(input.patient.ids) == 0
}

kind_deny contains "patient_missing" if {
	data_request
	not has_patient
}

# A compartment type without a narrowing parameter cannot be served safely
# (by default Group: a Group lists other patients too).
kind_deny contains "type_not_supported" if {
	data_request
	in_compartment(rtype)
	not data.fhir.pep.compartment.narrowing[rtype]
}

# The patient has no data here, so no compartment resource can be theirs.
kind_deny contains "patient_not_found" if {
	input.request.interaction in {"read", "vread", "history-instance", "operation"}
	reads_instance
	no_patient_data
	in_compartment(rtype)
}

# Patient/<id> (and its $everything) only for the token's own patient; no
# upstream call is needed to know that.
own_patient_id if input.request.id in input.patient.ids

deny contains "other_patient" if {
	input.request.resource_type == "Patient"
	input.request.interaction in {"read", "vread", "history-instance", "operation"}
	reads_instance
	has_patient
	not no_patient_data
	not own_patient_id
}

patient_compartment_search if {
	input.request.interaction == "search-compartment"
	input.request.compartment.type == "Patient"
}

deny contains "compartment_not_supported" if {
	input.request.interaction == "search-compartment"
	not patient_compartment_search
}

own_compartment if input.request.compartment.id in input.patient.ids

# Patient/<x>/<Type> only for the token's own patient.
deny contains "other_patient" if {
	input.request.interaction == "search-compartment"
	patient_compartment_search
	not own_compartment
}

kind_deny contains "type_not_in_compartment" if {
	input.request.interaction == "search-compartment"
	concrete_type
	not in_compartment(rtype)
}

# The compartment narrowing: the one parameter of the type that names the
# record's own patient, set to all of the patient's ids (OR).
compartment_params := [{"name": name, "value": patient_refs(name)}] if {
	in_compartment(rtype)
	not no_patient_data
	name := data.fhir.pep.compartment.narrowing[rtype]
} else := [] if {
	not in_compartment(rtype)
} else := [] if {
	no_patient_data
}

patient_refs(name) := concat(",", input.patient.ids) if name == "_id"

patient_refs(name) := concat(",", [concat("/", ["Patient", id]) | some id in input.patient.ids]) if name != "_id"

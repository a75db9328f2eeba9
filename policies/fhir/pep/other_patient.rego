package fhir.pep

# Explicit denials: a search that names another patient is refused with
# "other_patient" (403, audited as a denial) instead of being narrowed to an
# empty result. An empty searchset would tell the client its request was fine
# and the patient has nothing; a refusal tells it, and the audit trail, that
# it asked for someone else. Reads of another Patient and another patient's
# compartment are refused with the same reason (compartment.rego).
#
# A value names a patient that is not provably ours, and so is refused, when
# it is on a parameter that can reference a patient (the searched type's
# Patient compartment parameters, and `patient`, which only ever targets
# Patient), without a chain, and
#   - the modifier is `identifier` and the value is not exactly the token's
#     patient (`system|value`): other identifiers cannot be mapped to ours;
#   - there is no modifier, or `:Patient`, and the value is neither one of
#     the patient's ids nor `Patient/<id>` (optionally `/_history/<vid>`) of
#     one: absolute URLs on any base (another server's Patient/<our id> is
#     another patient), `patient/x`, and bare ids that are not ours all count
#     (a bare id on a parameter such as performer may name a Practitioner,
#     but it may equally name a patient: say `Practitioner/<id>` or use the
#     `:Practitioner` modifier); `Type/<id>` and URLs of other types pass;
#   - the modifier is anything else but `missing` or another resource type
#     (`:not`, `:above`, `:text`...): what it selects cannot be shown to be
#     the patient.
# On Patient itself, `_id` and `identifier` name the patient directly: every
# `_id` value must be one of the patient's ids and every `identifier` value
# the token's patient, with no modifier.

# Parameters of the searched type that can reference a patient. They depend
# only on the type, so the grant keeps them (grant.patient_ref_params).
patient_ref_params contains name if {
	some name in data.fhir.pep.compartment.patient[rtype]
}

patient_ref_params contains "patient"

deny contains "other_patient" if {
	input.request.interaction in {"search-type", "search-compartment"}
	some p in input.request.param_list
	p.name in grant.patient_ref_params
	not p.has == true
	object.get(p, "chain", "") == ""
	some v in p.values
	names_other_patient(object.get(p, "modifier", ""), v)
}

# rtype == "Patient", written as a test of input against a constant so that
# OPA's rule index skips this rule for every other type (request.rego).
deny contains "other_patient" if {
	input.request.interaction == "search-type"
	input.request.resource_type == "Patient"
	some p in input.request.param_list
	p.name in {"_id", "identifier"}
	not own_patient_param(p)
}

own_patient_param(p) if {
	p.name == "_id"
	object.get(p, "modifier", "") == ""
	every v in p.values {
		v in input.patient.ids
	}
}

own_patient_param(p) if {
	p.name == "identifier"
	object.get(p, "modifier", "") == ""
	every v in p.values {
		own_identifier(v)
	}
}

own_identifier(v) if {
	is_string(input.patient.system)
	v == concat("|", [input.patient.system, input.patient.value])
}

names_other_patient(modifier, v) if {
	modifier == "identifier"
	not own_identifier(v)
}

names_other_patient(modifier, v) if {
	modifier in {"", "Patient"}
	not own_patient_ref(v)
	may_name_patient(modifier, v)
}

names_other_patient(modifier, _) if {
	not modifier in {"", "Patient", "identifier", "missing"}
	not other_type_modifier(modifier)
}

# `:Practitioner`, `:Group`...: the value is then an id of that type.
other_type_modifier(m) if {
	m != "Patient"
	regex.match(`^[A-Z][A-Za-z]{0,63}$`, m)
}

own_patient_ref(v) if v in input.patient.ids

own_patient_ref(v) if {
	parts := split(v, "/")
	count(parts) == 2
	parts[0] == "Patient"
	parts[1] in input.patient.ids
}

own_patient_ref(v) if {
	parts := split(v, "/")
	count(parts) == 4
	parts[0] == "Patient"
	parts[1] in input.patient.ids
	parts[2] == "_history"
	parts[3] != ""
}

# A bare value (no "/": an id, a urn) may be any type's id, a patient's
# included; a path names a patient when some segment before the last reads
# "patient" in any letter case.
may_name_patient(_, v) if not contains(v, "/")

may_name_patient(_, v) if regex.match(`(?i)(^|/)patient/`, v)

may_name_patient(modifier, _) if modifier == "Patient"

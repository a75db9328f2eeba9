package fhir.pep_test

import data.fhir.pep

# Shared test inputs. Tests build an input with inp(request, scopes) and
# evaluate data.fhir.pep.decision with it. Like Go, the fixtures add the
# precomputed fields (request.param_facts, request.facts,
# scopes[_].security_items, scope_index; README.md); Go's tests check that
# both compute the same.

il_buckets := "http://fhir.health.gov.il/cs/il-hdp-information-buckets"

seed_buckets := "http://fhir.health.gov.il/cs/hdp-information-buckets"

lab := concat("|", [il_buckets, "LaboratoryTests"])

measurements := concat("|", [il_buckets, "Measurements"])

canonical_lab := concat("|", [il_buckets, "laboratorytests"])

canonical_measurements := concat("|", [il_buckets, "measurements"])

canonical_practitioner := concat("|", [il_buckets, "practitioner"])

practitioner_bucket := concat("|", [il_buckets, "Practitioner"])

demographics := concat("|", [il_buckets, "PatientDemographics"])

# The _security query value Go injects for the LaboratoryTests bucket: both
# alias systems, every usual spelling, sorted.
lab_query := concat(",", [
	concat("|", [seed_buckets, "LaboratoryTests"]),
	concat("|", [seed_buckets, "laboratoryTests"]),
	concat("|", [seed_buckets, "laboratorytests"]),
	concat("|", [il_buckets, "LaboratoryTests"]),
	concat("|", [il_buckets, "laboratoryTests"]),
	concat("|", [il_buckets, "laboratorytests"]),
])

scope(type, permissions, constraints) := {
	"context": "patient",
	"resource_type": type,
	"permissions": permissions,
	"constraints": constraints,
	"version": 2,
	"raw": "patient/scope-under-test",
	"security_items": security_items(constraints),
}

# The precomputed security_items of a scope with these constraints.
security_items(constraints) := [pep.security_item(item) |
	some v in object.get(constraints, "_security", [])
	some item in split(v, ",")
]

# The precomputed input.scope_index of these scopes: type -> permission
# letter -> positions in scopes.
scope_index(scopes) := {type: letters |
	some s in scopes
	type := s.resource_type
	letters := {letter: positions |
		some t in scopes
		t.resource_type == type
		some letter in split(t.permissions, "")
		positions := [i |
			some i, u in scopes
			u.resource_type == type
			contains(u.permissions, letter)
		]
	}
}

lab_scope := scope("Observation", "rs", {"_security": [lab]})

measurements_scope := scope("Observation", "rs", {"_security": [measurements]})

patient_scope := scope("Patient", "rs", {"_security": [demographics]})

practitioner_scope := scope("Practitioner", "rs", {"_security": [practitioner_bucket]})

own_patient := {
	"system": "http://fhir.health.gov.il/identifier/il-national-id",
	"value": "000000018",
	"ids": ["pat-1"],
}

base_request := {
	"method": "GET",
	"interaction": "search-type",
	"resource_type": "Observation",
	"id": null,
	"version_id": null,
	"compartment": null,
	"operation": null,
	"params": {},
	"param_list": [],
	"param_facts": {"has": false, "chained": false, "names": []},
	"wants_xml": false,
	"facts": {"json_format": true, "id_valid": false, "param_facts_known": true},
}

request(overrides) := with_facts(with_param_facts(object.union(base_request, overrides)))

# The per-request facts Go precomputes (input.request.facts), worked out
# from req's other fields exactly as the policy's helper rules json_format,
# valid_id and param_facts_known did before Go took them over. Go's tests
# (policy/facts_test.go) compare Go's facts with these on every request of
# the golden corpus and on fuzzed requests; a test that changes a field a
# fact depends on recomputes the facts with with_facts.
with_facts(req) := object.union(req, {"facts": {
	"json_format": json_format(req),
	"id_valid": valid_id(req),
	"param_facts_known": param_facts_known(req),
}})

# The request says it wants JSON.
json_format(req) if {
	req.wants_xml == false
} else := false

# The request's id is a non-empty string.
valid_id(req) if {
	is_string(req.id)
	req.id != ""
} else := false

# request.param_facts has the shape the policy's parameter rules read.
param_facts_known(req) if {
	is_boolean(req.param_facts.has)
	is_boolean(req.param_facts.chained)
	is_array(req.param_facts.names)
} else := false

# The precomputed request.param_facts, from both params and param_list, so
# that tests may set either.
with_param_facts(req) := object.union(req, {"param_facts": {
	"has": count(has_params(req)) > 0,
	"chained": count(chained_params(req)) > 0,
	"names": sort(param_names(req)),
}})

has_params(req) := {key |
	some key, _ in req.params
	startswith(key, "_has:")
} | {p.name |
	some p in req.param_list
	p.has == true
}

chained_params(req) := {key |
	some key, _ in req.params
	not startswith(key, "_has:")
	contains(key, ".")
} | {p.name |
	some p in req.param_list
	p.has == false
	p.chain != ""
}

param_names(req) := {name |
	some key, _ in req.params
	name := regex.split("[:.]", key)[0]
} | {p.name | some p in req.param_list}

# param_list as Go builds it for plain parameters (no chain, no _has).
param_list(params) := [p |
	some key, values in params
	parts := split(key, ":")
	p := {
		"name": parts[0],
		"modifier": concat(":", array.slice(parts, 1, count(parts))),
		"chain": "",
		"has": false,
		"values": values,
	}
]

search(type, params) := request({
	"interaction": "search-type",
	"resource_type": type,
	"params": params,
	"param_list": param_list(params),
})

read(type, id) := request({"interaction": "read", "resource_type": type, "id": id})

compartment_search(compartment_type, compartment_id, type) := request({
	"interaction": "search-compartment",
	"resource_type": type,
	"compartment": {"type": compartment_type, "id": compartment_id},
})

everything(id, level) := request({
	"interaction": "operation",
	"resource_type": "Patient",
	"id": id,
	"operation": {"name": "$everything", "level": level},
})

inp(req, scopes) := {
	"request": req,
	"token": {"active": true, "scope": "patient/Observation.rs", "client_id": "client-a"},
	"scopes": scopes,
	"scope_index": scope_index(scopes),
	"patient": own_patient,
	"client": {"member_id": "org-sp-hospital-a", "thumbprint": "thumb"},
}

with_ids(input_doc, ids) := object.union(input_doc, {"patient": object.union(own_patient, {"ids": ids})})

param_value(d, name) := [p.value | some p in d.obligations.search_params; p.name == name]

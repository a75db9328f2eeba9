package fhir.pep_test

import data.fhir.pep

test_allowed_decision_shape if {
	d := pep.decision with input as inp(search("Observation", {"code": ["1234"]}), [lab_scope])
	d == {
		"allow": true,
		"status": 200,
		"reasons": [],
		"obligations": {
			"search_params": [
				{"name": "subject", "value": "Patient/pat-1"},
				{"name": "_security", "value": lab_query},
			],
			"read_as_search": false,
			"empty_result": false,
			"response": {
				"types": {"Observation": [canonical_lab]},
				"rules": [{
					"type": "Observation",
					"buckets": [canonical_lab],
					"constraints": [{"name": "_security", "value": lab}],
					"narrowed": true,
				}],
				"depths": {},
			},
		},
	}
}

test_denied_decision_shape if {
	d := pep.decision with input as inp(search("Observation", {}), [])
	d == {
		"allow": false,
		"status": 403,
		"reasons": ["scope_missing"],
		"obligations": {},
	}
}

test_allow_follows_decision if {
	pep.allow with input as inp(search("Observation", {}), [lab_scope])
	not pep.allow with input as inp(search("Observation", {}), [])
}

test_allow_defaults_to_false if {
	not pep.allow with input as {}
	d := pep.decision with input as {}
	d.allow == false
}

test_status_bad_request_first if {
	pep.status_for({"scope_missing", "param_not_allowed", "patient_not_found"}) == 400
}

test_status_forbidden_before_not_found if {
	pep.status_for({"scope_missing", "patient_not_found"}) == 403
}

test_status_not_found_alone if {
	pep.status_for({"patient_not_found"}) == 404
}

test_status_unknown_reason_forbidden if {
	pep.status_for({"custom_rule"}) == 403
}

test_reasons_sorted_and_combined if {
	req := search("Observation", {"_filter": ["x"], "subject.name": ["y"]})
	d := pep.decision with input as inp(req, [])
	d.allow == false
	d.status == 400
	d.reasons == ["chained_param_not_allowed", "param_not_allowed", "scope_missing"]
}

# When the grant settles the obligations, an allowed request's decision is
# the grant's allow_decision; when only the client's query settles them
# (a pinned scope), allow_decision is null and the decision is built for
# the request, with the same shape.
test_allow_decision_from_grant if {
	i := inp(read("Observation", "obs-1"), [lab_scope])
	d := pep.decision with input as i
	g := pep.scope_grant with input as i
	d.allow == true
	g.allow_decision == d
}

test_allow_decision_null_when_query_settles if {
	i := inp(search("Observation", {"_security": [lab], "category": ["laboratory"]}), [lab_and_category, measurements_scope])
	d := pep.decision with input as i
	g := pep.scope_grant with input as i
	d.allow == true
	g.allow_decision == null
	object.keys(d) == {"allow", "status", "reasons", "obligations"}
}

test_denied_despite_allow_decision if {
	i := inp(object.union(read("Observation", "obs-1"), {"facts": {"id_valid": false}}), [lab_scope])
	g := pep.scope_grant with input as i
	g.allow_decision != null
	d := pep.decision with input as i
	d.allow == false
	d.reasons == ["id_missing"]
}

package fhir.pep_test

import data.fhir.pep

test_capabilities_allowed if {
	d := pep.decision with input as inp(request({"interaction": "capabilities", "resource_type": null}), [])
	d.allow == true
	d.status == 200
	d.reasons == []
	d.obligations.search_params == []
}

test_capabilities_denied_for_xml if {
	d := pep.decision with input as inp(request({"interaction": "capabilities", "resource_type": null, "wants_xml": true}), [])
	d.allow == false
	d.status == 400
	d.reasons == ["format_not_supported"]
}

test_json_search_allowed if {
	d := pep.decision with input as inp(search("Observation", {}), [lab_scope])
	d.allow == true
}

test_xml_search_denied if {
	d := pep.decision with input as inp(request({"wants_xml": true}), [lab_scope])
	d.allow == false
	d.status == 400
	"format_not_supported" in d.reasons
}

test_missing_wants_xml_denied if {
	d := pep.decision with input as inp(with_facts(object.remove(base_request, ["wants_xml"])), [lab_scope])
	d.allow == false
	"format_not_supported" in d.reasons
}

test_unknown_interaction_denied if {
	d := pep.decision with input as inp(request({"interaction": "$weird"}), [lab_scope])
	d.allow == false
	d.status == 400
	"interaction_unknown" in d.reasons
}

test_refused_interactions_denied if {
	every interaction in ["create", "update", "patch", "delete", "history-type", "history-system", "search-system"] {
		d := pep.decision with input as inp(request({"interaction": interaction, "id": "obs-1"}), [scope("Observation", "cruds", {"_security": [lab]})])
		d.allow == false
		d.status == 403
		d.reasons == ["interaction_not_allowed"]
	}
}

test_search_type_allowed_with_all_permissions if {
	d := pep.decision with input as inp(search("Observation", {}), [scope("Observation", "cruds", {"_security": [lab]})])
	d.allow == true
}

test_type_missing_denied if {
	d := pep.decision with input as inp(request({"resource_type": null}), [lab_scope])
	d.allow == false
	d.status == 400
	"type_missing" in d.reasons
}

test_wildcard_type_in_request_denied if {
	d := pep.decision with input as inp(request({"resource_type": "*"}), [scope("*", "rs", {"_security": [lab]})])
	d.allow == false
	"type_missing" in d.reasons
}

test_read_without_id_denied if {
	d := pep.decision with input as inp(read("Observation", null), [lab_scope])
	d.allow == false
	d.status == 400
	"id_missing" in d.reasons
}

test_read_with_id_allowed if {
	d := pep.decision with input as inp(read("Observation", "obs-1"), [lab_scope])
	d.allow == true
}

test_has_param_list_denied if {
	req := request({"param_list": [{"name": "_has", "modifier": "", "chain": "", "has": true, "values": ["x"]}]})
	d := pep.decision with input as inp(req, [lab_scope])
	d.allow == false
	d.status == 400
	"has_param_not_allowed" in d.reasons
}

test_has_param_name_denied if {
	d := pep.decision with input as inp(request({"params": {"_has:Observation:patient:code": ["1234"]}}), [lab_scope])
	d.allow == false
	"has_param_not_allowed" in d.reasons
}

test_plain_param_allowed if {
	d := pep.decision with input as inp(search("Observation", {"code": ["1234"]}), [lab_scope])
	d.allow == true
}

test_chained_param_list_denied if {
	req := request({
		"params": {"subject:Patient": ["x"]},
		"param_list": [{"name": "subject", "modifier": "Patient", "chain": "name", "has": false, "values": ["x"]}],
	})
	d := pep.decision with input as inp(req, [lab_scope])
	d.allow == false
	d.status == 400
	"chained_param_not_allowed" in d.reasons
}

test_chained_param_name_denied if {
	d := pep.decision with input as inp(request({"params": {"subject.name": ["peter"]}}), [lab_scope])
	d.allow == false
	"chained_param_not_allowed" in d.reasons
}

test_reference_param_allowed if {
	d := pep.decision with input as inp(search("Observation", {"subject:Patient": ["pat-1"]}), [lab_scope])
	d.allow == true
}

test_filter_and_query_denied if {
	every name in ["_filter", "_query"] {
		d := pep.decision with input as inp(search("Observation", {name: ["x"]}), [lab_scope])
		d.allow == false
		d.status == 400
		d.reasons == ["param_not_allowed"]
	}
}

test_filter_allowed_when_not_in_data if {
	d := pep.decision with input as inp(search("Observation", {"_filter": ["x"]}), [lab_scope])
		with data.fhir.pep.denied_params as ["_query"]
	d.allow == true
}

test_iterate_includes_denied if {
	every name in ["_include:iterate", "_revinclude:iterate", "_include:recurse"] {
		d := pep.decision with input as inp(search("Observation", {name: ["Observation:has-member"]}), [lab_scope])
		d.allow == false
		d.reasons == ["param_not_allowed"]
	}
}

test_param_facts_missing_denied if {
	req := with_facts(object.remove(search("Observation", {}), ["param_facts"]))
	d := pep.decision with input as inp(req, [lab_scope])
	d.allow == false
	d.status == 400
	d.reasons == ["param_not_allowed"]
}

test_param_facts_mistyped_denied if {
	req := with_facts(object.union(search("Observation", {}), {"param_facts": {"has": "no", "chained": false, "names": []}}))
	d := pep.decision with input as inp(req, [lab_scope])
	d.allow == false
	d.reasons == ["param_not_allowed"]
}

test_denied_param_found_by_name if {
	req := object.union(search("Observation", {}), {"param_facts": {"has": false, "chained": false, "names": ["_query"]}})
	d := pep.decision with input as inp(req, [lab_scope])
	d.allow == false
	d.reasons == ["param_not_allowed"]
}

test_plain_include_allowed if {
	d := pep.decision with input as inp(search("Observation", {"_include": ["Observation:performer"]}), [lab_scope])
	d.allow == true
}

test_other_operation_denied if {
	every name in ["$graphql", "$export", "$validate"] {
		req := request({"interaction": "operation", "resource_type": null, "operation": {"name": name, "level": "system"}})
		d := pep.decision with input as inp(req, [lab_scope, patient_scope])
		d.allow == false
		d.status == 403
		"operation_not_allowed" in d.reasons
	}
}

test_everything_on_type_denied if {
	d := pep.decision with input as inp(everything(null, "type"), [patient_scope])
	d.allow == false
	"operation_not_allowed" in d.reasons
}

test_everything_on_own_patient_allowed if {
	d := pep.decision with input as inp(everything("pat-1", "instance"), [patient_scope])
	d.allow == true
}

test_everything_on_observation_denied if {
	req := object.union(everything("obs-1", "instance"), {"resource_type": "Observation"})
	d := pep.decision with input as inp(req, [lab_scope])
	d.allow == false
	"operation_not_allowed" in d.reasons
}

test_letters if {
	pep.letter == "r" with input as inp(read("Observation", "x"), [])
	pep.letter == "s" with input as inp(search("Observation", {}), [])
	pep.letter == "r" with input as inp(everything("pat-1", "instance"), [])
	pep.letter == "u" with input as inp(request({"interaction": "patch"}), [])
	pep.letter == "d" with input as inp(request({"interaction": "delete"}), [])
	pep.letter == "c" with input as inp(request({"interaction": "create"}), [])
	not pep.letter with input as inp(request({"interaction": "capabilities"}), [])
}

test_missing_interaction_denied if {
	d := pep.decision with input as inp(object.remove(base_request, ["interaction"]), [lab_scope])
	d.allow == false
	d.status == 400
	d.reasons == ["interaction_unknown"]
}

test_missing_request_denied if {
	d := pep.decision with input as object.remove(inp(base_request, [lab_scope]), ["request"])
	d.allow == false
	"interaction_unknown" in d.reasons
}

# The per-request facts (input.request.facts): each check denies unless its
# fact is exactly true, so a missing or mistyped fact denies.

test_fact_false_denied if {
	every fact, reason in {"json_format": "format_not_supported", "id_valid": "id_missing", "param_facts_known": "param_not_allowed"} {
		req := object.union(read("Observation", "obs-1"), {"facts": {fact: false}})
		d := pep.decision with input as inp(req, [lab_scope])
		d.allow == false
		d.status == 400
		d.reasons == [reason]
	}
}

test_fact_mistyped_denied if {
	every fact, reason in {"json_format": "format_not_supported", "id_valid": "id_missing", "param_facts_known": "param_not_allowed"} {
		every value in ["true", 1, {}, [true], null] {
			req := object.union(read("Observation", "obs-1"), {"facts": {fact: value}})
			d := pep.decision with input as inp(req, [lab_scope])
			d.allow == false
			d.reasons == [reason]
		}
	}
}

test_fact_missing_denied if {
	every fact, reason in {"json_format": "format_not_supported", "id_valid": "id_missing", "param_facts_known": "param_not_allowed"} {
		req := read("Observation", "obs-1")
		without := object.union(object.remove(req, ["facts"]), {"facts": object.remove(req.facts, [fact])})
		not fact in object.keys(without.facts)
		d := pep.decision with input as inp(without, [lab_scope])
		d.allow == false
		d.reasons == [reason]
	}
}

test_facts_missing_denied if {
	d := pep.decision with input as inp(object.remove(read("Observation", "obs-1"), ["facts"]), [lab_scope])
	d.allow == false
	d.status == 400
	d.reasons == ["format_not_supported", "id_missing", "param_not_allowed"]
}

test_facts_not_an_object_denied if {
	every facts in [true, [], "json_format", null] {
		d := pep.decision with input as inp(object.union(read("Observation", "obs-1"), {"facts": facts}), [lab_scope])
		d.allow == false
		d.reasons == ["format_not_supported", "id_missing", "param_not_allowed"]
	}
}

# A fact, not the field it summarises, decides: a request whose wants_xml
# says JSON but whose fact says otherwise is refused, and so is the reverse
# (the facts are Go's; it sends both, and its tests check they agree).
test_fact_decides_not_field if {
	xml_fact := object.union(read("Observation", "obs-1"), {"facts": {"json_format": false}})
	d1 := pep.decision with input as inp(xml_fact, [lab_scope])
	d1.reasons == ["format_not_supported"]
	xml_field := object.union(read("Observation", "obs-1"), {"wants_xml": true})
	d2 := pep.decision with input as inp(xml_field, [lab_scope])
	d2.allow == true
}

test_fixture_facts if {
	with_facts(base_request).facts == base_request.facts
	read("Observation", "obs-1").facts == {"json_format": true, "id_valid": true, "param_facts_known": true}
	read("Observation", "").facts.id_valid == false
	read("Observation", 7).facts.id_valid == false
	request({"wants_xml": true}).facts.json_format == false
	with_facts(object.remove(base_request, ["wants_xml"])).facts.json_format == false
	with_facts(object.remove(base_request, ["param_facts"])).facts.param_facts_known == false
}

test_batch_entry_facts_checked if {
	entry := object.union(read("Observation", "obs-1"), {"facts": {"json_format": true, "id_valid": "yes", "param_facts_known": true}})
	d := pep.decision with input as inp(request({"interaction": "batch", "resource_type": null, "entries": [entry]}), [lab_scope])
	d.allow == false
	"id_missing" in d.reasons
}

test_batch_facts_missing_denied if {
	req := object.remove(request({"interaction": "batch", "resource_type": null, "entries": [read("Observation", "obs-1")]}), ["facts"])
	d := pep.decision with input as inp(req, [lab_scope])
	d.allow == false
	"format_not_supported" in d.reasons
}

# The helper rules' old names hold exactly when their facts are true, for
# site rules written against them.
test_helper_names_follow_the_facts if {
	r := read("Observation", "obs-1")
	pep.json_format with input as inp(r, [lab_scope])
	pep.valid_id with input as inp(r, [lab_scope])
	pep.param_facts_known with input as inp(r, [lab_scope])
	every fact in ["json_format", "id_valid", "param_facts_known"] {
		every v in [false, "true", 1, null] {
			bad := object.union(r, {"facts": object.union(r.facts, {fact: v})})
			not helper_holds(fact) with input as inp(bad, [lab_scope])
		}
	}
}

helper_holds("json_format") if pep.json_format

helper_holds("id_valid") if pep.valid_id

helper_holds("param_facts_known") if pep.param_facts_known

package fhir.pep

# Batch and transaction: allowed only when every entry passes on its own.
# Each entry carries its own obligations in obligations.entries (same order).

batch_entries := input.request.entries if {
	is_array(input.request.entries)
} else := []

batch_size_ok if count(batch_entries) <= data.fhir.pep.max_batch_entries

entry_decisions := [d |
	some e in batch_entries
	d := single_decision with input.request as e
] if batch_size_ok

batch_deny contains "batch_empty" if count(batch_entries) == 0

batch_deny contains "batch_too_large" if not batch_size_ok

batch_deny contains "format_not_supported" if not input.request.facts.json_format == true

batch_deny contains "batch_entry_denied" if {
	some d in entry_decisions
	not d.allow == true
}

# Every entry must have a decision, or obligations.entries would not line up
# with the entries.
batch_deny contains "batch_entry_denied" if {
	batch_size_ok
	count(entry_decisions) != count(batch_entries)
}

batch_deny contains reason if {
	some d in entry_decisions
	some reason in d.reasons
}

batch_decision := {
	"allow": true,
	"status": 200,
	"reasons": [],
	"obligations": batch_obligations,
} if {
	count(batch_deny) == 0
} else := {
	"allow": false,
	"status": status_for(batch_deny),
	"reasons": sort(batch_deny),
	"obligations": {},
}

batch_obligations := {
	"search_params": [],
	"read_as_search": false,
	"empty_result": false,
	"response": {"types": batch_response_types},
	"entries": [d.obligations | some d in entry_decisions],
}

# The union over the entries, for a check of the whole batch-response Bundle.
batch_response_types := {key: sort(buckets) |
	some d in entry_decisions
	some key, _ in d.obligations.response.types
	buckets := {b |
		some other in entry_decisions
		some b in object.get(other.obligations.response.types, key, [])
	}
}

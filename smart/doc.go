// Package smart parses SMART App Launch resource scopes, versions 1 and 2
// (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html),
// into Scope values for the policy input. It imports neither Caddy nor OPA.
//
// # Accepted syntax
//
//	scope       = context "/" type "." permissions [ "?" constraints ]
//	context     = "patient" / "user" / "system"
//	type        = an R4 resource type (case-sensitive) / "*"
//	permissions = v2: non-empty subsequence of "cruds", in that order, no repeats
//	            / v1: "read" / "write" / "*"
//	constraints = param "=" value *( "&" param "=" value )      ; v2 only
//
// v1 permissions map onto v2 letters as the SMART v2 specification does:
// "read" is "rs", "write" is "cud" and "*" is "cruds". Patch is an update in
// SMART, so it needs "u" (and so v1 "write" allows it).
//
// # Malformed scopes are ignored, never widened
//
// Parse keeps only scopes that match the grammar exactly; anything else (wrong
// case, unknown type, "rsx", "sr", "rr", empty parts, a dangling "?") is
// dropped, and so are the non-resource scopes (openid, fhirUser, launch,
// launch/patient, offline_access, online_access, ...). Dropping a scope can
// only remove access, so in doubt a scope is dropped:
//
//   - v1 and v2 syntax cannot be mixed: a query ("?...") after a v1 permission
//     ("patient/Observation.read?category=x") makes the scope invalid.
//   - Constraint names must be valid FHIR search parameter names
//     (fhir.ValidParamName); values must be non-empty. Both are
//     percent-decoded strictly: a bad or incomplete escape, a double encoding
//     (a decoded %XX), control characters or invalid UTF-8 make the scope
//     invalid.
//   - A raw "+" in a constraint makes the scope invalid. In query syntax it
//     could mean a space or a plus (a timezone offset such as +02:00), and the
//     two readings give different filters; encode a plus as %2B, a space as %20.
//   - ";" and "#" in the constraints, and any character RFC 6749 forbids in a
//     scope token, make the scope invalid.
//
// Constraint values are kept as the decoded text, "system|code" and commas
// included, in request order for repeated parameters.
package smart

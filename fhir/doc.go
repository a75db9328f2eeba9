// Package fhir models FHIR R4 requests for the policy enforcement point: the
// R4 resource types, the Patient compartment, and a strict parser that turns a
// method, path, query, headers and body into a Request (interaction, type, id,
// compartment, operation, parameters). It imports neither Caddy nor OPA.
//
// # One canonical form
//
// The enforcement point and the upstream FHIR server must never disagree about
// what a request means. The parser therefore accepts each request in exactly
// one spelling and rejects the rest; it never normalises. Rejections are
// *Error values with a low-cardinality Reason (see errors.go).
//
// Path (relative to the configured FHIR base; "" or "/" is the base itself):
//
//   - Pass the escaped path, http.Request.URL.EscapedPath() minus the base.
//   - Only the bytes [A-Za-z0-9-._$*] and "/" may appear. Every legal FHIR
//     path is made of type names, ids ([A-Za-z0-9\-\.]{1,64}), "$operation"
//     names, "_history", "_search", "metadata" and "*", so percent-encoding is
//     never needed and any "%" is rejected. This one rule rejects encoded
//     slashes and backslashes (%2F, %5C), encoded dots (%2E), double encoding
//     (%25), matrix parameters (";"), raw backslashes, NUL and other control
//     characters, spaces and non-ASCII (hence non-UTF-8) bytes:
//     ErrNonCanonicalPath. A client must send "$everything", not "%24everything".
//   - Empty segments ("//", a trailing "/") and dot segments ("." and "..")
//     are ErrNonCanonicalPath.
//   - Resource types are matched case-sensitively against the R4 list
//     ("observation" is ErrUnknownResourceType); ids and version ids must match
//     [A-Za-z0-9\-\.]{1,64} (ErrInvalidID); operations must be "$" followed by
//     [A-Za-z][A-Za-z0-9_-]{0,63} (ErrInvalidOperation).
//
// Query string and POST _search form body (both application/x-www-form-urlencoded):
//
//   - Only printable ASCII may appear raw. ";" is rejected: it is a pair
//     separator for some servers and a parameter-smuggling vector. "#" cannot
//     appear. Non-ASCII text must be percent-encoded UTF-8.
//   - Pairs are separated by "&" only; every pair needs a non-empty name and a
//     "=" (an empty value is kept as one empty value). Empty pairs ("a=1&&b=2",
//     a trailing "&") are rejected. At most MaxParams pairs.
//   - "+" decodes to a space, as in HTML forms and as FHIR servers (HAPI, Go's
//     net/url) treat queries. A literal plus, as in a timezone offset
//     "2024-01-01T10:00:00+02:00", must be sent as %2B. CanonicalQuery always
//     emits %20 and %2B, never "+".
//   - %XX escapes must be complete and hexadecimal. A decoded name or value
//     that still contains a valid %XX escape is double encoding and is
//     rejected, as are decoded control characters and invalid UTF-8.
//   - Names must be code[:modifier][.code[:modifier]...] with code
//     [A-Za-z_][A-Za-z0-9_-]* and modifier [A-Za-z0-9_-]+, or a reverse chain
//     _has:Type:param:param (nested _has allowed): ErrInvalidParamName.
//   - Values are split on "," into alternatives; "\," does not split. A "\"
//     must escape one of , | $ \ (else ErrInvalidQuery). Escapes are kept in
//     the values, so the values re-join to the raw value exactly.
//
// Everything else in a query or form body is ErrInvalidQuery.
//
// # Interactions
//
//	GET    /metadata                      capabilities
//	GET    ""  (?params)                  search-system
//	POST   /_search (form body)           search-system
//	POST   ""  (Bundle batch|transaction) batch / transaction
//	GET    /_history                      history-system
//	GET    /Type                          search-type
//	POST   /Type/_search (form body)      search-type
//	POST   /Type                          create (Conditional with If-None-Exist)
//	PUT|PATCH|DELETE /Type?criteria       update / patch / delete, Conditional
//	GET    /Type/_history                 history-type
//	GET    /Type/id                       read
//	PUT    /Type/id                       update
//	PATCH  /Type/id                       patch
//	DELETE /Type/id                       delete
//	GET    /Type/id/_history              history-instance
//	GET    /Type/id/_history/vid          vread
//	GET    /Comp/id/Type, /Comp/id/*      search-compartment (Comp: Patient,
//	POST   /Comp/id/Type/_search          Encounter, RelatedPerson, Practitioner, Device)
//	GET|POST /$op, /Type/$op, /Type/id/$op  operation (system, type, instance level)
//
// Any other method (HEAD, OPTIONS, ...) or shape is ErrUnsupportedRequest. A
// body on GET or DELETE is ErrInvalidBody. A POST _search body must be a form
// (ErrUnsupportedMediaType); its parameters follow the query's in
// Request.Params and the interaction stays search-type (or -system, or
// -compartment). A batch/transaction body must be a FHIR JSON Bundle with
// exact-case keys and no duplicate keys; ParseBundleEntries returns each
// entry's method and URL so every entry is checked like a top-level request.
//
// # Re-encoding
//
// CanonicalPath and CanonicalQuery render a Request back to the one accepted
// form; parsing them again yields an equal Request (checked by
// FuzzParseRequest). The narrowing step appends parameters with AddParam and
// then calls CanonicalQuery.
package fhir

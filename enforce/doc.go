// Package enforce checks upstream FHIR JSON bodies before they leave the
// PEP: defence in depth behind the query narrowing. An upstream that ignores
// a search parameter, or data with wrong or missing labels, must still leak
// nothing. The package uses the standard library only.
//
// # Use
//
// Build an Enforcer once from the static Config (compartment definition,
// bucket system aliases, limits, base URLs), then bind it to each request's
// Scope (the patient's upstream Patient ids and the granted buckets per
// type) with Enforcer.Access. Both are immutable and safe for concurrent use.
//
//   - Access.CheckResource: a read or vread response. Allowed: send the body
//     unchanged. Not allowed: answer 404 with NotFoundBody. Error: 502.
//   - Access.FilterBundle / AppendFilterBundle: a search, history,
//     $everything or batch response. Send the returned body. Error: 502.
//     FilterBundleEdited gives the same answer as the upstream's body and
//     the check's edits (Edited), to be written out in chunks without
//     rebuilding a big Bundle in memory first.
//   - Enforcer.RewriteLocation: Location and Content-Location headers.
//   - SanitizeOperationOutcome: any upstream OperationOutcome (error answers).
//   - NotFoundBody: the one body of every 404, real or not.
//
// # Buffering
//
// The handler buffers the whole upstream body, up to Config.MaxBytes
// (default 32 MiB; a longer body is ErrTooLarge), before calling this
// package, and sends nothing until the check has returned. No partial body is
// ever sent: a body that fails anywhere, even in its last byte, fails whole.
//
// # Parsing
//
// Bodies are read by a hand-written scanner over the byte slice, not decoded
// into maps. It is strict: RFC 8259 JSON, valid UTF-8, no lone UTF-16
// surrogate escapes, nesting at most Config.MaxDepth (default 64; the
// outermost value is depth 1), one value and white space only. It is a
// subset of what encoding/json accepts.
//
// Duplicate keys anywhere in the body are an error (ErrDuplicateKey), not
// only in the members the check reads: encoding/json silently keeps the last
// of two equal keys, and a checker reading the first could be bypassed.
// Keys count as equal after unescaping ("id" and "\u0069d") and under the
// case folding encoding/json applies to struct fields ("subject",
// "Subject" and "ſubject" are one Go field). Consistently, the checker
// matches member names with that same folding, so it reads what a lenient
// client would read. Valid FHIR never has two keys that fold alike.
//
// # Resources
//
// A resource passes when, in this order (the first failure names the Reason):
//
//  1. it is an object with a resourceType string that is a valid type name
//     (else not_a_resource); Bundle and Parameters never pass as a single
//     resource, their content being other resources (unsupported_type);
//  2. its type, or "*", is granted (else type_not_granted);
//  3. it is the patient's:
//     - a Patient passes only if its id is one of Scope.PatientIDs (the
//     compartment's Patient.link rule is not used: another patient's
//     record linking to ours is still another patient's);
//     - a type in Config.Compartment passes only if every Patient
//     reference on its compartment paths is one of the patient's ids and
//     there is at least one (stricter than FHIR's compartment rule, which
//     is "any": an Observation of another patient in which ours is only the
//     performer, a CareTeam listing ours as a participant, a Communication
//     sent to ours, a Coverage ours subscribes to for someone else, a
//     Composition ours authored about someone else are the other patient's
//     records, and _revinclude or $everything must not carry them out);
//     other_patient when some element references another Patient or an
//     element on the paths is malformed next to an own reference,
//     no_patient_reference when none references the patient;
//     - only the configured paths are read: a Patient reference elsewhere
//     in a compartment resource (Observation.focus, an extension) neither
//     helps nor hurts;
//     - any other type (Practitioner, Organization, Location, Medication,
//     Substance, Person, Linkage...) is outside the compartment and needs no
//     reference to the patient, but it must not name another patient
//     anywhere: every "reference" string in it, at any depth (except inside
//     its contained resources, which are checked on their own), is read,
//     and one that names another patient withholds it (other_patient).
//     This keeps Person.link or Linkage.item from carrying other patients'
//     ids out under a bucket label;
//  4. one of its meta.security codings is a granted bucket for its type or
//     "*" (else no_bucket). No label means not granted. Systems are compared
//     after alias normalisation (by default the IG's il-hdp-information-buckets
//     and the seed's hdp-information-buckets are one system), codes with ASCII
//     case folding only ("laboratoryTests" matches "LaboratoryTests", while
//     non-ASCII look-alikes do not fold);
//  5. its contained resources pass (else contained_rejected, see below).
//
// With Scope.Rules or Scope.Depths, step 4 is decided by rules instead (see
// Rules below): a rule for the type or "*" must grant one of its buckets
// (else no_bucket), within that bucket's depth (else
// before_historical_depth), and all the rule's constraints must hold (else
// constraint_not_met).
//
// A reference is the patient's ("own") only in the strict forms
// "Patient/<id>" and "Patient/<id>/_history/<vid>", with an exact,
// case-sensitive id, either relative or absolute under UpstreamBase or
// PublicBase (both name this server; a base matches only at a boundary, so
// ".../fhirx/Patient/a" is not under ".../fhir"). "Patient/ab" does not
// match "Patient/a". A reference is another patient's whenever Patient is
// its type segment in any other way: other servers' absolute URLs (the same
// id on another server is another patient), "patient/a", "Patient/a/",
// "Patient?identifier=...". A logical reference (an identifier without a
// reference, and no type or type Patient) cannot be proven to be this
// patient and counts as another patient's. Reference strings are unescaped
// before they are read ("Patient\/a" is "Patient/a").
//
// # Rules: scope constraints on every path
//
// A Rule is one SMART scope: a type (or "*"), its granted buckets, and its
// query constraints. A parameter repeated in the scope is two constraints
// and both must hold (AND, as in FHIR search: _security=A&_security=B lets
// out only resources labelled A and B); comma items inside one value are
// alternatives (OR). A resource passes when some rule passes. The rules are
// checked on every resource that leaves, whichever path brought it: search
// matches, _include and _revinclude results, read, vread and history of old
// versions, $everything. Contained resources are covered by their parent.
//
// What is verified on the resource (searchparams.go, the elements of the R4
// SearchParameter expressions):
//
//   - _security: against meta.security (bucket systems as aliases, bucket
//     codes case-insensitively, other labels exactly);
//   - token parameters listed per type (category, code, status, class, type,
//     intent, clinical-status, ...): code, Coding and CodeableConcept
//     elements, FHIR token matching ("code", "system|code", "|code",
//     "system|"), codes exactly;
//   - date parameters listed per type (Observation date = effective[x],
//     Encounter date = period, ...) with a date value without time and any
//     prefix but "ap", compared by calendar day as written (a dateTime's day
//     is the day in its own time zone): ge keeps a target that reaches the
//     day, le one that starts by it, eq one inside it, and so on.
//
// Anything else cannot be verified: a parameter not listed for the type, a
// modifier (code:text, _security:not), a date with a time, "ap", a
// choice type the check does not read (effectiveTiming, onsetString). Such a
// constraint fails, so the resource is withheld (a vread or a read answers
// 404; a history, $everything or _include entry is removed) - except for the
// searchset match entries of a search of FilterOptions.NarrowedType whose
// upstream query carried the constraint (Rule.Narrowed): those the upstream
// selected with it, and they keep passing as before. A verifiable constraint
// is checked on match entries too.
//
// # Historical depth
//
// Scope.Depths gives buckets a lower bound on the clinical date
// (historical_depth from the PCM baskets claim). The clinical date of a type
// is the R4 clinical-date search parameter's elements (Observation
// effective[x], Encounter period, Procedure performed[x], AllergyIntolerance
// recordedDate, Immunization occurrence[x], ...; Condition: the earlier of
// onset[x] and recordedDate; MedicationRequest authoredOn; the table is
// clinicalDates, with ClinicalDateParams the search parameter the policy
// narrows with). The resource's date is the earliest day any of those
// elements can denote ("2024" is 2024-01-01, a Period its start). Under a
// bucket with a depth a resource passes only when that date is known and on
// or after the bound: no element, an element the check cannot read
// (effectiveTiming, performedString), or a Period without start withholds
// it, and so does every type without a clinical date. A resource carrying
// another granted bucket without a depth still passes under that bucket.
//
// # Forbidden labels
//
// Config.ForbiddenLabels (VLabel, http://fhir.health.gov.il/cs/il-core-main-security-label|V,
// is always one of them) are security labels that must never leave. A
// meta.security coding with a forbidden label on any resource the checker
// walks (the read resource, any Bundle entry of any mode, any contained
// resource), even one that would be withheld anyway, makes the whole call
// fail with ErrForbiddenLabel: the upstream ignored the _security:not the
// handler adds to every search, and nothing of that answer may be trusted.
// The system compares exactly, the code with ASCII case folding.
//
// # Contained resources
//
// Contained resources are covered by their parent's bucket label and type
// grant, with these rules, any failure withholding the whole parent:
//
//   - a contained Patient is rejected (its id is local, so it can never be
//     shown to be our patient; it is typically someone else's demographics);
//   - a contained Bundle or Parameters, a contained resource that itself has
//     a contained member, or a contained member that is not an array of
//     resources, is rejected;
//   - a contained resource of a compartment type is rejected if any element
//     on its compartment paths references another patient (as above), or is
//     malformed (not an object, a reference or type that is not a string);
//     references to our patient, to other types or to "#local" are fine, and
//     so is having none; a contained resource outside the compartment is
//     rejected if any reference in it names another patient;
//   - a contained resource that carries bucket labels of its own (codings in
//     a bucket system) needs one granted for its own type, its parent's type
//     or "*"; without bucket labels it inherits the parent's.
//
// # Bundles
//
// FilterBundle accepts Bundles of type searchset, history, batch-response,
// transaction-response and collection (for $everything); anything else, or
// a Bundle whose entry or link is not an array, is ErrInvalidBundle.
//
//   - Every entry.resource is checked as above, whatever its search.mode:
//     _include and _revinclude results ("include") get the same check.
//   - A failing entry is removed whole: fullUrl, search, request, response
//     and all. In batch-response and transaction-response Bundles, whose
//     entries answer the request entries by position, it is replaced by
//     {"response":{"status":"404 Not Found","outcome":<NotFoundBody>}}
//     instead, the same answer as for a resource that does not exist.
//   - An entry without a resource is removed from searchset, history (e.g. a
//     deleted version, which would reveal an id) and collection Bundles
//     (no_resource); it is kept in batch/transaction responses.
//   - An OperationOutcome entry resource, and every entry.response.outcome,
//     is replaced by its SanitizeOperationOutcome form: upstream diagnostics
//     can echo another patient's data.
//   - If every entry goes, the entry member is removed (FHIR JSON has no
//     empty arrays), or holds only the annotation.
//   - FilterOptions.AnnotateWithheld adds to a searchset from which something
//     was withheld one entry with search.mode "outcome" and an
//     OperationOutcome with one issue, severity information, code suppressed.
//
// Bundle.total is a count, and a count can reveal withheld data; so can
// whether it is there at all (a total dropped only when something was
// withheld says that something was). One rule, whatever was withheld: on a
// single page (no next, prev or previous link, even a removed one) whose
// total is a plain non-negative integer equal to the number of match
// entries the upstream sent (search.mode match or absent, with a resource,
// not an OperationOutcome), total is rewritten to the number of those that
// leave; every other total (several pages, _summary=count, a count that
// disagrees with the page, not an integer) is removed (Stats.TotalDropped).
// Its presence thus depends only on what the upstream sent, and its value
// says nothing the entries do not.
//
// Links: Bundle.link and entry.link URLs under UpstreamBase are rewritten to
// PublicBase; URLs already under PublicBase stay; every other link (other
// hosts, relative, no url) is removed, so a client can only follow links
// back through the PEP, where the followed page is checked again. Only
// link.url, entry.fullUrl and entry.response.location are rewritten;
// fullUrl and location values not under UpstreamBase are left as they are.
// With FilterOptions.Links the caller rewrites the top-level Bundle.link
// (the PEP seals its paging links) in the same walk: the upstream's array
// is validated like every other value, replaced by the caller's, and the
// replacement then goes through the same link check. The body is never
// scanned a second time for it.
//
// The output is the input with byte-range edits applied: untouched parts are
// copied byte for byte and never re-serialised, and a Bundle that needs no
// change is returned as the very input slice. Filtering an output again
// changes nothing.
//
// # Cost
//
// One pass over the body, no tree, no per-value allocation: the scanner
// validates strings sixteen bytes at a time; the values the walkers skip
// compare the keys of a small object (up to eight plain ones) directly,
// and the other objects go through a per-object 64-bit bloom mask before
// comparing keys. Scratch state is
// pooled; AppendFilterBundle with a reused buffer, and FilterBundleEdited
// into a reused Edited, allocate nothing.
package enforce

package enforce

import "bytes"

// refKind classifies a Reference.reference string.
type refKind uint8

const (
	refOther   refKind = iota // not a Patient reference (another type, "#local", urn:...)
	refOwn                    // Patient/<one of the scope's ids>, on this server
	refForeign                // any other reference that names a Patient
)

// classify decides what a reference points to. Ownership is strict:
// "Patient/<id>" or "Patient/<id>/_history/<vid>", relative, or absolute under
// UpstreamBase or PublicBase (both name this server), with an exact,
// case-sensitive id. Foreignness is broad: any other reference with a path
// segment that case-insensitively reads "Patient" (absolute URLs of other
// servers, "patient/x", malformed ids) counts as pointing to another patient.
func (a *Access) classify(ref []byte) refKind {
	rel, ok := ref, true
	if hasScheme(ref) {
		ok = false
		for _, b := range [2]string{a.e.upstream.url, a.e.public.url} {
			if rest, under := underBase(ref, b); under && len(rest) > 0 && rest[0] == '/' {
				rel, ok = rest[1:], true
				break
			}
		}
	}
	if ok {
		if id, strict := strictPatientRef(rel); strict && a.isPatient(id) {
			return refOwn
		}
	}
	if mentionsPatient(ref) {
		return refForeign
	}
	return refOther
}

// hasScheme reports an absolute URI ("scheme:..."), or a network-path
// reference ("//host/...").
func hasScheme(ref []byte) bool {
	if len(ref) >= 2 && ref[0] == '/' && ref[1] == '/' {
		return true
	}
	for i, c := range ref {
		switch {
		case c == ':':
			return i > 0
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		case i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return false
}

// strictPatientRef parses "Patient/<id>[/_history/<vid>]".
func strictPatientRef(rel []byte) ([]byte, bool) {
	const prefix = "Patient/"
	if len(rel) <= len(prefix) || string(rel[:len(prefix)]) != prefix {
		return nil, false
	}
	rest := rel[len(prefix):]
	n := 0
	for n < len(rest) && idChar(rest[n]) {
		n++
	}
	id := rest[:n]
	if n == 0 || n > 64 {
		return nil, false
	}
	rest = rest[n:]
	if len(rest) == 0 {
		return id, true
	}
	const hist = "/_history/"
	if len(rest) <= len(hist) || string(rest[:len(hist)]) != hist {
		return nil, false
	}
	vid := rest[len(hist):]
	if len(vid) > 64 {
		return nil, false
	}
	for _, c := range vid {
		if !idChar(c) {
			return nil, false
		}
	}
	return id, true
}

// historySegment is the version tail mentionsPatient cuts.
var historySegment = []byte("/_history")

// mentionsPatient reports whether the reference names a Patient in type
// position, in any letter case: after cutting a query or fragment, a
// "/_history..." tail and trailing slashes, the second-to-last segment is
// "Patient" ("Patient/x", ".../Patient/x", "patient/x/"), or the only or
// queried segment is ("Patient", "Patient?identifier=..."). An id that
// happens to read "patient" ("Practitioner/patient") does not count.
func mentionsPatient(ref []byte) bool {
	p, queried := ref, false
	if i := bytes.IndexAny(p, "?#"); i >= 0 {
		p, queried = p[:i], true
	}
	// The first "/_history" that is a whole segment; the library search
	// rather than a compare per byte, since every reference of a deep
	// scan comes through here.
	for off := 0; ; {
		i := bytes.Index(p[off:], historySegment)
		if i < 0 {
			break
		}
		if i += off; len(p) == i+len(historySegment) || p[i+len(historySegment)] == '/' {
			p = p[:i]
			break
		}
		off = i + 1
	}
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	if i := bytes.LastIndexByte(p, '/'); i >= 0 {
		last, before := p[i+1:], p[:i]
		if j := bytes.LastIndexByte(before, '/'); j >= 0 {
			before = before[j+1:]
		}
		if keyIs(before, "Patient") {
			return true
		}
		return queried && keyIs(last, "Patient")
	}
	return keyIs(p, "Patient")
}

// patientTypeName reports whether a Reference.type names Patient, as a bare
// type or as a StructureDefinition URL ending in "/Patient".
func patientTypeName(t []byte) bool {
	if keyIs(t, "Patient") {
		return true
	}
	const suffix = "/Patient"
	return len(t) > len(suffix) && keyIs(t[len(t)-len(suffix):], suffix)
}

package introspection

import (
	"encoding/binary"
	"encoding/json"
	"iter"
	"maps"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The "fhirContext" member in compact form. Its shape (how many entries,
// their type, role, canonical and identifier system) is usually the same
// for every token of a client, while each entry's "reference" and its
// identifier's "value" (a string or a number) name this token's Consent.
// So the shape is a ctxPiece, interned like a profile, and the references
// and identifier values are the token's own slot values, in entry order.

// identKind is how an entry's "identifier" is kept.
type identKind uint8

const (
	identNone   identKind = iota // no identifier
	identShared                  // identifier without a string or number value: all shared
	identString                  // value is a string slot
	identNumber                  // value is a number slot (its JSON text)
)

// ctxEntry is the shared shape of one fhirContext entry.
type ctxEntry struct {
	typ    string         // "type" ("" when absent)
	raw    map[string]any // members but reference and a slotted identifier, read only
	items  [][2]*ast.Term // raw as terms
	hasRef bool           // "reference" is a slot
	ident  identKind
	// identRaw and identItems are the identifier's members but its
	// value, for identString and identNumber.
	identRaw   map[string]any
	identItems [][2]*ast.Term
}

// slots is the number of slot values the entry takes.
func (e *ctxEntry) slots() int {
	n := 0
	if e.hasRef {
		n++
	}
	if e.ident == identString || e.ident == identNumber {
		n++
	}
	return n
}

// ctxPiece is the shared shape of "fhirContext"; entries is nil when PCM
// sent none (present says whether it sent the member at all).
type ctxPiece struct {
	present bool
	entries []ctxEntry
}

// noContext is the ctxPiece of answers without fhirContext.
var noContext = &ctxPiece{}

// splitContext splits a decoded (and checked) fhirContext into its shape,
// the canonical key of that shape, and the slot values.
func splitContext(list []map[string]any) (piece *ctxPiece, key []byte, vals []string, ok bool) {
	piece = &ctxPiece{present: true, entries: make([]ctxEntry, len(list))}
	e := canonEncoder{buf: make([]byte, 0, 256)}
	e.tag(canonArray)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(list)))
	for i, obj := range list {
		ce := &piece.entries[i]
		ce.typ, _ = obj["type"].(string)
		ce.raw = maps.Clone(obj)
		if ref, has := obj["reference"].(string); has {
			ce.hasRef = true
			vals = append(vals, ref)
			delete(ce.raw, "reference")
		}
		if id, has := obj["identifier"].(map[string]any); has {
			ce.ident = identShared
			switch v := id["value"].(type) {
			case string:
				ce.ident = identString
				vals = append(vals, v)
			case json.Number:
				ce.ident = identNumber
				vals = append(vals, string(v))
			}
			if ce.ident != identShared {
				delete(ce.raw, "identifier")
				ce.identRaw = maps.Clone(id)
				delete(ce.identRaw, "value")
			}
		}
		if !e.value(ce.raw) || !e.value(ce.identRaw) {
			return nil, nil, nil, false
		}
		e.tag(boolTag(ce.hasRef))
		e.tag(byte(ce.ident))
	}
	return piece, e.buf, vals, true
}

func boolTag(b bool) byte {
	if b {
		return canonTrue
	}
	return canonFalse
}

// render fills the AST items of a new piece.
func (p *ctxPiece) render() error {
	for i := range p.entries {
		ce := &p.entries[i]
		var err error
		if ce.items, err = objectItems(ce.raw); err != nil {
			return err
		}
		if ce.identItems, err = objectItems(ce.identRaw); err != nil {
			return err
		}
	}
	return nil
}

func objectItems(m map[string]any) ([][2]*ast.Term, error) {
	items := make([][2]*ast.Term, 0, len(m))
	for _, k := range sortedNames(m) {
		v, err := ast.InterfaceToValue(m[k])
		if err != nil {
			return nil, err
		}
		items = append(items, ast.Item(ast.StringTerm(k), ast.NewTerm(v)))
	}
	return items, nil
}

var (
	termReference  = ast.StringTerm("reference")
	termIdentifier = ast.StringTerm("identifier")
	termValue      = ast.StringTerm("value")
)

// term renders fhirContext with the token's slot values.
func (p *ctxPiece) term(vals slotCursor) *ast.Term {
	terms := make([]*ast.Term, len(p.entries))
	for i := range p.entries {
		ce := &p.entries[i]
		items := make([][2]*ast.Term, 0, len(ce.items)+2)
		items = append(items, ce.items...)
		if ce.hasRef {
			items = append(items, ast.Item(termReference, ast.StringTerm(vals.next())))
		}
		switch ce.ident {
		case identString, identNumber:
			var v *ast.Term
			if ce.ident == identString {
				v = ast.StringTerm(vals.next())
			} else {
				v = ast.NumberTerm(json.Number(vals.next()))
			}
			id := make([][2]*ast.Term, 0, len(ce.identItems)+1)
			id = append(id, ce.identItems...)
			id = append(id, ast.Item(termValue, v))
			items = append(items, ast.Item(termIdentifier, ast.ObjectTerm(id...)))
		}
		terms[i] = ast.ObjectTerm(items...)
	}
	return ast.ArrayTerm(terms...)
}

// contextEntry is one fhirContext entry as ConsentRef reads it.
type contextEntry struct {
	hasRef    bool
	typ, ref  string
	idValue   string // string or number text of identifier.value
	idIsValue bool   // identifier.value is a string or a number
}

// contextEntries walks the entries with the token's slot values.
func (c *Claims) contextEntries() iter.Seq[contextEntry] {
	return func(yield func(contextEntry) bool) {
		vals := c.ctxVals()
		for i := range c.ctxPiece.entries {
			ce := &c.ctxPiece.entries[i]
			e := contextEntry{typ: ce.typ}
			if ce.hasRef {
				e.hasRef, e.ref = true, vals.next()
			}
			if ce.ident == identString || ce.ident == identNumber {
				e.idValue, e.idIsValue = vals.next(), true
			}
			if !yield(e) {
				return
			}
		}
	}
}

// ContextReferences yields the "reference" of every fhirContext entry that
// has one, in order, without allocating.
func (c *Claims) ContextReferences() iter.Seq[string] {
	return func(yield func(string) bool) {
		for e := range c.contextEntries() {
			if e.hasRef && !yield(e.ref) {
				return
			}
		}
	}
}

// FHIRContext is "fhirContext" as decoded JSON objects ({reference, type,
// role, canonical, identifier}); nil when PCM sent none. It is built on
// every call (for tools and tests); the request path reads ConsentRef and
// ContextReferences.
func (c *Claims) FHIRContext() []map[string]any {
	if c.ctxPiece == nil || !c.ctxPiece.present {
		return nil
	}
	out := make([]map[string]any, 0, len(c.ctxPiece.entries))
	vals := c.ctxVals()
	for i := range c.ctxPiece.entries {
		ce := &c.ctxPiece.entries[i]
		m := maps.Clone(ce.raw)
		if m == nil {
			m = map[string]any{}
		}
		if ce.hasRef {
			m["reference"] = vals.next()
		}
		switch ce.ident {
		case identString, identNumber:
			id := maps.Clone(ce.identRaw)
			if id == nil {
				id = map[string]any{}
			}
			if ce.ident == identString {
				id["value"] = vals.next()
			} else {
				id["value"] = json.Number(vals.next())
			}
			m["identifier"] = id
		}
		out = append(out, m)
	}
	return out
}

// consentRef is ConsentRef's search of fhirContext: the reference (or,
// without one, the identifier value) of the first entry of type Consent
// or whose reference names a Consent.
func (c *Claims) consentRef() string {
	for e := range c.contextEntries() {
		if e.typ != "Consent" && !strings.HasPrefix(e.ref, "Consent/") && !strings.Contains(e.ref, "/Consent/") {
			continue
		}
		if e.ref != "" {
			return e.ref
		}
		if e.idIsValue && e.idValue != "" {
			return e.idValue
		}
	}
	return ""
}

// The token's own rarely present values are one string, own: the packed
// fhirContext slot values, then the JSON object of unmodelled members
// (usually both empty). Packed: uvarint(length of the slot part), then
// per slot uvarint(length) and its bytes. Being one string, it is
// interned like a profile when tokens repeat it (a fhirContext without
// per-token values), and costs one allocation when they do not.

// packOwn builds own from the slot values and the unmodelled members.
func packOwn(vals []string, extra string) string {
	if len(vals) == 0 && extra == "" {
		return ""
	}
	var slots []byte
	for _, v := range vals {
		slots = binary.AppendUvarint(slots, uint64(len(v)))
		slots = append(slots, v...)
	}
	out := binary.AppendUvarint(make([]byte, 0, len(slots)+len(extra)+4), uint64(len(slots)))
	out = append(out, slots...)
	return string(append(out, extra...))
}

// splitOwn returns the slot part and the unmodelled members of own; both
// empty when own is malformed, which packOwn never builds.
func splitOwn(own string) (slotCursor, string) {
	if own == "" {
		return "", ""
	}
	n, k := uvarint(own)
	if k <= 0 || n > uint64(len(own)-k) {
		return "", ""
	}
	return slotCursor(own[k : k+int(n)]), own[k+int(n):]
}

// slotCursor reads packed slot values in order, without allocating.
type slotCursor string

// next returns the next value; "" past the end (never read: the shape
// says how many values there are).
func (s *slotCursor) next() string {
	n, k := uvarint(string(*s))
	if k <= 0 || n > uint64(len(*s)-k) {
		*s = ""
		return ""
	}
	v := string((*s)[k : k+int(n)])
	*s = (*s)[k+int(n):]
	return v
}

// uvarint is binary.Uvarint on a string (which it would copy).
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

func (c *Claims) ctxVals() slotCursor {
	slots, _ := splitOwn(c.own)
	return slots
}

package enforce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// oracle is a second, deliberately naive implementation of the rules on top
// of encoding/json, used to check FilterBundle and CheckResource on random
// and fuzzed input. Keys are folded the way encoding/json matches struct
// fields, so "Subject" is read as subject, as a lenient client would.
type oracle struct {
	patients    map[string]bool
	grants      map[string][]Bucket
	compartment map[string][][]string
	aliases     map[string]string
}

func newOracle() *oracle {
	o := &oracle{
		patients:    map[string]bool{ownID: true, ownID2: true},
		grants:      testGrants(),
		compartment: testCompartment(),
		aliases:     map[string]string{},
	}
	for _, group := range DefaultSystemAliases() {
		for _, s := range group {
			o.aliases[s] = group[0]
		}
	}
	return o
}

func fold(k string) string { return string(appendFolded(nil, []byte(k))) }

// decodeFolded decodes JSON with every object key folded.
func decodeFolded(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return foldTree(v), nil
}

func foldTree(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fold(k)] = foldTree(x)
		}
		return m
	case []any:
		for i := range t {
			t[i] = foldTree(t[i])
		}
	}
	return v
}

func (o *oracle) system(s string) string {
	if c, ok := o.aliases[s]; ok {
		return c
	}
	return s
}

func (o *oracle) typeGrants(typ string) ([]Bucket, bool) {
	own, ok1 := o.grants[typ]
	star, ok2 := o.grants["*"]
	return append(append([]Bucket(nil), own...), star...), ok1 || ok2
}

func (o *oracle) granted(grants []Bucket, sys, code string) bool {
	for _, g := range grants {
		if o.system(g.System) == o.system(sys) && asciiFoldEqual([]byte(g.Code), []byte(code)) {
			return true
		}
	}
	return false
}

func (o *oracle) isBucketSystem(sys string) bool {
	if _, ok := o.aliases[sys]; ok {
		return true
	}
	for _, list := range o.grants {
		for _, g := range list {
			if g.System == sys {
				return true
			}
		}
	}
	return false
}

func (o *oracle) codings(m map[string]any) [][2]string {
	meta, _ := m[fold("meta")].(map[string]any)
	sec, _ := meta[fold("security")].([]any)
	var out [][2]string
	for _, c := range sec {
		cm, _ := c.(map[string]any)
		sys, ok1 := cm[fold("system")].(string)
		code, ok2 := cm[fold("code")].(string)
		if ok1 && ok2 {
			out = append(out, [2]string{sys, code})
		}
	}
	return out
}

// refs returns the reference elements on the compartment paths of m, and
// whether some step had an unexpected shape.
func (o *oracle) refs(typ string, m map[string]any) (elems []map[string]any, malformed bool) {
	var walk func(v any, path []string)
	walk = func(v any, path []string) {
		switch t := v.(type) {
		case []any:
			for _, x := range t {
				if xm, ok := x.(map[string]any); ok {
					walk(xm, path)
				} else {
					malformed = true
				}
			}
		case map[string]any:
			if len(path) == 0 {
				elems = append(elems, t)
				return
			}
			if next, ok := t[fold(path[0])]; ok {
				walk(next, path[1:])
			}
		default:
			malformed = true
		}
	}
	if typ == "Patient" {
		return nil, false
	}
	for _, p := range o.compartment[typ] {
		if v, ok := m[fold(p[0])]; ok {
			walk(v, p[1:])
		}
	}
	return elems, malformed
}

func (o *oracle) ownRef(ref string) bool {
	for _, b := range []string{testUpstream + "/", testPublic + "/"} {
		if strings.HasPrefix(ref, b) {
			ref = ref[len(b):]
			break
		}
	}
	rest, ok := strings.CutPrefix(ref, "Patient/")
	if !ok {
		return false
	}
	id, hist, hasHist := strings.Cut(rest, "/_history/")
	if hasHist && (hist == "" || !validID(hist)) {
		return false
	}
	return o.patients[id] && validID(id)
}

func mentionsPatientOracle(ref string) bool {
	p, queried := ref, false
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p, queried = p[:i], true
	}
	segs := strings.Split(p, "/")
	for k := range segs {
		if segs[k] == "_history" {
			segs = segs[:k]
			break
		}
	}
	for len(segs) > 0 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	switch n := len(segs); {
	case n == 0:
		return false
	case n == 1:
		return strings.EqualFold(segs[0], "patient")
	default:
		return strings.EqualFold(segs[n-2], "patient") || (queried && strings.EqualFold(segs[n-1], "patient"))
	}
}

// deepForeign reports a "reference" string naming another patient anywhere
// in the member k: x (the deep scan of resources outside the compartment).
func (o *oracle) deepForeign(k string, x any) bool {
	if s, ok := x.(string); ok && k == fold("reference") {
		return !o.ownRef(s) && mentionsPatientOracle(s)
	}
	switch t := x.(type) {
	case map[string]any:
		for k2, y := range t {
			if o.deepForeign(k2, y) {
				return true
			}
		}
	case []any:
		for _, y := range t {
			if o.deepForeign("", y) {
				return true
			}
		}
	}
	return false
}

// resource reports whether m may leave, following the rules of doc.go.
func (o *oracle) resource(v any, contained bool, parent string) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("not an object")
	}
	typ, _ := m[fold("resourceType")].(string)
	if !validTypeName(typ) {
		return fmt.Errorf("bad type %q", typ)
	}
	if typ == "Bundle" || typ == "Parameters" {
		return fmt.Errorf("container")
	}
	if c, has := m[fold("contained")]; has {
		list, isList := c.([]any)
		if contained || !isList {
			return fmt.Errorf("misplaced contained")
		}
		for _, x := range list {
			if err := o.resource(x, true, typ); err != nil {
				return fmt.Errorf("contained: %w", err)
			}
		}
	}
	elems, malformed := o.refs(typ, m)
	own, foreign := false, false
	for _, e := range elems {
		ref, hasRef := e[fold("reference")]
		rt, hasType := e[fold("type")]
		rts, typeIsString := rt.(string)
		_, hasIdent := e[fold("identifier")]
		switch {
		case hasRef:
			s, isString := ref.(string)
			switch {
			case !isString || (hasType && !typeIsString):
				malformed = true
			case o.ownRef(s):
				own = true
			case mentionsPatientOracle(s):
				foreign = true
			}
		case hasType && !typeIsString:
			malformed = true
		case hasIdent && (!hasType || patientTypeName([]byte(rts))):
			foreign = true
		}
	}
	if len(o.compartment[typ]) == 0 && typ != "Patient" {
		for k, x := range m {
			if k != fold("contained") && o.deepForeign(k, x) {
				foreign = true
			}
		}
	}
	codings := o.codings(m)
	if contained {
		if typ == "Patient" {
			return fmt.Errorf("contained Patient")
		}
		if len(o.compartment[typ]) > 0 && (foreign || malformed) {
			return fmt.Errorf("contained foreign")
		}
		if foreign {
			return fmt.Errorf("contained outside the compartment names another patient")
		}
		ownG, _ := o.typeGrants(typ)
		parG, _ := o.typeGrants(parent)
		labelled := false
		for _, c := range codings {
			if !o.isBucketSystem(c[0]) {
				continue
			}
			labelled = true
			if o.granted(ownG, c[0], c[1]) || o.granted(parG, c[0], c[1]) {
				return nil
			}
		}
		if labelled {
			return fmt.Errorf("contained label not granted")
		}
		return nil
	}
	grants, ok := o.typeGrants(typ)
	if !ok {
		return fmt.Errorf("type %s not granted", typ)
	}
	switch {
	case typ == "Patient":
		id, _ := m[fold("id")].(string)
		if !o.patients[id] {
			return fmt.Errorf("other Patient")
		}
	case len(o.compartment[typ]) > 0:
		if !own || foreign || malformed {
			return fmt.Errorf("not the patient's")
		}
	case foreign:
		return fmt.Errorf("outside the compartment, names another patient")
	}
	for _, c := range codings {
		if o.granted(grants, c[0], c[1]) {
			return nil
		}
	}
	return fmt.Errorf("no bucket")
}

// checkOutput asserts the safety invariants of a FilterBundle output, and
// returns the entries of the output.
func (o *oracle) checkOutput(out []byte) ([]any, error) {
	if !json.Valid(out) {
		return nil, fmt.Errorf("output is not valid JSON")
	}
	v, err := decodeFolded(out)
	if err != nil {
		return nil, err
	}
	b, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("output is not an object")
	}
	for _, l := range anyList(b[fold("link")]) {
		u, _ := l.(map[string]any)[fold("url")].(string)
		if !strings.HasPrefix(u, testPublic) {
			return nil, fmt.Errorf("link %q not under the public base", u)
		}
	}
	ents := anyList(b[fold("entry")])
	for i, e := range ents {
		em, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("entry %d not an object", i)
		}
		if u, _ := em[fold("fullUrl")].(string); underUpstream(u) {
			return nil, fmt.Errorf("fullUrl %q not rewritten", u)
		}
		if resp, ok := em[fold("response")].(map[string]any); ok {
			if oc, has := resp[fold("outcome")]; has {
				if err := sanitisedOutcome(oc); err != nil {
					return nil, err
				}
			}
		}
		res, has := em[fold("resource")]
		if !has {
			continue
		}
		if rm, ok := res.(map[string]any); ok && rm[fold("resourceType")] == "OperationOutcome" {
			if err := sanitisedOutcome(rm); err != nil {
				return nil, err
			}
			continue
		}
		if err := o.resource(res, false, ""); err != nil {
			return nil, fmt.Errorf("entry %d leaked: %v", i, err)
		}
	}
	return ents, nil
}

func sanitisedOutcome(v any) error {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 2 || m[fold("resourceType")] != "OperationOutcome" {
		return fmt.Errorf("outcome not sanitised: %v", v)
	}
	for _, is := range anyList(m[fold("issue")]) {
		im, _ := is.(map[string]any)
		for k := range im {
			if k != fold("severity") && k != fold("code") {
				return fmt.Errorf("outcome issue keeps %s", k)
			}
		}
	}
	return nil
}

func anyList(v any) []any {
	l, _ := v.([]any)
	return l
}

func underUpstream(u string) bool {
	_, ok := underBase([]byte(u), testUpstream)
	return ok
}

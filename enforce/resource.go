package enforce

// CheckResource checks a single resource (a read or vread response). The
// body passes unchanged when the verdict is Allowed; otherwise the handler
// answers as for a resource that does not exist. An error means the body
// could not be checked at all (the handler answers 502), except
// ErrForbiddenLabel, which the handler answers as a 404.
func (a *Access) CheckResource(body []byte) (Verdict, error) {
	if len(body) > a.e.maxBytes {
		return Verdict{Reason: ReasonNotAResource}, ErrTooLarge
	}
	w := getWork(a, body, a.e.maxDepth)
	defer putWork(w)
	info, err := w.resource(nil, false)
	if err == nil && !w.s.atEnd() {
		err = ErrSyntax
	}
	if err != nil {
		return Verdict{Reason: ReasonNotAResource}, err
	}
	if w.forbidden {
		return Verdict{Reason: ReasonForbiddenLabel}, ErrForbiddenLabel
	}
	return Verdict{Allowed: info.reason == ReasonNone, Reason: info.reason}, nil
}

// coding is a meta.security coding as found in the body.
type coding struct {
	system, code       str
	hasSystem, hasCode bool
}

// refState gathers what the compartment reference elements of one resource say.
type refState struct {
	own       bool // some element points to the scope's patient
	foreign   bool // some element points to another patient (withholds, whatever own says)
	malformed bool // some element on a compartment path has an unexpected shape
}

type resourceInfo struct {
	typ    []byte // nil when resourceType is missing or invalid
	reason Reason
	// matchPass: the resource fails only on constraints that a narrowed rule
	// trusts the upstream with (Rule), so it passes as a searchset match.
	matchPass bool
}

// isContainerType: these types hold other resources in ways the checker
// does not follow; they never pass as one resource.
func isContainerType(typ []byte) bool {
	return string(typ) == "Bundle" || string(typ) == "Parameters"
}

// resource checks the value at the scanner's position as a resource and
// steps over it. parent is the type of the resource that contains it, for a
// contained resource.
func (w *work) resource(parent []byte, contained bool) (resourceInfo, error) {
	s := &w.s
	if s.peek() != '{' {
		return resourceInfo{reason: ReasonNotAResource}, s.skipValue()
	}
	typ, err := w.peekType()
	if err != nil {
		return resourceInfo{}, err
	}
	var node *pathNode
	if typ != nil {
		node = w.a.e.compartment[string(typ)]
	}
	codingBase := len(w.codings)
	// Outside the compartment (and apart from Patient, checked by id), any
	// reference anywhere that names another patient withholds the resource:
	// Person.link, Linkage.item and the like must not carry other patients'
	// ids out under a bucket label. Inside the compartment only the
	// compartment paths count, so the scan is off for nested resources of
	// compartment types.
	outerDeep, outerForeign := s.deep, s.deepForeign
	s.deep = node == nil && typ != nil && string(typ) != "Patient"
	s.deepForeign = false
	defer func() {
		w.codings = w.codings[:codingBase]
		s.deep, s.deepForeign = outerDeep, outerForeign
	}()

	var (
		refs         refState
		id           str
		hasID        bool
		containedBad bool
	)
	if !contained {
		w.planFacts(typ)
	}
	if err := s.openObject(); err != nil {
		return resourceInfo{}, err
	}
	for first := true; ; first = false {
		key, more, err := s.nextKey(first)
		if err != nil {
			return resourceInfo{}, err
		}
		if !more {
			break
		}
		if !contained && len(w.watches) > 0 {
			if err := w.readFacts(key); err != nil {
				return resourceInfo{}, err
			}
			// key stays valid: it is a slice of the body or of this
			// object's part of the key arena, which reads of nested
			// objects only append after and truncate back to.
		}
		switch {
		case keyIs(key, "resourceType"):
			err = s.skipValue()
		case keyIs(key, "id"):
			id, hasID, err = s.readStringValue()
		case keyIs(key, "meta"):
			err = w.meta()
		case keyIs(key, "contained"):
			var bad bool
			bad, err = w.containedList(typ, contained)
			containedBad = containedBad || bad
		default:
			if child := node.child(key); child != nil {
				err = w.refs(child, &refs)
			} else {
				err = s.skipMember(key)
			}
		}
		if err != nil {
			return resourceInfo{}, err
		}
	}
	refs.foreign = refs.foreign || s.deepForeign
	info := resourceInfo{typ: typ}
	if contained {
		info.reason = w.containedVerdict(typ, parent, node != nil, &refs, codingBase)
		if info.reason == ReasonNone && containedBad {
			info.reason = ReasonContained
		}
		return info, nil
	}
	info.reason, info.matchPass = w.verdict(typ, node != nil, &refs, id, hasID, codingBase)
	if containedBad && (info.reason == ReasonNone || info.matchPass) {
		info.reason, info.matchPass = ReasonContained, false
	}
	return info, nil
}

// verdict applies the rules for a top-level resource, first failure wins.
func (w *work) verdict(typ []byte, inCompartment bool, refs *refState, id str, hasID bool, codingBase int) (Reason, bool) {
	r := w.ownership(typ, inCompartment, refs, id, hasID)
	if r != ReasonNone {
		return r, false
	}
	if w.a.checked {
		return w.ruleVerdict(typ, codingBase)
	}
	grants, _ := w.a.grantsFor(typ)
	for _, c := range w.codings[codingBase:] {
		if w.matches(c, grants) {
			return ReasonNone, false
		}
	}
	return ReasonNoBucket, false
}

// ownership applies the checks before the buckets: a resource, a granted
// type, the patient's.
func (w *work) ownership(typ []byte, inCompartment bool, refs *refState, id str, hasID bool) Reason {
	a := w.a
	switch {
	case typ == nil:
		return ReasonNotAResource
	case isContainerType(typ):
		return ReasonUnsupportedType
	}
	if _, ok := a.grantsFor(typ); !ok {
		return ReasonTypeNotGranted
	}
	switch {
	case string(typ) == "Patient":
		if !hasID || !a.isPatient(w.s.text(id)) {
			return ReasonOtherPatient
		}
	case inCompartment:
		// Every Patient reference on the compartment paths must be one of
		// the patient's: an Observation whose subject is another patient is
		// that patient's record even when ours is its performer, and a
		// _revinclude or $everything must not carry it out. An element whose
		// shape hides what it names cannot be shown to be ours either.
		switch {
		case refs.foreign:
			return ReasonOtherPatient
		case !refs.own:
			return ReasonNoPatientReference
		case refs.malformed:
			return ReasonOtherPatient
		}
	case refs.foreign: // outside the compartment, found by the deep scan
		return ReasonOtherPatient
	}
	return ReasonNone
}

// containedVerdict applies the rules for a contained resource (see doc.go):
// no Patient, no container, no nested contained (checked by the caller), no
// reference to another patient, and if it carries bucket labels of its own
// one of them must be granted for its type, its parent's type or "*".
func (w *work) containedVerdict(typ, parent []byte, inCompartment bool, refs *refState, codingBase int) Reason {
	switch {
	case typ == nil:
		return ReasonNotAResource
	case isContainerType(typ):
		return ReasonUnsupportedType
	case string(typ) == "Patient":
		return ReasonOtherPatient
	case inCompartment && (refs.foreign || refs.malformed):
		return ReasonOtherPatient
	case refs.foreign: // outside the compartment, found by the deep scan
		return ReasonOtherPatient
	}
	labelled := false
	own, _ := w.a.grantsFor(typ)
	par, _ := w.a.grantsFor(parent)
	for _, c := range w.codings[codingBase:] {
		if !c.hasSystem || !c.hasCode || w.a.systemID(w.s.text(c.system)) < 0 {
			continue
		}
		labelled = true
		if w.matches(c, own) || w.matches(c, par) {
			return ReasonNone
		}
	}
	if labelled {
		return ReasonNoBucket
	}
	return ReasonNone
}

func (w *work) matches(c coding, grants []grant) bool {
	if !c.hasSystem || !c.hasCode || len(grants) == 0 {
		return false
	}
	sys := w.a.systemID(w.s.text(c.system))
	if sys < 0 {
		return false
	}
	return matchGrant(grants, sys, w.s.text(c.code))
}

// peekType finds the resourceType of the object at the scanner's position
// and rewinds. FHIR JSON puts resourceType first, so normally only one
// member is read; otherwise the object is scanned to find it. nil means
// missing, not a string, or not a valid type name.
func (w *work) peekType() ([]byte, error) {
	s := &w.s
	m := s.mark()
	deep := s.deep
	s.deep = false // the enclosing resource's deep scan does not look into this one
	defer func() {
		s.rewind(m)
		s.deep = deep
	}()
	if err := s.openObject(); err != nil {
		return nil, err
	}
	for first := true; ; first = false {
		key, more, err := s.nextKey(first)
		if err != nil || !more {
			return nil, err
		}
		if !keyIs(key, "resourceType") {
			if err := s.skipValue(); err != nil {
				return nil, err
			}
			continue
		}
		st, ok, err := s.readStringValue()
		if err != nil || !ok {
			return nil, err
		}
		typ := s.text(st)
		if !validTypeName(string(typ)) {
			return nil, nil
		}
		if st.flags&strEscaped != 0 {
			typ = append([]byte(nil), typ...) // s.buf is reused
		}
		return typ, nil
	}
}

func (w *work) meta() error {
	s := &w.s
	return s.eachMember(func(key []byte) error {
		if keyIs(key, "security") {
			return w.security()
		}
		return s.skipMember(key)
	})
}

func (w *work) security() error {
	s := &w.s
	return s.eachElem(func() error {
		if s.peek() == '{' {
			return w.coding()
		}
		return s.skipValue()
	})
}

func (w *work) coding() error {
	s := &w.s
	var c coding
	err := s.eachMember(func(key []byte) error {
		var err error
		switch {
		case keyIs(key, "system"):
			c.system, c.hasSystem, err = s.readStringValue()
		case keyIs(key, "code"):
			c.code, c.hasCode, err = s.readStringValue()
		default:
			err = s.skipMember(key)
		}
		return err
	})
	if err != nil {
		return err
	}
	if w.forbiddenCoding(c) {
		w.forbidden = true
	}
	w.codings = append(w.codings, c)
	return nil
}

// containedList checks every resource of a "contained" array. bad is true if
// any of them fails, or if the array itself is out of place (not an array,
// or inside a resource that is itself contained).
func (w *work) containedList(parent []byte, nested bool) (bad bool, err error) {
	s := &w.s
	if nested || s.peek() != '[' {
		return true, s.skipValue()
	}
	err = s.eachElem(func() error {
		info, err := w.resource(parent, true)
		bad = bad || info.reason != ReasonNone
		return err
	})
	// On an error the whole body is refused, so bad no longer matters.
	return bad || err != nil, err
}

// refs walks a compartment path from the value at the scanner's position.
func (w *work) refs(n *pathNode, st *refState) error {
	s := &w.s
	switch s.peek() {
	case '{':
		return w.refObject(n, st)
	case '[':
		return s.eachElem(func() error {
			if s.peek() == '{' {
				return w.refObject(n, st)
			}
			st.malformed = true
			return s.skipValue()
		})
	default:
		st.malformed = true
		return s.skipValue()
	}
}

// refObject reads one object on a compartment path: a Reference when n is
// terminal, and/or the parent of deeper path steps.
func (w *work) refObject(n *pathNode, st *refState) error {
	s := &w.s
	var (
		ref, typ              str
		hasRef, hasType       bool
		badRef, hasIdentifier bool
	)
	err := s.eachMember(func(key []byte) error {
		var err error
		switch {
		case n.terminal && keyIs(key, "reference"):
			var isString bool
			ref, isString, err = s.readStringValue()
			hasRef, badRef = isString, badRef || !isString
		case n.terminal && keyIs(key, "type"):
			var isString bool
			typ, isString, err = s.readStringValue()
			hasType, badRef = isString, badRef || !isString
		case n.terminal && keyIs(key, "identifier"):
			hasIdentifier = true
			err = s.skipValue()
		default:
			if c := n.child(key); c != nil {
				err = w.refs(c, st)
			} else {
				err = s.skipValue()
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if !n.terminal {
		return nil
	}
	switch {
	case badRef:
		st.malformed = true
	case hasRef:
		switch w.a.classify(s.text(ref)) {
		case refOwn:
			st.own = true
		case refForeign:
			st.foreign = true
		}
	case hasIdentifier && (!hasType || patientTypeName(s.text(typ))):
		// A logical reference (identifier only) that may name a patient: it
		// cannot be proven to be this patient.
		st.foreign = true
	}
	return nil
}

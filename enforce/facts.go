package enforce

// Facts: while a top-level resource is scanned, the elements that its rules'
// constraints and its buckets' depths need are read into small scratch
// lists (tokens and dates), tagged with the parameter they belong to. The
// resource walk reads such a member twice: once here (then rewinds), once
// as before, so the reference checks and the deep scan see it unchanged.

type tokenFact struct {
	watch              int
	sysOff, sysEnd     int // in work.arena
	codeOff, codeEnd   int
	hasSystem, hasCode bool
}

type dateFact struct {
	watch int
	rng   dateRange
	bad   bool // present, but not a date this check can read
}

// suffixKind classifies the type suffix of a choice element's name.
type suffixKind uint8

const (
	sufNone suffixKind = iota // not a choice element
	sufDate                   // ...Date, ...DateTime, ...Instant
	sufPeriod
	sufCodeableConcept
	sufCoding
	sufOther
)

func classifySuffix(s []byte) suffixKind {
	switch {
	case keyIs(s, "DateTime"), keyIs(s, "Date"), keyIs(s, "Instant"):
		return sufDate
	case keyIs(s, "Period"):
		return sufPeriod
	case keyIs(s, "CodeableConcept"):
		return sufCodeableConcept
	case keyIs(s, "Coding"):
		return sufCoding
	}
	return sufOther
}

// pathMatch reports whether key is names[seg] of the path (for the last name
// of a choice path: the stem followed by a type suffix), with the suffix.
func pathMatch(key []byte, path elemPath, seg int) (bool, suffixKind) {
	name := path.names[seg]
	if !path.choice || seg != len(path.names)-1 {
		return keyIs(key, name), sufNone
	}
	if len(key) <= len(name) || !asciiFoldEqual(key[:len(name)], name) {
		return false, sufNone
	}
	return true, classifySuffix(key[len(name):])
}

// planFacts chooses what to read for a top-level resource of type typ.
// The plan depends only on the Access and the type, so it is made once per
// type and check: a searchset's entries are mostly of one type, and making
// it (map lookups by type and by parameter name) for each of them was 2.2%
// of the check's instructions with rules (BenchmarkFilterBundleRules).
func (w *work) planFacts(typ []byte) {
	w.tokens, w.dates, w.arena = w.tokens[:0], w.dates[:0], w.arena[:0]
	if typ != nil && w.planned && string(typ) == string(w.planType) {
		return
	}
	w.watches, w.clinical, w.planned = w.watches[:0], -1, false
	if !w.a.checked || typ == nil {
		return
	}
	w.planType, w.planned = append(w.planType[:0], typ...), true
	defs := searchParams[string(typ)]
	depth := false
	for _, r := range w.a.rulesFor(typ) {
		for _, c := range r.cons {
			if c.modified || c.name == securityParam {
				continue
			}
			if d := defs[c.name]; d != nil {
				w.watchIndex(d, true)
			}
		}
		for _, g := range r.buckets {
			depth = depth || g.hasSince
		}
	}
	if d := clinicalDates[string(typ)]; depth && d != nil {
		w.clinical = w.watchIndex(d, true)
	}
}

// watchIndex returns the index of def among the watched parameters, adding
// it when add is set; -1 when it is not watched.
func (w *work) watchIndex(def *paramDef, add bool) int {
	for i, d := range w.watches {
		if d == def {
			return i
		}
	}
	if !add {
		return -1
	}
	w.watches = append(w.watches, def)
	return len(w.watches) - 1
}

type pendingRead struct {
	watch, path int
	suf         suffixKind
}

// readFacts reads the member whose key was just read, for every watched
// path that starts with it, rewinding after each read.
func (w *work) readFacts(key []byte) error {
	w.pending = w.pending[:0]
	for wi, d := range w.watches {
		for pi, path := range d.paths {
			if ok, suf := pathMatch(key, path, 0); ok {
				w.pending = append(w.pending, pendingRead{wi, pi, suf})
			}
		}
	}
	// key is only valid until the scanner reads the next key: matched first.
	for _, pr := range w.pending {
		m := w.s.mark()
		err := w.readAt(pr.watch, w.watches[pr.watch].paths[pr.path], 0, pr.suf)
		w.s.rewind(m)
		if err != nil {
			return err
		}
	}
	return nil
}

// readAt reads the value of path.names[seg] at the scanner's position.
func (w *work) readAt(wi int, path elemPath, seg int, suf suffixKind) error {
	s := &w.s
	kind := w.watches[wi].kind
	if s.peek() == '[' {
		return s.eachElem(func() error { return w.readAt(wi, path, seg, suf) })
	}
	if seg == len(path.names)-1 {
		if kind == kindDate {
			return w.readDate(wi, suf)
		}
		return w.readToken(wi, suf)
	}
	return s.eachMember(func(key []byte) error {
		if ok, nextSuf := pathMatch(key, path, seg+1); ok {
			return w.readAt(wi, path, seg+1, nextSuf)
		}
		return s.skipValue()
	})
}

// readDate reads one date, dateTime, instant or Period value.
func (w *work) readDate(wi int, suf suffixKind) error {
	s := &w.s
	f := dateFact{watch: wi}
	switch c := s.peek(); {
	case c == '"' && (suf == sufNone || suf == sufDate):
		st, err := s.readString()
		if err != nil {
			return err
		}
		f.rng, f.bad = w.dateOf(st)
	case c == '{' && (suf == sufNone || suf == sufPeriod):
		var err error
		if f.rng, f.bad, err = w.period(); err != nil {
			return err
		}
	default:
		f.bad = true
		if err := s.skipValue(); err != nil {
			return err
		}
	}
	w.dates = append(w.dates, f)
	return nil
}

func (w *work) dateOf(st str) (dateRange, bool) {
	r, ok := parseDateValue(w.s.text(st))
	return r, !ok
}

// period reads a Period: a missing start or end leaves that side open.
func (w *work) period() (dateRange, bool, error) {
	s := &w.s
	r := dateRange{lo: dayMin, hi: dayMax}
	bad := false
	err := s.eachMember(func(key []byte) error {
		isStart, isEnd := keyIs(key, "start"), keyIs(key, "end")
		if !isStart && !isEnd {
			return s.skipValue()
		}
		st, ok, err := s.readStringValue()
		if err != nil {
			return err
		}
		v, vbad := w.dateOf(st)
		switch {
		case !ok || vbad:
			bad = true
		case isStart:
			r.lo = v.lo
		default:
			r.hi = v.hi
		}
		return nil
	})
	if err != nil {
		return r, true, err
	}
	return r, bad, nil
}

// readToken reads a code, Coding or CodeableConcept value.
func (w *work) readToken(wi int, suf suffixKind) error {
	s := &w.s
	switch c := s.peek(); {
	case c == '"' && suf == sufNone:
		st, err := s.readString()
		if err != nil {
			return err
		}
		f := tokenFact{watch: wi, hasCode: true}
		f.codeOff, f.codeEnd = w.keep(st)
		w.tokens = append(w.tokens, f)
		return nil
	case c == '{' && suf != sufOther && suf != sufDate && suf != sufPeriod:
		return w.tokenObject(wi)
	}
	return s.skipValue()
}

// keep copies a string's text into the arena (scanner.text reuses a buffer).
func (w *work) keep(st str) (int, int) {
	off := len(w.arena)
	w.arena = append(w.arena, w.s.text(st)...)
	return off, len(w.arena)
}

// tokenObject reads a Coding, or the codings of a CodeableConcept.
func (w *work) tokenObject(wi int) error {
	s := &w.s
	f := tokenFact{watch: wi}
	err := s.eachMember(func(key []byte) error {
		var st str
		var err error
		switch {
		case keyIs(key, "coding"):
			err = w.codingList(wi)
		case keyIs(key, "system"):
			st, f.hasSystem, err = s.readStringValue()
			if f.hasSystem {
				f.sysOff, f.sysEnd = w.keep(st)
			}
		case keyIs(key, "code"):
			st, f.hasCode, err = s.readStringValue()
			if f.hasCode {
				f.codeOff, f.codeEnd = w.keep(st)
			}
		default:
			err = s.skipValue()
		}
		return err
	})
	if err != nil {
		return err
	}
	if f.hasCode {
		w.tokens = append(w.tokens, f)
	}
	return nil
}

func (w *work) codingList(wi int) error {
	s := &w.s
	return s.eachElem(func() error {
		if s.peek() == '{' {
			return w.tokenObject(wi)
		}
		return s.skipValue()
	})
}

func (w *work) factText(off, end int) []byte { return w.arena[off:end] }

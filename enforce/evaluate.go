package enforce

// tri is the result of checking one constraint on one resource.
type tri uint8

const (
	triFalse   tri = iota
	triTrue        // verified on the resource
	triUnknown     // cannot be verified on the resource
)

// ruleVerdict decides the bucket, depth and constraint checks by rules,
// after the facts of the resource have been read. The reason treats every
// unverifiable constraint as failed; matchPass says that a rule the upstream
// search applied (Rule.Narrowed) lets the resource pass when it is of the
// narrowed type and the upstream is trusted with those constraints: the
// caller uses it for searchset match entries only.
func (w *work) ruleVerdict(typ []byte, codingBase int) (reason Reason, matchPass bool) {
	clinical, clinicalOK := w.clinicalDay()
	anyBucket, anyDepth, trustedOK := false, false, false
	narrowedType := w.narrowedType != "" && string(typ) == w.narrowedType
	for _, r := range w.a.rulesFor(typ) {
		bucket, depth := w.bucketMatch(r.buckets, codingBase, clinical, clinicalOK)
		anyBucket = anyBucket || bucket
		if !depth {
			continue
		}
		anyDepth = true
		strictOK, trustOK := true, true
		for i := range r.cons {
			switch w.evalConstraint(&r.cons[i], typ, codingBase) {
			case triFalse:
				strictOK, trustOK = false, false
			case triUnknown:
				strictOK = false
				trustOK = trustOK && r.narrowed && narrowedType
			}
		}
		if strictOK {
			return ReasonNone, false
		}
		trustedOK = trustedOK || trustOK
	}
	switch {
	case !anyBucket:
		return ReasonNoBucket, false
	case !anyDepth:
		return ReasonHistoricalDepth, false
	}
	return ReasonConstraint, trustedOK
}

// bucketMatch: bucket is true when a meta.security coding is one of the
// buckets; depth when such a bucket also has no depth, or the clinical date
// is known and on or after it.
func (w *work) bucketMatch(buckets []grant, codingBase int, clinical day, clinicalOK bool) (bucket, depth bool) {
	for _, c := range w.codings[codingBase:] {
		if !c.hasSystem || !c.hasCode {
			continue
		}
		sys := w.a.systemID(w.s.text(c.system))
		if sys < 0 {
			continue
		}
		code := w.s.text(c.code)
		for _, g := range buckets {
			if g.sys != sys || !asciiFoldEqual(g.code, code) {
				continue
			}
			bucket = true
			if !g.hasSince || (clinicalOK && !clinical.less(g.since)) {
				return true, true
			}
		}
	}
	return bucket, false
}

// clinicalDay is the resource's clinical date for depths: the earliest day
// any of its clinical date elements can denote. Unknown (false) when there is
// none, when one cannot be read, or when a Period has no start.
func (w *work) clinicalDay() (day, bool) {
	if w.clinical < 0 {
		return day{}, false
	}
	found := false
	lo := dayMax
	for _, f := range w.dates {
		if f.watch != w.clinical {
			continue
		}
		if f.bad || f.rng.lo == dayMin {
			return day{}, false
		}
		if f.rng.lo.less(lo) {
			lo = f.rng.lo
		}
		found = true
	}
	return lo, found
}

// evalConstraint checks one constraint: true when some item matches some
// value on the parameter's elements; unknown when it cannot be checked.
func (w *work) evalConstraint(c *constraint, typ []byte, codingBase int) tri {
	if c.modified {
		return triUnknown
	}
	if c.name == securityParam {
		for i := range c.items {
			if w.securityMatch(&c.items[i], codingBase) {
				return triTrue
			}
		}
		return triFalse
	}
	def := searchParams[string(typ)][c.name]
	if def == nil {
		return triUnknown
	}
	wi := w.watchIndex(def, false)
	if wi < 0 {
		return triUnknown // not planned: cannot happen, fail closed
	}
	unknown := false
	for i := range c.items {
		it := &c.items[i]
		switch def.kind {
		case kindToken:
			if w.tokenMatch(wi, it) {
				return triTrue
			}
		case kindDate:
			if !it.dateOK {
				unknown = true
				continue
			}
			for _, f := range w.dates {
				if f.watch == wi && !f.bad && it.date.matches(f.rng) {
					return triTrue
				}
			}
		}
	}
	if unknown {
		return triUnknown
	}
	return triFalse
}

// tokenMatch applies FHIR token matching: "code" matches any system,
// "system|code" both, "|code" a code without system, "system|" any code of
// the system. Codes compare exactly (token search is case-sensitive).
func (w *work) tokenMatch(wi int, it *constraintItem) bool {
	for _, f := range w.tokens {
		if f.watch != wi || !f.hasCode {
			continue
		}
		// Compared as byte slices converted in place: no allocation.
		code := w.factText(f.codeOff, f.codeEnd)
		system := w.factText(f.sysOff, f.sysEnd)
		switch {
		case !it.hasBar:
			if string(code) == it.code {
				return true
			}
		case it.system == "":
			if !f.hasSystem && string(code) == it.code && it.code != "" {
				return true
			}
		case it.code == "":
			if f.hasSystem && string(system) == it.system {
				return true
			}
		default:
			if f.hasSystem && string(system) == it.system && string(code) == it.code {
				return true
			}
		}
	}
	return false
}

// securityMatch matches one _security item against meta.security. Bucket
// systems compare as aliases and their codes case-insensitively, as grants
// do; other systems and codes exactly.
func (w *work) securityMatch(it *constraintItem, codingBase int) bool {
	for _, c := range w.codings[codingBase:] {
		if !c.hasCode {
			continue
		}
		var sysOK bool
		switch {
		case !it.hasBar:
			sysOK = true
		case it.system == "":
			sysOK = !c.hasSystem
		case !c.hasSystem:
			sysOK = false
		case it.sysGroup >= 0:
			sysOK = w.a.systemID(w.s.text(c.system)) == it.sysGroup
		default:
			sysOK = string(w.s.text(c.system)) == it.system
		}
		if !sysOK {
			continue
		}
		code := w.s.text(c.code)
		switch {
		case it.hasBar && it.code == "":
			return true
		case it.sysGroup >= 0:
			if asciiFoldEqual(code, it.code) {
				return true
			}
		default:
			if string(code) == it.code {
				return true
			}
		}
	}
	return false
}

package enforce

// VerifiesOnResource reports whether CheckResource decides every rule that
// applies to a resource of type typ from the resource alone: no rule for
// the type (or "*") has a constraint with a modifier, on a parameter the
// check does not read for that type (searchparams.go), or with a date the
// check cannot parse. Compartment, type, buckets, historical depth and
// forbidden labels are always read from the resource.
//
// The handler uses it to send a read upstream as a plain read (a primary
// key lookup) instead of a search narrowed by the scope constraints: when
// it is true, the check on the returned resource lets out exactly what the
// narrowed search would have found. When it is false the plain read would
// still be safe (an unverifiable constraint withholds the resource), but
// could refuse a resource the constraints allow.
func (a *Access) VerifiesOnResource(typ string) bool {
	for _, r := range a.rulesFor([]byte(typ)) {
		for i := range r.cons {
			if !verifiable(&r.cons[i], typ) {
				return false
			}
		}
	}
	return true
}

// verifiable mirrors evalConstraint: true when evaluating c on a resource
// of type typ can never be unknown.
func verifiable(c *constraint, typ string) bool {
	if c.modified {
		return false
	}
	if c.name == securityParam {
		return true
	}
	def := searchParams[typ][c.name]
	if def == nil {
		return false
	}
	if def.kind == kindDate {
		for i := range c.items {
			if !c.items[i].dateOK {
				return false
			}
		}
	}
	return true
}

package enforce

// Reason says why a resource was withheld. The values are few and stable so
// they can be used as metric labels.
type Reason uint8

// Reasons, in the order the checks run: the first failing check names the reason.
const (
	// ReasonNone: the resource passed.
	ReasonNone Reason = iota
	// ReasonNotAResource: not a JSON object with a valid resourceType string.
	ReasonNotAResource
	// ReasonUnsupportedType: a container (Bundle, Parameters) whose content
	// cannot be vouched for as a single resource.
	ReasonUnsupportedType
	// ReasonTypeNotGranted: no grant for the resource type and no "*" grant.
	ReasonTypeNotGranted
	// ReasonOtherPatient: a patient-compartment resource that refers to a
	// Patient, but never to the scope's patient (or a Patient with another id).
	ReasonOtherPatient
	// ReasonNoPatientReference: a patient-compartment resource with no
	// reference to any Patient on its compartment paths.
	ReasonNoPatientReference
	// ReasonNoBucket: no meta.security coding matches a granted bucket.
	ReasonNoBucket
	// ReasonHistoricalDepth: every granted bucket of the resource has a
	// historical_depth, and its clinical date is earlier or unknown.
	ReasonHistoricalDepth
	// ReasonConstraint: no scope that grants the resource's bucket has all
	// its constraints (date, category, ...) verified on the resource.
	ReasonConstraint
	// ReasonContained: a contained resource failed its check (see doc.go).
	ReasonContained
	// ReasonNoResource: a search, history or collection entry without a
	// resource (for example a deleted version in a history Bundle).
	ReasonNoResource
	// ReasonForbiddenLabel: the resource carries a forbidden label. It comes
	// with ErrForbiddenLabel: the whole answer is refused, not one resource.
	ReasonForbiddenLabel

	// NumReasons is the number of Reason values, for arrays indexed by Reason.
	NumReasons
)

var reasonNames = [NumReasons]string{
	ReasonNone:               "none",
	ReasonNotAResource:       "not_a_resource",
	ReasonUnsupportedType:    "unsupported_type",
	ReasonTypeNotGranted:     "type_not_granted",
	ReasonOtherPatient:       "other_patient",
	ReasonNoPatientReference: "no_patient_reference",
	ReasonNoBucket:           "no_bucket",
	ReasonHistoricalDepth:    "before_historical_depth",
	ReasonConstraint:         "constraint_not_met",
	ReasonContained:          "contained_rejected",
	ReasonNoResource:         "no_resource",
	ReasonForbiddenLabel:     "forbidden_label",
}

// String returns the metric label of the reason.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Verdict is the outcome of CheckResource.
type Verdict struct {
	Allowed bool
	Reason  Reason // ReasonNone when Allowed
}

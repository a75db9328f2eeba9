package enforce

// Canonical bodies. NotFoundBody is the one body of every 404 the PEP sends,
// whether the upstream said not-found or the PEP withheld the resource, so
// the two cannot be told apart.
const (
	notFoundJSON       = `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}`
	genericOutcomeJSON = `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing"}]}`
)

var (
	// notFoundEntry stands in for a withheld batch/transaction-response entry.
	notFoundEntry = []byte(`{"response":{"status":"404 Not Found","outcome":` + notFoundJSON + `}}`)
	// withheldEntry is the optional searchset annotation. The R4 issue type
	// "suppressed" means exactly "not returned due to consent, privacy or
	// access rules"; it carries no text, so it is already in sanitised form.
	withheldEntry = []byte(`{"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"suppressed"}]},"search":{"mode":"outcome"}}`)
)

// NotFoundBody returns the canonical not-found OperationOutcome: severity
// error, code not-found, nothing else. It takes no resource type or id on
// purpose: echoing them is what would distinguish a withheld resource from
// a missing one. Each call returns a fresh slice.
func NotFoundBody() []byte {
	return []byte(notFoundJSON)
}

// maxIssues bounds the sanitised outcome whatever the upstream sends.
const maxIssues = 100

var issueSeverities = []string{"fatal", "error", "warning", "information"}

// issueTypes is the R4 IssueType value set.
var issueTypes = []string{
	"invalid", "structure", "required", "value", "invariant", "security", "login", "unknown",
	"expired", "forbidden", "suppressed", "processing", "not-supported", "duplicate",
	"multiple-matches", "not-found", "deleted", "too-long", "code-invalid", "extension",
	"too-costly", "business-rule", "conflict", "transient", "lock-error", "no-store",
	"exception", "timeout", "incomplete", "throttled", "informational",
}

const (
	severityError   = 1  // index of "error" in issueSeverities
	typeProcessing  = 11 // index of "processing" in issueTypes
	issueFieldUnset = -1
)

type issue struct{ severity, code int }

// SanitizeOperationOutcome returns a new OperationOutcome that keeps only
// the severity and code of each issue of body (at most 100). Diagnostics,
// details, expression, location, text, extensions and everything else go:
// they can echo another patient's data. Unknown severities become "error",
// unknown codes "processing". Anything that is not a well-formed
// OperationOutcome with issues yields one error/processing issue.
func SanitizeOperationOutcome(body []byte) []byte {
	return appendSanitizedOutcome(nil, body)
}

func appendSanitizedOutcome(dst, body []byte) []byte {
	if len(body) > DefaultMaxBytes {
		return append(dst, genericOutcomeJSON...)
	}
	w := getWork(nil, body, DefaultMaxDepth)
	defer putWork(w)
	if !w.outcome() || len(w.issues) == 0 {
		return append(dst, genericOutcomeJSON...)
	}
	dst = append(dst, `{"resourceType":"OperationOutcome","issue":[`...)
	for i, is := range w.issues {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"severity":"`...)
		dst = append(dst, issueSeverities[is.severity]...)
		dst = append(dst, `","code":"`...)
		dst = append(dst, issueTypes[is.code]...)
		dst = append(dst, `"}`...)
	}
	return append(dst, "]}"...)
}

// outcome reads the issues of an OperationOutcome into w.issues and reports
// whether the body is one.
func (w *work) outcome() bool {
	s := &w.s
	if s.peek() != '{' || s.openObject() != nil {
		return false
	}
	isOutcome := false
	for first := true; ; first = false {
		key, more, err := s.nextKey(first)
		if err != nil {
			return false
		}
		if !more {
			break
		}
		switch {
		case keyIs(key, "resourceType"):
			st, ok, err := s.readStringValue()
			if err != nil {
				return false
			}
			isOutcome = ok && string(s.text(st)) == "OperationOutcome"
		case keyIs(key, "issue"):
			if w.issueList() != nil {
				return false
			}
		default:
			if s.skipValue() != nil {
				return false
			}
		}
	}
	return isOutcome && s.atEnd()
}

func (w *work) issueList() error {
	s := &w.s
	return s.eachElem(func() error {
		if s.peek() != '{' {
			return s.skipValue()
		}
		is, err := w.issue()
		if err == nil && len(w.issues) < maxIssues {
			w.issues = append(w.issues, is)
		}
		return err
	})
}

func (w *work) issue() (issue, error) {
	s := &w.s
	is := issue{severity: issueFieldUnset, code: issueFieldUnset}
	err := s.eachMember(func(key []byte) error {
		var field *int
		var list []string
		switch {
		case keyIs(key, "severity"):
			field, list = &is.severity, issueSeverities
		case keyIs(key, "code"):
			field, list = &is.code, issueTypes
		default:
			return s.skipValue()
		}
		st, ok, err := s.readStringValue()
		if ok {
			*field = indexOf(list, s.text(st))
		}
		return err
	})
	if err != nil {
		return is, err
	}
	if is.severity == issueFieldUnset {
		is.severity = severityError
	}
	if is.code == issueFieldUnset {
		is.code = typeProcessing
	}
	return is, nil
}

func indexOf(list []string, v []byte) int {
	for i, s := range list {
		if s == string(v) {
			return i
		}
	}
	return issueFieldUnset
}

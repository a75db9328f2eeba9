package enforce

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Label is a security label: a coding in meta.security.
type Label struct {
	System string
	Code   string
}

// String is the label as a token search value, "system|code".
func (l Label) String() string { return l.System + "|" + l.Code }

// ParseLabel reads "system|code" (exactly one "|", both parts non-empty).
func ParseLabel(s string) (Label, error) {
	system, code, ok := strings.Cut(s, "|")
	if !ok || system == "" || code == "" || strings.Contains(code, "|") || !utf8.ValidString(s) {
		return Label{}, errors.New("enforce: a label is system|code")
	}
	return Label{System: system, Code: code}, nil
}

// VLabel marks data that must never leave the data source (the national
// specification's "V" label). It is always forbidden, whatever is configured.
var VLabel = Label{System: "http://fhir.health.gov.il/cs/il-core-main-security-label", Code: "V"}

// forbiddenLabels is the configured list with VLabel added when missing.
func forbiddenLabels(configured []Label) ([]Label, error) {
	if len(configured) >= 64 {
		return nil, errors.New("enforce: at most 63 forbidden labels besides V")
	}
	out := []Label{VLabel}
	for _, l := range configured {
		if l.System == "" || l.Code == "" || !utf8.ValidString(l.System) || !utf8.ValidString(l.Code) {
			return nil, errors.New("enforce: a forbidden label needs a system and a code")
		}
		if l != VLabel {
			out = append(out, l)
		}
	}
	return out, nil
}

// forbiddenCoding reports whether c is a forbidden label. The system must
// match exactly; the code with ASCII case folding, so that "v" is refused
// too (a wider match only refuses more). The system is compared before the
// code is decoded: scanner.text reuses one buffer for escaped strings.
func (w *work) forbiddenCoding(c coding) bool {
	if !c.hasSystem || !c.hasCode {
		return false
	}
	sys := w.s.text(c.system)
	var candidates uint64 // bit i: forbidden[i] has this system (the list is short)
	for i, l := range w.a.e.forbidden {
		if i < 64 && string(sys) == l.System {
			candidates |= 1 << i
		}
	}
	if candidates == 0 {
		return false
	}
	code := w.s.text(c.code)
	for i, l := range w.a.e.forbidden {
		if i < 64 && candidates&(1<<i) != 0 && asciiFoldEqual(code, l.Code) {
			return true
		}
	}
	return false
}

// ForbiddenLabels returns the labels the Enforcer refuses, VLabel first, so
// that the handler can add "_security:not=<label>" to every upstream search
// with exactly the list the response check uses.
func (e *Enforcer) ForbiddenLabels() []Label { return append([]Label(nil), e.forbidden...) }

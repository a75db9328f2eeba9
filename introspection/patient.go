package introspection

import "strings"

// NationalIDSystem is the identifier system of Israeli national ids
// (teudat zehut). A "patient" claim without a system means this system, as
// the national reference adapter sends it.
const NationalIDSystem = "http://fhir.health.gov.il/identifier/il-national-id"

// maxPatientValue bounds identifier values of other systems (passports);
// national ids are exactly nine digits.
const maxPatientValue = 64

// parsePatient splits a "patient" claim into system and value. The claim is
// "system|value" or a bare value, which means NationalIDSystem. A national
// id must pass ValidNationalID; a value of any other system must be 1 to
// 64 ASCII letters, digits or hyphens. Nothing is trimmed or padded: a
// claim that would need it ("18", " 000000018", "000000018/") is not a
// token this data source can act on, and guessing could select another
// person. Whether the system is accepted is configuration, checked by
// Validate (Expectations.PatientSystems).
func parsePatient(claim string) (system, value string, ok bool) {
	system, value, hasSystem := strings.Cut(claim, "|")
	if !hasSystem {
		system, value = NationalIDSystem, claim
	}
	if system == "" || !isURIish(system) {
		return "", "", false
	}
	if system == NationalIDSystem {
		if !ValidNationalID(value) {
			return "", "", false
		}
		return system, value, true
	}
	if value == "" || len(value) > maxPatientValue {
		return "", "", false
	}
	for i := range len(value) {
		c := value[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-') {
			return "", "", false
		}
	}
	return system, value, true
}

// isURIish reports whether s holds only printable ASCII without spaces or
// the separators of the claim ("|", ","), so that a second value cannot hide
// in the system.
func isURIish(s string) bool {
	for i := range len(s) {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || c == '|' || c == ',' {
			return false
		}
	}
	return true
}

// ValidNationalID reports whether s is an Israeli national id: exactly nine
// ASCII digits whose check digit is right. Digits are weighted 1, 2, 1, 2,
// ... from the left; a product above 9 counts as the sum of its digits; the
// total must be a multiple of 10 ("000000018" is valid). All zeros passes
// the arithmetic but is no one's id and is refused.
func ValidNationalID(s string) bool {
	if len(s) != 9 {
		return false
	}
	sum, zeros := 0, 0
	for i := range 9 {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c-'0') * (i%2 + 1)
		if d > 9 {
			d -= 9
		}
		sum += d
		if c == '0' {
			zeros++
		}
	}
	return sum%10 == 0 && zeros != 9
}

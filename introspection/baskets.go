package introspection

import (
	"strings"
	"time"
)

// DefaultBasketSystem is the code system of the HDP information buckets,
// assumed for a basket given as a bare code.
const DefaultBasketSystem = "http://fhir.health.gov.il/cs/il-hdp-information-buckets"

// Basket is one consented information bucket of the "baskets" claim.
type Basket struct {
	// System is the bucket code system as sent, DefaultBasketSystem when
	// the basket was a bare code or an object without "system". Alias
	// systems are resolved by the policy, not here.
	System string
	// Code is the bucket code as sent (bucket codes are case-insensitive;
	// the policy compares them so).
	Code string
	// HistoricalDepth is "YYYY-MM-DD", the earliest clinical date the
	// patient consented to disclose for this bucket, or "" for no bound.
	HistoricalDepth string
}

// maxBaskets bounds the claim: the HDP code system has a few dozen codes,
// and a longer list is not a consent PCM issued.
const maxBaskets = 256

// basketMembers are the members a basket object may carry. Anything else
// is refused: an unknown member could be a restriction this PEP would
// silently drop.
var basketMembers = map[string]bool{"code": true, "system": true, "historical_depth": true, "display": true}

// parseBaskets decodes the "baskets" claim: a JSON array of bucket codes
// (["laboratoryTests"]) or of objects {"code", "system",
// "historical_depth"}, not a mix. An empty array is a consent to no bucket
// and is kept (non-nil, empty). Codes and systems must be non-empty ASCII
// without spaces, "|" or ","; historical_depth is null or a FHIR date or
// dateTime and is normalised to its date as written.
func parseBaskets(v any) ([]Basket, bool) {
	arr, ok := v.([]any)
	if !ok || len(arr) > maxBaskets {
		return nil, false
	}
	out := make([]Basket, 0, len(arr))
	objects := false
	for i, e := range arr {
		var b Basket
		switch e := e.(type) {
		case string:
			if i > 0 && objects {
				return nil, false
			}
			b = Basket{System: DefaultBasketSystem, Code: e}
		case map[string]any:
			if i > 0 && !objects {
				return nil, false
			}
			objects = true
			if b, ok = parseBasketObject(e); !ok {
				return nil, false
			}
		default:
			return nil, false
		}
		if !isCodeToken(b.Code) || !isCodeToken(b.System) {
			return nil, false
		}
		out = append(out, b)
	}
	return out, true
}

func parseBasketObject(obj map[string]any) (Basket, bool) {
	for k := range obj {
		if !basketMembers[k] {
			return Basket{}, false
		}
	}
	code, ok := obj["code"].(string)
	if !ok {
		return Basket{}, false
	}
	b := Basket{System: DefaultBasketSystem, Code: code}
	if s, present := obj["system"]; present {
		if b.System, ok = s.(string); !ok {
			return Basket{}, false
		}
	}
	if d, present := obj["display"]; present {
		if _, ok := d.(string); !ok {
			return Basket{}, false
		}
	}
	if d, present := obj["historical_depth"]; present && d != nil {
		s, ok := d.(string)
		if !ok {
			return Basket{}, false
		}
		if b.HistoricalDepth, ok = normaliseDate(s); !ok {
			return Basket{}, false
		}
	}
	return b, true
}

// isCodeToken reports whether s is a non-empty code or system without
// whitespace, control characters or the separators of FHIR token search
// ("|", ",", "\"), so that it can never smuggle a second item into a query.
func isCodeToken(s string) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || c == '|' || c == ',' || c == '\\' {
			return false
		}
	}
	return true
}

// normaliseDate turns a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD) or dateTime
// (with a time zone) into the date "YYYY-MM-DD": a partial date stands for
// its first day, a dateTime for its date as written (FHIR dates are local;
// converting to UTC could move the bound a day earlier and disclose more).
func normaliseDate(s string) (string, bool) {
	switch len(s) {
	case 4:
		if _, err := time.Parse("2006", s); err != nil {
			return "", false
		}
		return s + "-01-01", true
	case 7:
		if _, err := time.Parse("2006-01", s); err != nil {
			return "", false
		}
		return s + "-01", true
	case 10:
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return "", false
		}
		return s, true
	}
	if len(s) < 20 || s[10] != 'T' || strings.ContainsAny(s, " \t") {
		return "", false
	}
	if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
		return "", false
	}
	return s[:10], true
}

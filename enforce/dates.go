package enforce

// Dates are compared as calendar days, as written: "2024-01-05T23:30:00-05:00"
// is the day 2024-01-05, whatever its UTC day. A day is "YYYY-MM-DD" in a
// fixed array, so that byte order is date order. A partial date covers a
// range of days: "2024" is 2024-01-01 to 2024-99-99, an upper edge past
// every real day of the year (only the order matters, never the day).

// day is "YYYY-MM-DD"; lexicographic order is chronological order.
type day [10]byte

var (
	dayMin = day{'0', '0', '0', '0', '-', '0', '0', '-', '0', '0'}
	dayMax = day{'9', '9', '9', '9', '-', '9', '9', '-', '9', '9'}
)

// dateRange is the closed range of days a value covers.
type dateRange struct{ lo, hi day }

func (d day) less(o day) bool {
	for i := range d {
		if d[i] != o[i] {
			return d[i] < o[i]
		}
	}
	return false
}

// parseDateValue reads a FHIR date, dateTime or instant (YYYY, YYYY-MM,
// YYYY-MM-DD, or a full date with a time part) into the days it covers.
func parseDateValue(v []byte) (dateRange, bool) {
	n := len(v)
	if n != 4 && n != 7 && n < 10 {
		return dateRange{}, false
	}
	if !digits(v[0:4]) || string(v[0:4]) == "0000" {
		return dateRange{}, false
	}
	r := dateRange{lo: dayMin, hi: dayMax}
	copy(r.lo[0:4], v[0:4])
	copy(r.hi[0:4], v[0:4])
	r.lo[5], r.lo[6], r.lo[8], r.lo[9] = '0', '1', '0', '1'
	if n == 4 {
		return r, true
	}
	if v[4] != '-' || !digits(v[5:7]) || !inRange(v[5:7], "01", "12") {
		return dateRange{}, false
	}
	copy(r.lo[5:7], v[5:7])
	copy(r.hi[5:7], v[5:7])
	if n == 7 {
		return r, true
	}
	if v[7] != '-' || !digits(v[8:10]) || !inRange(v[8:10], "01", "31") {
		return dateRange{}, false
	}
	copy(r.lo[8:10], v[8:10])
	copy(r.hi[8:10], v[8:10])
	if n == 10 {
		return r, true
	}
	if !validTimePart(v[10:]) {
		return dateRange{}, false
	}
	return r, true
}

// validTimePart checks "Thh:mm[:ss[.fff]][zone]" loosely: a 'T', two digits,
// and then only time and zone characters, at most 40 bytes in all.
func validTimePart(t []byte) bool {
	if len(t) < 3 || len(t) > 40 || t[0] != 'T' || !digits(t[1:3]) {
		return false
	}
	for _, c := range t[3:] {
		if (c < '0' || c > '9') && c != ':' && c != '.' && c != '+' && c != '-' && c != 'Z' {
			return false
		}
	}
	return true
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func inRange(b []byte, lo, hi string) bool { return string(b) >= lo && string(b) <= hi }

// dateSearch is one date search value: a prefix and the days of its date.
type dateSearch struct {
	prefix string
	rng    dateRange
}

var datePrefixes = []string{"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"}

// parseDateSearch reads "[prefix]date" where date has no time part. A time
// part, the "ap" prefix or any other form is refused: it cannot be compared
// at the precision of days without widening what it selects.
func parseDateSearch(v string) (dateSearch, bool) {
	ds := dateSearch{prefix: "eq"}
	if len(v) >= 2 && v[0] >= 'a' && v[0] <= 'z' {
		ds.prefix = v[:2]
		v = v[2:]
		known := false
		for _, p := range datePrefixes {
			known = known || p == ds.prefix
		}
		if !known {
			return dateSearch{}, false
		}
	}
	if len(v) > 10 {
		return dateSearch{}, false
	}
	r, ok := parseDateValue([]byte(v))
	if !ok {
		return dateSearch{}, false
	}
	ds.rng = r
	return ds, true
}

// matches applies the search value to a target range of days, the way FHIR
// servers commonly do (HAPI): ge keeps a target that reaches the search
// day, le one that starts by it, eq one inside it.
func (ds dateSearch) matches(t dateRange) bool {
	s := ds.rng
	switch ds.prefix {
	case "eq":
		return !t.lo.less(s.lo) && !s.hi.less(t.hi)
	case "ne":
		return t.lo.less(s.lo) || s.hi.less(t.hi)
	case "gt":
		return s.hi.less(t.hi)
	case "lt":
		return t.lo.less(s.lo)
	case "ge":
		return !t.hi.less(s.lo)
	case "le":
		return !s.hi.less(t.lo)
	case "sa":
		return s.hi.less(t.lo)
	case "eb":
		return t.hi.less(s.lo)
	}
	return false
}

// parseSince reads a historical_depth bound, a full date YYYY-MM-DD.
func parseSince(v string) (day, bool) {
	if len(v) != 10 {
		return day{}, false
	}
	r, ok := parseDateValue([]byte(v))
	return r.lo, ok
}

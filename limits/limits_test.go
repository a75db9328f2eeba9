package limits

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hdp-il/fhir-pep/fhir"
)

// query builds n parameters p0..p(n-1), each with k comma items.
func query(n, k int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte('&')
		}
		fmt.Fprintf(&b, "p%d=", i)
		for j := range k {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "v%d", j)
		}
	}
	return b.String()
}

func TestCheckParams(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		query string
		want  error
		limit int
	}{
		{"empty", Config{}, "", nil, 0},
		{"default params at limit", Config{}, query(50, 1), nil, 0},
		{"default params over", Config{}, query(51, 1), ErrTooManyParams, 50},
		{"255 params", Config{}, query(255, 1), ErrTooManyParams, 50},
		{"default items per param at limit", Config{}, query(1, 100), nil, 0},
		{"default items per param over", Config{}, query(1, 101), ErrTooManyValues, 100},
		{"default total at limit", Config{}, query(2, 100), nil, 0},
		{"default total over", Config{}, query(3, 67), ErrTooManyValues, 200},
		{"configured params", Config{MaxParams: 3}, query(4, 1), ErrTooManyParams, 3},
		{"configured per param", Config{MaxValuesPerParam: 2, MaxValues: 10}, query(1, 3), ErrTooManyValues, 2},
		{"configured total", Config{MaxValuesPerParam: 5, MaxValues: 5}, query(2, 3), ErrTooManyValues, 5},
		{"20,000 items (issue 12)", Config{}, "_security=" + strings.Repeat("s|c,", 19999) + "s|c", ErrTooManyValues, 100},
		{"escaped comma is one item", Config{MaxValuesPerParam: 1, MaxValues: 1}, `code=a\,b`, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			params, err := fhir.ParseQuery(tc.query)
			if err != nil {
				t.Fatalf("ParseQuery: %v", err)
			}
			err = tc.cfg.CheckParams(params)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("CheckParams = %v", err)
				}
				return
			}
			var e *Error
			if !errors.Is(err, tc.want) || !errors.As(err, &e) {
				t.Fatalf("CheckParams = %v, want %v", err, tc.want)
			}
			if e.Limit != tc.limit || e.HTTPStatus() != http.StatusBadRequest {
				t.Fatalf("limit %d status %d", e.Limit, e.HTTPStatus())
			}
		})
	}
}

func TestCheckHeader(t *testing.T) {
	header := func(keys, perKey int) http.Header {
		h := http.Header{}
		for i := range keys {
			for j := range perKey {
				h.Add(fmt.Sprintf("X-H%d", i), fmt.Sprint(j))
			}
		}
		return h
	}
	cases := []struct {
		name string
		cfg  Config
		h    http.Header
		ok   bool
	}{
		{"none", Config{}, http.Header{}, true},
		{"at default", Config{}, header(100, 1), true},
		{"over default", Config{}, header(101, 1), false},
		{"repeated lines count", Config{}, header(1, 101), false},
		{"mixed at limit", Config{}, header(50, 2), true},
		{"configured", Config{MaxHeaderFields: 5}, header(3, 2), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.CheckHeader(tc.h)
			if tc.ok != (err == nil) {
				t.Fatalf("CheckHeader = %v, ok want %v", err, tc.ok)
			}
			var e *Error
			if err != nil && (!errors.As(err, &e) || e.HTTPStatus() != 431 || !errors.Is(err, ErrTooManyHeaderFields)) {
				t.Fatalf("error %v", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"all set", Config{MaxParams: 10, MaxValuesPerParam: 10, MaxValues: 20, MaxHeaderFields: 50}, true},
		{"negative", Config{MaxParams: -1}, false},
		{"negative header", Config{MaxHeaderFields: -1}, false},
		{"per param above total", Config{MaxValuesPerParam: 300}, false},
		{"above the parser", Config{MaxParams: fhir.MaxParams + 1}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); tc.ok != (err == nil) {
				t.Fatalf("Validate = %v", err)
			}
		})
	}
	d := Config{}.WithDefaults()
	if d.MaxParams != 50 || d.MaxValuesPerParam != 100 || d.MaxValues != 200 || d.MaxHeaderFields != 100 {
		t.Fatalf("defaults %+v", d)
	}
}

package introspection

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestBasketsClaim(t *testing.T) {
	const alias = "http://fhir.health.gov.il/cs/hdp-information-buckets"
	tests := []struct {
		name    string
		baskets string // JSON; "" = claim absent
		want    []Basket
		bad     bool
	}{
		{name: "absent", want: nil},
		{name: "empty list", baskets: `[]`, want: []Basket{}},
		{name: "codes", baskets: `["laboratoryTests","EncounterInformation"]`, want: []Basket{
			{System: DefaultBasketSystem, Code: "laboratoryTests"},
			{System: DefaultBasketSystem, Code: "EncounterInformation"},
		}},
		{name: "objects with depth", baskets: `[{"code":"laboratoryTests","system":"` + alias + `","historical_depth":"2024-01-01"},{"code":"encounterInformation"}]`, want: []Basket{
			{System: alias, Code: "laboratoryTests", HistoricalDepth: "2024-01-01"},
			{System: DefaultBasketSystem, Code: "encounterInformation"},
		}},
		{name: "depth as dateTime", baskets: `[{"code":"a","historical_depth":"2024-03-05T10:20:30+02:00"}]`, want: []Basket{{System: DefaultBasketSystem, Code: "a", HistoricalDepth: "2024-03-05"}}},
		{name: "depth as UTC dateTime with fraction", baskets: `[{"code":"a","historical_depth":"2023-12-31T23:59:59.123Z"}]`, want: []Basket{{System: DefaultBasketSystem, Code: "a", HistoricalDepth: "2023-12-31"}}},
		{name: "depth as year and month", baskets: `[{"code":"a","historical_depth":"2024-02"}]`, want: []Basket{{System: DefaultBasketSystem, Code: "a", HistoricalDepth: "2024-02-01"}}},
		{name: "depth as year", baskets: `[{"code":"a","historical_depth":"2024"}]`, want: []Basket{{System: DefaultBasketSystem, Code: "a", HistoricalDepth: "2024-01-01"}}},
		{name: "depth null", baskets: `[{"code":"a","historical_depth":null}]`, want: []Basket{{System: DefaultBasketSystem, Code: "a"}}},
		{name: "display ignored", baskets: `[{"code":"a","display":"Lab"}]`, want: []Basket{{System: DefaultBasketSystem, Code: "a"}}},
		{name: "string", baskets: `"laboratoryTests"`, bad: true},
		{name: "object", baskets: `{"code":"a"}`, bad: true},
		{name: "null", baskets: `null`, bad: true},
		{name: "mixed codes and objects", baskets: `["a",{"code":"b"}]`, bad: true},
		{name: "mixed objects and codes", baskets: `[{"code":"b"},"a"]`, bad: true},
		{name: "number element", baskets: `[1]`, bad: true},
		{name: "null element", baskets: `[null]`, bad: true},
		{name: "nested list", baskets: `[["a"]]`, bad: true},
		{name: "empty code", baskets: `[""]`, bad: true},
		{name: "code with space", baskets: `["lab tests"]`, bad: true},
		{name: "code with bar", baskets: `["s|a"]`, bad: true},
		{name: "code with comma", baskets: `["a,b"]`, bad: true},
		{name: "code with backslash", baskets: `["a\\,b"]`, bad: true},
		{name: "object without code", baskets: `[{"system":"s"}]`, bad: true},
		{name: "code number", baskets: `[{"code":5}]`, bad: true},
		{name: "empty system", baskets: `[{"code":"a","system":""}]`, bad: true},
		{name: "system null", baskets: `[{"code":"a","system":null}]`, bad: true},
		{name: "unknown member", baskets: `[{"code":"a","period":{"end":"2020"}}]`, bad: true},
		{name: "display number", baskets: `[{"code":"a","display":1}]`, bad: true},
		{name: "depth number", baskets: `[{"code":"a","historical_depth":20240101}]`, bad: true},
		{name: "depth empty", baskets: `[{"code":"a","historical_depth":""}]`, bad: true},
		{name: "depth not a date", baskets: `[{"code":"a","historical_depth":"2024-13-01"}]`, bad: true},
		{name: "depth 30 February", baskets: `[{"code":"a","historical_depth":"2024-02-30"}]`, bad: true},
		{name: "depth dateTime without zone", baskets: `[{"code":"a","historical_depth":"2024-01-01T00:00:00"}]`, bad: true},
		{name: "depth with space", baskets: `[{"code":"a","historical_depth":"2024-01-01 00:00:00Z"}]`, bad: true},
		{name: "depth relative", baskets: `[{"code":"a","historical_depth":"P5Y"}]`, bad: true},
		{name: "too many", baskets: `[` + strings.Repeat(`"a",`, maxBaskets) + `"a"]`, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := claimsJSON(t, func(m map[string]any) {
				if tt.baskets != "" {
					m["baskets"] = json.RawMessage(tt.baskets)
				}
			})
			c, err := DecodeClaims(body)
			if tt.bad {
				var ce *ClaimError
				if !errors.As(err, &ce) || ce.Reason != ReasonInvalidBaskets || !errors.Is(err, ErrIncompleteClaims) {
					t.Fatalf("err %v, want ClaimError %s", err, ReasonInvalidBaskets)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeClaims: %v", err)
			}
			if !reflect.DeepEqual(c.Baskets, tt.want) || (c.Baskets == nil) != (tt.want == nil) {
				t.Fatalf("Baskets %#v, want %#v", c.Baskets, tt.want)
			}
		})
	}
}

func TestNormaliseDate(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2024-01-01", "2024-01-01"},
		{"2024-01", "2024-01-01"},
		{"2024", "2024-01-01"},
		{"2024-01-01T00:00:00Z", "2024-01-01"},
		{"2024-01-01T00:00:00+14:00", "2024-01-01"},
		{"2024-01-01T00:00:00.5-12:00", "2024-01-01"},
		{"2024-1-1", ""},
		{"24-01-01", ""},
		{"2024-01-01T", ""},
		{"2024-01-01t00:00:00Z", ""},
		{"2024-01-01T25:00:00Z", ""},
		{"abcd", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := normaliseDate(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("normaliseDate(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

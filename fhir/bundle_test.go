package fhir

import (
	"reflect"
	"testing"
)

func TestParseBundleEntries(t *testing.T) {
	body := []byte(`{
	  "resourceType": "Bundle", "type": "transaction",
	  "entry": [
	    {"request": {"method": "GET", "url": "Patient/p1"}},
	    {"request": {"method": "GET", "url": "Observation?patient=Patient/p1&code=http://loinc.org|1234-5"}},
	    {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Observation", "status": "final"},
	     "request": {"method": "POST", "url": "Observation"}},
	    {"request": {"method": "DELETE", "url": "Observation/o1"}}
	  ]}`)
	got, err := ParseBundleEntries(body)
	if err != nil {
		t.Fatal(err)
	}
	want := []EntryRequest{
		{Method: "GET", URL: "Patient/p1", Path: "/Patient/p1"},
		{Method: "GET", URL: "Observation?patient=Patient/p1&code=http://loinc.org|1234-5", Path: "/Observation",
			RawQuery: "patient=Patient/p1&code=http://loinc.org|1234-5"},
		{Method: "POST", URL: "Observation", Path: "/Observation",
			Body: []byte(`{"resourceType": "Observation", "status": "final"}`)},
		{Method: "DELETE", URL: "Observation/o1", Path: "/Observation/o1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// Every entry can be checked with ParseRequest.
	interactions := []Interaction{InteractionRead, InteractionSearchType, InteractionCreate, InteractionDelete}
	for i, e := range got {
		r, err := ParseRequest(e.Method, e.Path, e.RawQuery, hdr("Content-Type", fhirJSON), e.Body)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if r.Interaction != interactions[i] {
			t.Fatalf("entry %d: interaction %s, want %s", i, r.Interaction, interactions[i])
		}
	}
}

func TestParseBundleEntriesEmpty(t *testing.T) {
	got, err := ParseBundleEntries([]byte(`{"resourceType":"Bundle","type":"batch"}`))
	if err != nil || got != nil {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestParseBundleEntriesRejections(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"not json", `{`},
		{"array", `[]`},
		{"not a bundle", `{"resourceType":"Patient"}`},
		{"searchset", `{"resourceType":"Bundle","type":"searchset","entry":[]}`},
		{"duplicate type", `{"resourceType":"Bundle","type":"batch","type":"transaction"}`},
		{"duplicate nested key", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/1","url":"Patient/2"}}]}`},
		{"case-folded key", `{"resourceType":"Bundle","type":"batch","entry":[{"Request":{"method":"GET","url":"Patient/1"}}]}`},
		{"entry not array", `{"resourceType":"Bundle","type":"batch","entry":{}}`},
		{"missing request", `{"resourceType":"Bundle","type":"batch","entry":[{}]}`},
		{"bad method", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"HEAD","url":"Patient/1"}}]}`},
		{"lower-case method", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"get","url":"Patient/1"}}]}`},
		{"method not string", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":1,"url":"Patient/1"}}]}`},
		{"nested batch url", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"POST","url":""}}]}`},
		{"query only url", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"?_type=Patient"}}]}`},
		{"absolute url", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"https://evil/Patient/1"}}]}`},
		{"rooted url", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"/Patient/1"}}]}`},
		{"fragment", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/1#x"}}]}`},
		{"trailing value", `{"resourceType":"Bundle","type":"batch"} []`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseBundleEntries([]byte(tc.body))
			if err != ErrInvalidBody { //nolint:errorlint // sentinel returned unwrapped
				t.Fatalf("err = %v, want ErrInvalidBody (got %+v)", err, got)
			}
		})
	}
}

func TestNoDuplicateKeys(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}`, true},
		{`{"a":1,"a":2}`, false},
		{`{"b":{"x":1,"x":2}}`, false},
		{`[{"x":1},{"y":[{"z":1,"z":1}]}]`, false},
		{`"x"`, true},
		{``, false},
		{`{} {}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := noDuplicateKeys([]byte(tc.in)); got != tc.want {
				t.Fatalf("noDuplicateKeys(%s) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

package fhir

import (
	"errors"
	"net/http"
	"reflect"
	"testing"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

const (
	formCT   = "application/x-www-form-urlencoded"
	fhirJSON = "application/fhir+json"
)

func TestParseRequestInteractions(t *testing.T) {
	batch := []byte(`{"resourceType":"Bundle","type":"batch","entry":[]}`)
	transaction := []byte(`{"resourceType":"Bundle","type":"transaction"}`)
	tests := []struct {
		name   string
		method string
		path   string
		query  string
		header http.Header
		body   []byte
		want   Request
	}{
		{name: "capabilities", method: "GET", path: "/metadata",
			want: Request{Method: "GET", Interaction: InteractionCapabilities}},
		{name: "search-system empty path", method: "GET", path: "", query: "_type=Observation",
			want: Request{Method: "GET", Interaction: InteractionSearchSystem,
				Params: []Param{{Key: "_type", Name: "_type", Values: []string{"Observation"}, Raw: "Observation"}}}},
		{name: "search-system slash", method: "GET", path: "/",
			want: Request{Method: "GET", Interaction: InteractionSearchSystem}},
		{name: "search-system post form", method: "POST", path: "/_search", header: hdr("Content-Type", formCT),
			body: []byte("_type=Patient"),
			want: Request{Method: "POST", Interaction: InteractionSearchSystem,
				Params: []Param{{Key: "_type", Name: "_type", Values: []string{"Patient"}, Raw: "Patient"}}}},
		{name: "batch", method: "POST", path: "", header: hdr("Content-Type", fhirJSON), body: batch,
			want: Request{Method: "POST", Interaction: InteractionBatch}},
		{name: "transaction", method: "POST", path: "/", header: hdr("Content-Type", "application/fhir+json; charset=utf-8"), body: transaction,
			want: Request{Method: "POST", Interaction: InteractionTransaction}},
		{name: "history-system", method: "GET", path: "/_history", query: "_since=2024-01-01",
			want: Request{Method: "GET", Interaction: InteractionHistorySystem,
				Params: []Param{{Key: "_since", Name: "_since", Values: []string{"2024-01-01"}, Raw: "2024-01-01"}}}},
		{name: "search-type", method: "GET", path: "/Observation", query: "category=laboratory&date=ge2024-01-01",
			want: Request{Method: "GET", Interaction: InteractionSearchType, ResourceType: "Observation",
				Params: []Param{
					{Key: "category", Name: "category", Values: []string{"laboratory"}, Raw: "laboratory"},
					{Key: "date", Name: "date", Values: []string{"ge2024-01-01"}, Raw: "ge2024-01-01"},
				}}},
		{name: "search-type post merges query then body", method: "POST", path: "/Observation/_search",
			query: "patient=Patient/1", header: hdr("Content-Type", formCT+"; charset=UTF-8"), body: []byte("code=1234-5&code=x"),
			want: Request{Method: "POST", Interaction: InteractionSearchType, ResourceType: "Observation",
				Params: []Param{
					{Key: "patient", Name: "patient", Values: []string{"Patient/1"}, Raw: "Patient/1"},
					{Key: "code", Name: "code", Values: []string{"1234-5"}, Raw: "1234-5"},
					{Key: "code", Name: "code", Values: []string{"x"}, Raw: "x"},
				}}},
		{name: "search-type post empty body", method: "POST", path: "/Observation/_search",
			want: Request{Method: "POST", Interaction: InteractionSearchType, ResourceType: "Observation"}},
		{name: "create", method: "POST", path: "/Observation", header: hdr("Content-Type", fhirJSON), body: []byte(`{}`),
			want: Request{Method: "POST", Interaction: InteractionCreate, ResourceType: "Observation"}},
		{name: "conditional create", method: "POST", path: "/Patient",
			header: hdr("Content-Type", fhirJSON, "If-None-Exist", "identifier=x|1"), body: []byte(`{}`),
			want: Request{Method: "POST", Interaction: InteractionCreate, ResourceType: "Patient", Conditional: true}},
		{name: "conditional update", method: "PUT", path: "/Patient", query: "identifier=x%7C1", body: []byte(`{}`),
			want: Request{Method: "PUT", Interaction: InteractionUpdate, ResourceType: "Patient", Conditional: true,
				Params: []Param{{Key: "identifier", Name: "identifier", Values: []string{"x|1"}, Raw: "x|1"}}}},
		{name: "conditional patch", method: "PATCH", path: "/Patient", query: "identifier=x|1", body: []byte(`[]`),
			header: hdr("Content-Type", "application/json-patch+json"),
			want: Request{Method: "PATCH", Interaction: InteractionPatch, ResourceType: "Patient", Conditional: true,
				Params: []Param{{Key: "identifier", Name: "identifier", Values: []string{"x|1"}, Raw: "x|1"}}}},
		{name: "conditional delete", method: "DELETE", path: "/Patient", query: "identifier=x|1",
			want: Request{Method: "DELETE", Interaction: InteractionDelete, ResourceType: "Patient", Conditional: true,
				Params: []Param{{Key: "identifier", Name: "identifier", Values: []string{"x|1"}, Raw: "x|1"}}}},
		{name: "history-type", method: "GET", path: "/Observation/_history",
			want: Request{Method: "GET", Interaction: InteractionHistoryType, ResourceType: "Observation"}},
		{name: "read", method: "GET", path: "/Patient/patient-with-israeli-id",
			want: Request{Method: "GET", Interaction: InteractionRead, ResourceType: "Patient", ID: "patient-with-israeli-id"}},
		{name: "read id with dots", method: "GET", path: "/Observation/a.b..c",
			want: Request{Method: "GET", Interaction: InteractionRead, ResourceType: "Observation", ID: "a.b..c"}},
		{name: "read id named metadata", method: "GET", path: "/Observation/metadata",
			want: Request{Method: "GET", Interaction: InteractionRead, ResourceType: "Observation", ID: "metadata"}},
		{name: "update", method: "PUT", path: "/Observation/1", body: []byte(`{}`),
			want: Request{Method: "PUT", Interaction: InteractionUpdate, ResourceType: "Observation", ID: "1"}},
		{name: "patch", method: "PATCH", path: "/Observation/1", body: []byte(`[]`),
			want: Request{Method: "PATCH", Interaction: InteractionPatch, ResourceType: "Observation", ID: "1"}},
		{name: "delete", method: "DELETE", path: "/Observation/1",
			want: Request{Method: "DELETE", Interaction: InteractionDelete, ResourceType: "Observation", ID: "1"}},
		{name: "history-instance", method: "GET", path: "/Observation/1/_history",
			want: Request{Method: "GET", Interaction: InteractionHistoryInstance, ResourceType: "Observation", ID: "1"}},
		{name: "vread", method: "GET", path: "/Observation/1/_history/2",
			want: Request{Method: "GET", Interaction: InteractionVRead, ResourceType: "Observation", ID: "1", VersionID: "2"}},
		{name: "search-compartment", method: "GET", path: "/Patient/p1/Observation", query: "code=x",
			want: Request{Method: "GET", Interaction: InteractionSearchCompartment, ResourceType: "Observation",
				Compartment: &Compartment{Type: "Patient", ID: "p1"},
				Params:      []Param{{Key: "code", Name: "code", Values: []string{"x"}, Raw: "x"}}}},
		{name: "search-compartment wildcard", method: "GET", path: "/Patient/p1/*",
			want: Request{Method: "GET", Interaction: InteractionSearchCompartment, ResourceType: "*",
				Compartment: &Compartment{Type: "Patient", ID: "p1"}}},
		{name: "search-compartment encounter", method: "GET", path: "/Encounter/e1/Observation",
			want: Request{Method: "GET", Interaction: InteractionSearchCompartment, ResourceType: "Observation",
				Compartment: &Compartment{Type: "Encounter", ID: "e1"}}},
		{name: "search-compartment post", method: "POST", path: "/Patient/p1/Condition/_search",
			header: hdr("Content-Type", formCT), body: []byte("clinical-status=active"),
			want: Request{Method: "POST", Interaction: InteractionSearchCompartment, ResourceType: "Condition",
				Compartment: &Compartment{Type: "Patient", ID: "p1"},
				Params:      []Param{{Key: "clinical-status", Name: "clinical-status", Values: []string{"active"}, Raw: "active"}}}},
		{name: "operation system", method: "GET", path: "/$versions",
			want: Request{Method: "GET", Interaction: InteractionOperation, Operation: &Operation{Name: "$versions", Level: OperationSystem}}},
		{name: "operation type", method: "POST", path: "/Observation/$lastn", body: []byte(`{"resourceType":"Parameters"}`),
			header: hdr("Content-Type", fhirJSON),
			want: Request{Method: "POST", Interaction: InteractionOperation, ResourceType: "Observation",
				Operation: &Operation{Name: "$lastn", Level: OperationType}}},
		{name: "operation instance everything", method: "GET", path: "/Patient/p1/$everything", query: "_count=10",
			want: Request{Method: "GET", Interaction: InteractionOperation, ResourceType: "Patient", ID: "p1",
				Operation: &Operation{Name: "$everything", Level: OperationInstance},
				Params:    []Param{{Key: "_count", Name: "_count", Values: []string{"10"}, Raw: "10"}}}},
		{name: "xml via _format", method: "GET", path: "/Patient/1", query: "_format=xml",
			want: Request{Method: "GET", Interaction: InteractionRead, ResourceType: "Patient", ID: "1", WantsXML: true, WantsNonJSON: true,
				Params: []Param{{Key: "_format", Name: "_format", Values: []string{"xml"}, Raw: "xml"}}}},
		{name: "xml via _format media type", method: "GET", path: "/Patient/1", query: "_format=application/fhir%2Bxml",
			want: Request{Method: "GET", Interaction: InteractionRead, ResourceType: "Patient", ID: "1", WantsXML: true, WantsNonJSON: true,
				Params: []Param{{Key: "_format", Name: "_format", Values: []string{"application/fhir+xml"}, Raw: "application/fhir+xml"}}}},
		{name: "json via _format with parameters", method: "GET", path: "/Patient/1", query: "_format=application/fhir%2Bjson%3BfhirVersion%3D4.0",
			want: Request{Method: "GET", Interaction: InteractionRead, ResourceType: "Patient", ID: "1",
				Params: []Param{{Key: "_format", Name: "_format", Values: []string{"application/fhir+json;fhirVersion=4.0"},
					Raw: "application/fhir+json;fhirVersion=4.0"}}}},
		{name: "json via _format", method: "GET", path: "/Patient/1", query: "_format=json",
			want: Request{Method: "GET", Interaction: InteractionRead, ResourceType: "Patient", ID: "1",
				Params: []Param{{Key: "_format", Name: "_format", Values: []string{"json"}, Raw: "json"}}}},
		{name: "xml via accept", method: "GET", path: "/Patient/1",
			header: hdr("Accept", "application/fhir+json;q=0.9, application/fhir+xml"),
			want:   Request{Method: "GET", Interaction: InteractionRead, ResourceType: "Patient", ID: "1", WantsXML: true, WantsNonJSON: true}},
		{name: "html via accept", method: "GET", path: "/Patient/1", header: hdr("Accept", "text/html"),
			want: Request{Method: "GET", Interaction: InteractionRead, ResourceType: "Patient", ID: "1", WantsNonJSON: true}},
		{name: "json accept", method: "GET", path: "/Patient/1", header: hdr("Accept", "application/fhir+json, */*"),
			want: Request{Method: "GET", Interaction: InteractionRead, ResourceType: "Patient", ID: "1"}},
		{name: "xml body", method: "PUT", path: "/Patient/1", header: hdr("Content-Type", "application/fhir+xml"), body: []byte("<Patient/>"),
			want: Request{Method: "PUT", Interaction: InteractionUpdate, ResourceType: "Patient", ID: "1", WantsXML: true, WantsNonJSON: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest(tc.method, tc.path, tc.query, tc.header, tc.body)
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func TestParseRequestRejections(t *testing.T) {
	formHdr := hdr("Content-Type", formCT)
	tests := []struct {
		name   string
		method string
		path   string
		query  string
		header http.Header
		body   []byte
		want   error
	}{
		// Path canonicalisation.
		{"encoded slash", "GET", "/Patient%2F1", "", nil, nil, ErrNonCanonicalPath},
		{"encoded slash lower", "GET", "/Patient%2f1", "", nil, nil, ErrNonCanonicalPath},
		{"encoded backslash", "GET", "/Patient/1%5C", "", nil, nil, ErrNonCanonicalPath},
		{"raw backslash", "GET", "/Patient\\1", "", nil, nil, ErrNonCanonicalPath},
		{"dot segment", "GET", "/Patient/./1", "", nil, nil, ErrNonCanonicalPath},
		{"dotdot segment", "GET", "/Patient/../Observation", "", nil, nil, ErrNonCanonicalPath},
		{"dotdot id", "GET", "/Patient/..", "", nil, nil, ErrNonCanonicalPath},
		{"encoded dot", "GET", "/Patient/%2e%2e/Observation", "", nil, nil, ErrNonCanonicalPath},
		{"encoded dot upper", "GET", "/Patient/%2E", "", nil, nil, ErrNonCanonicalPath},
		{"double encoding", "GET", "/Patient/%252F", "", nil, nil, ErrNonCanonicalPath},
		{"encoded letter", "GET", "/Patien%74/1", "", nil, nil, ErrNonCanonicalPath},
		{"encoded dollar", "GET", "/Patient/1/%24everything", "", nil, nil, ErrNonCanonicalPath},
		{"invalid percent", "GET", "/Patient/%zz", "", nil, nil, ErrNonCanonicalPath},
		{"matrix param", "GET", "/Patient;x=1/1", "", nil, nil, ErrNonCanonicalPath},
		{"matrix param on id", "GET", "/Patient/1;jsessionid=2", "", nil, nil, ErrNonCanonicalPath},
		{"empty segment", "GET", "/Patient//1", "", nil, nil, ErrNonCanonicalPath},
		{"leading double slash", "GET", "//Patient/1", "", nil, nil, ErrNonCanonicalPath},
		{"trailing slash", "GET", "/Patient/", "", nil, nil, ErrNonCanonicalPath},
		{"no leading slash", "GET", "Patient/1", "", nil, nil, ErrNonCanonicalPath},
		{"nul", "GET", "/Patient/1\x00", "", nil, nil, ErrNonCanonicalPath},
		{"control char", "GET", "/Patient/\n1", "", nil, nil, ErrNonCanonicalPath},
		{"space", "GET", "/Patient/a b", "", nil, nil, ErrNonCanonicalPath},
		{"non-ascii", "GET", "/Patient/\u05d0", "", nil, nil, ErrNonCanonicalPath},
		{"invalid utf-8", "GET", "/Patient/\xff", "", nil, nil, ErrNonCanonicalPath},
		{"query in path", "GET", "/Patient?x=1", "", nil, nil, ErrNonCanonicalPath},
		// Types, ids, operations.
		{"lower-case type", "GET", "/observation", "", nil, nil, ErrUnknownResourceType},
		{"lower-case type instance", "GET", "/observation/1", "", nil, nil, ErrUnknownResourceType},
		{"abstract type", "GET", "/Resource/1", "", nil, nil, ErrUnknownResourceType},
		{"unknown compartment target", "GET", "/Patient/1/observation", "", nil, nil, ErrUnknownResourceType},
		{"id too long", "GET", "/Patient/" + string(make65()), "", nil, nil, ErrInvalidID},
		{"id underscore", "GET", "/Patient/a_b", "", nil, nil, ErrInvalidID},
		{"id star", "GET", "/Patient/*", "", nil, nil, ErrInvalidID},
		{"version id invalid", "GET", "/Patient/1/_history/a_b", "", nil, nil, ErrInvalidID},
		{"compartment id invalid", "GET", "/Patient/a_b/Observation", "", nil, nil, ErrInvalidID},
		{"operation bad name", "GET", "/Patient/1/$", "", nil, nil, ErrInvalidOperation},
		{"operation digit", "GET", "/$1x", "", nil, nil, ErrInvalidOperation},
		{"operation dot", "GET", "/Patient/$a.b", "", nil, nil, ErrInvalidOperation},
		// Shapes and methods.
		{"head", "HEAD", "/Patient/1", "", nil, nil, ErrUnsupportedRequest},
		{"options", "OPTIONS", "/metadata", "", nil, nil, ErrUnsupportedRequest},
		{"lower-case method", "get", "/Patient/1", "", nil, nil, ErrUnsupportedRequest},
		{"post metadata", "POST", "/metadata", "", nil, nil, ErrUnsupportedRequest},
		{"get _search", "GET", "/Observation/_search", "", nil, nil, ErrUnsupportedRequest},
		{"get system _search", "GET", "/_search", "", nil, nil, ErrUnsupportedRequest},
		{"post _history", "POST", "/Observation/_history", "", nil, nil, ErrUnsupportedRequest},
		{"post instance", "POST", "/Observation/1", "", nil, nil, ErrUnsupportedRequest},
		{"put base", "PUT", "", "", nil, nil, ErrUnsupportedRequest},
		{"delete operation", "DELETE", "/Patient/1/$everything", "", nil, nil, ErrUnsupportedRequest},
		{"five segments", "GET", "/Patient/1/_history/2/x", "", nil, nil, ErrUnsupportedRequest},
		{"non-compartment type", "GET", "/Observation/1/Patient", "", nil, nil, ErrUnsupportedRequest},
		{"wildcard on non-compartment", "GET", "/Observation/1/*", "", nil, nil, ErrUnsupportedRequest},
		{"compartment post without _search", "POST", "/Patient/1/Observation", "", nil, nil, ErrUnsupportedRequest},
		{"compartment get _search", "GET", "/Patient/1/Observation/_search", "", nil, nil, ErrUnsupportedRequest},
		{"history put", "PUT", "/Patient/1/_history", "", nil, nil, ErrUnsupportedRequest},
		{"instance operation extra segment", "GET", "/Patient/1/$everything/x", "", nil, nil, ErrUnsupportedRequest},
		{"conditional update without criteria", "PUT", "/Patient", "", nil, []byte(`{}`), ErrUnsupportedRequest},
		{"conditional delete without criteria", "DELETE", "/Patient", "", nil, nil, ErrUnsupportedRequest},
		// Query strings.
		{"semicolon separator", "GET", "/Observation", "a=1;b=2", nil, nil, ErrInvalidQuery},
		{"encoded semicolon is fine but raw is not", "GET", "/Observation", "code=a;b", nil, nil, ErrInvalidQuery},
		{"empty pair", "GET", "/Observation", "a=1&&b=2", nil, nil, ErrInvalidQuery},
		{"trailing ampersand", "GET", "/Observation", "a=1&", nil, nil, ErrInvalidQuery},
		{"no equals", "GET", "/Observation", "code", nil, nil, ErrInvalidQuery},
		{"empty name", "GET", "/Observation", "=x", nil, nil, ErrInvalidQuery},
		{"bad percent", "GET", "/Observation", "code=%zz", nil, nil, ErrInvalidQuery},
		{"truncated percent", "GET", "/Observation", "code=%4", nil, nil, ErrInvalidQuery},
		{"double encoded", "GET", "/Observation", "code=%2541", nil, nil, ErrInvalidQuery},
		{"double encoded name", "GET", "/Observation", "co%2564e=1", nil, nil, ErrInvalidQuery},
		{"encoded nul", "GET", "/Observation", "code=%00", nil, nil, ErrInvalidQuery},
		{"encoded newline", "GET", "/Observation", "code=a%0Ab", nil, nil, ErrInvalidQuery},
		{"invalid utf-8 value", "GET", "/Observation", "code=%FF", nil, nil, ErrInvalidQuery},
		{"raw space", "GET", "/Observation", "code=a b", nil, nil, ErrInvalidQuery},
		{"raw non-ascii", "GET", "/Observation", "name=\u05d0", nil, nil, ErrInvalidQuery},
		{"raw hash", "GET", "/Observation", "code=a#b", nil, nil, ErrInvalidQuery},
		{"bad escape", "GET", "/Observation", "code=a%5Cb", nil, nil, ErrInvalidQuery},
		{"trailing backslash", "GET", "/Observation", "code=a%5C", nil, nil, ErrInvalidQuery},
		{"too many params", "GET", "/Observation", manyParams(MaxParams + 1), nil, nil, ErrInvalidQuery},
		{"invalid name char", "GET", "/Observation", "co*de=1", nil, nil, ErrInvalidParamName},
		{"name with space", "GET", "/Observation", "co+de=1", nil, nil, ErrInvalidParamName},
		{"name leading digit", "GET", "/Observation", "1code=1", nil, nil, ErrInvalidParamName},
		{"empty modifier", "GET", "/Observation", "code:=1", nil, nil, ErrInvalidParamName},
		{"bad modifier", "GET", "/Observation", "code:a.b:=1", nil, nil, ErrInvalidParamName},
		{"empty chain", "GET", "/Observation", "subject.=1", nil, nil, ErrInvalidParamName},
		{"empty chain link", "GET", "/Observation", "subject..name=1", nil, nil, ErrInvalidParamName},
		{"has too short", "GET", "/Patient", "_has:Observation:patient=1", nil, nil, ErrInvalidParamName},
		{"has bad type", "GET", "/Patient", "_has:observation:patient:code=1", nil, nil, ErrInvalidParamName},
		// Bodies.
		{"get with body", "GET", "/Patient/1", "", nil, []byte("x"), ErrInvalidBody},
		{"delete with body", "DELETE", "/Patient/1", "", nil, []byte("x"), ErrInvalidBody},
		{"post _search json body", "POST", "/Observation/_search", "", hdr("Content-Type", fhirJSON), []byte(`{}`), ErrUnsupportedMediaType},
		{"post _search no content type", "POST", "/Observation/_search", "", nil, []byte("code=1"), ErrUnsupportedMediaType},
		{"post _search bad form", "POST", "/Observation/_search", "", formHdr, []byte("code=1;x=2"), ErrInvalidQuery},
		{"post _search too many", "POST", "/Observation/_search", manyParams(MaxParams), formHdr, []byte("a=1"), ErrInvalidQuery},
		{"batch without content type", "POST", "", "", nil, []byte(`{"resourceType":"Bundle","type":"batch"}`), ErrUnsupportedMediaType},
		{"batch wildcard content type", "POST", "", "", hdr("Content-Type", "*/*"), []byte(`{"resourceType":"Bundle","type":"batch"}`), ErrUnsupportedMediaType},
		{"batch xml", "POST", "", "", hdr("Content-Type", "application/fhir+xml"), []byte(`<Bundle/>`), ErrUnsupportedMediaType},
		{"batch not bundle", "POST", "", "", hdr("Content-Type", fhirJSON), []byte(`{"resourceType":"Patient"}`), ErrInvalidBody},
		{"batch wrong type", "POST", "", "", hdr("Content-Type", fhirJSON), []byte(`{"resourceType":"Bundle","type":"collection"}`), ErrInvalidBody},
		{"batch duplicate type", "POST", "", "", hdr("Content-Type", fhirJSON),
			[]byte(`{"resourceType":"Bundle","type":"batch","type":"transaction"}`), ErrInvalidBody},
		{"batch case-folded key", "POST", "", "", hdr("Content-Type", fhirJSON),
			[]byte(`{"resourceType":"Bundle","Type":"batch"}`), ErrInvalidBody},
		{"batch trailing data", "POST", "", "", hdr("Content-Type", fhirJSON),
			[]byte(`{"resourceType":"Bundle","type":"batch"} {}`), ErrInvalidBody},
		{"batch empty body", "POST", "", "", hdr("Content-Type", fhirJSON), nil, ErrInvalidBody},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest(tc.method, tc.path, tc.query, tc.header, tc.body)
			if err != tc.want { //nolint:errorlint // sentinels are returned unwrapped by contract
				t.Fatalf("err = %v, want %v (request %+v)", err, tc.want, got)
			}
			if got != nil {
				t.Fatalf("rejected request returned a model: %+v", got)
			}
		})
	}
}

func make65() []byte {
	b := make([]byte, 65)
	for i := range b {
		b[i] = 'a'
	}
	return b
}

func manyParams(n int) string {
	b := make([]byte, 0, n*4)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, "a=1"...)
	}
	return string(b)
}

func TestErrorReasons(t *testing.T) {
	for _, e := range []*Error{ErrNonCanonicalPath, ErrUnknownResourceType, ErrInvalidID, ErrInvalidOperation,
		ErrUnsupportedRequest, ErrInvalidQuery, ErrInvalidParamName, ErrUnsupportedMediaType, ErrInvalidBody} {
		if e.Error() != "fhir: "+e.Reason {
			t.Errorf("Error() = %q", e.Error())
		}
		var target *Error
		if !errors.As(error(e), &target) || target.Reason != e.Reason {
			t.Errorf("errors.As failed for %s", e.Reason)
		}
	}
}

func TestCanonicalPath(t *testing.T) {
	tests := []struct {
		method, path, query string
		header              http.Header
		body                []byte
		want                string
	}{
		{"GET", "/metadata", "", nil, nil, "/metadata"},
		{"GET", "/", "", nil, nil, ""},
		{"POST", "/_search", "", nil, nil, "/_search"},
		{"POST", "/", "", hdr("Content-Type", fhirJSON), []byte(`{"resourceType":"Bundle","type":"transaction"}`), ""},
		{"GET", "/_history", "", nil, nil, "/_history"},
		{"GET", "/Observation", "", nil, nil, "/Observation"},
		{"POST", "/Observation/_search", "", nil, nil, "/Observation/_search"},
		{"GET", "/Observation/_history", "", nil, nil, "/Observation/_history"},
		{"GET", "/Observation/1", "", nil, nil, "/Observation/1"},
		{"GET", "/Observation/1/_history", "", nil, nil, "/Observation/1/_history"},
		{"GET", "/Observation/1/_history/3", "", nil, nil, "/Observation/1/_history/3"},
		{"GET", "/Patient/1/*", "", nil, nil, "/Patient/1/*"},
		{"POST", "/Patient/1/Observation/_search", "", nil, nil, "/Patient/1/Observation/_search"},
		{"GET", "/$meta", "", nil, nil, "/$meta"},
		{"GET", "/Observation/$lastn", "", nil, nil, "/Observation/$lastn"},
		{"GET", "/Patient/1/$everything", "", nil, nil, "/Patient/1/$everything"},
		{"DELETE", "/Patient", "identifier=1", nil, nil, "/Patient"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r, err := ParseRequest(tc.method, tc.path, tc.query, tc.header, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.CanonicalPath(); got != tc.want {
				t.Fatalf("CanonicalPath() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParamsMapAndAddParam(t *testing.T) {
	r, err := ParseRequest("GET", "/Observation", "code=a,b&code:not=c&subject:Patient.name=Cohen&code=d", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"code":                 {"a,b", "d"},
		"code:not":             {"c"},
		"subject:Patient.name": {"Cohen"},
	}
	if got := r.ParamsMap(); !reflect.DeepEqual(got, want) {
		t.Fatalf("ParamsMap() = %v, want %v", got, want)
	}
	if err := r.AddParam("patient", "Patient/p1"); err != nil {
		t.Fatal(err)
	}
	if err := r.AddParam("_security", "http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests"); err != nil {
		t.Fatal(err)
	}
	if err := r.AddParam("date", "ge2024-01-01T00:00:00+02:00"); err != nil {
		t.Fatal(err)
	}
	const wantQuery = "code=a,b&code:not=c&subject:Patient.name=Cohen&code=d&patient=Patient/p1" +
		"&_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests" +
		"&date=ge2024-01-01T00:00:00%2B02:00"
	if got := r.CanonicalQuery(); got != wantQuery {
		t.Fatalf("CanonicalQuery() =\n%s\nwant\n%s", got, wantQuery)
	}
	again, err := ParseRequest("GET", r.CanonicalPath(), r.CanonicalQuery(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, r) {
		t.Fatalf("re-parse differs:\n%+v\n%+v", again, r)
	}

	bad := []struct{ key, raw string }{
		{"co de", "x"},
		{"code", "a\\b"},
		{"code", "a\x00"},
		{"code", "%41"},
		{"", "x"},
	}
	for _, b := range bad {
		if err := r.AddParam(b.key, b.raw); err == nil {
			t.Errorf("AddParam(%q, %q) accepted", b.key, b.raw)
		}
	}
}

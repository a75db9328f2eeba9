package fhir

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func FuzzParseRequest(f *testing.F) {
	seeds := []struct{ method, path, query, ctype, body string }{
		{"GET", "/Observation", "category=laboratory&date=ge2024-01-01", "", ""},
		{"GET", "/Patient/p1/$everything", "_count=5", "", ""},
		{"GET", "/Patient/p1/Observation", "code:not=x,y", "", ""},
		{"GET", "/Patient/p1/*", "", "", ""},
		{"POST", "/Observation/_search", "patient=1", formCT, "code=a%2Cb&_has:Observation:patient:code=1"},
		{"POST", "", "", fhirJSON, `{"resourceType":"Bundle","type":"batch"}`},
		{"GET", "/Observation/1/_history/2", "_format=xml", "", ""},
		{"PUT", "/Patient", "identifier=a|b", fhirJSON, `{}`},
		{"GET", "/Patient%2F1", "", "", ""},
		{"GET", "/Patient/../x", "a=1;b=2", "", ""},
		{"GET", "/metadata", "mode=full", "", ""},
		{"GET", "/Observation", `code=a\,b&name=x+y&date=%2B1`, "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.ctype, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, path, query, ctype string, body []byte) {
		var h http.Header
		if ctype != "" {
			h = http.Header{"Content-Type": {ctype}}
		}
		r, err := ParseRequest(method, path, query, h, body)
		if err != nil {
			if r != nil {
				t.Fatal("model returned with error")
			}
			if _, ok := err.(*Error); !ok { //nolint:errorlint // the contract is an unwrapped *Error
				t.Fatalf("error of type %T", err)
			}
			return
		}
		checkRequestInvariants(t, r)

		// Re-encode and re-parse: the body of a POST _search is already in
		// the canonical query; other bodies are passed again unchanged.
		againBody := body
		if r.Method == http.MethodPost && (r.Interaction == InteractionSearchType ||
			r.Interaction == InteractionSearchSystem || r.Interaction == InteractionSearchCompartment) {
			againBody = nil
		}
		again, err := ParseRequest(r.Method, r.CanonicalPath(), r.CanonicalQuery(), h, againBody)
		if err != nil {
			t.Fatalf("canonical form %q?%q rejected: %v", r.CanonicalPath(), r.CanonicalQuery(), err)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("re-parse differs:\n%+v\n%+v", again, r)
		}
	})
}

func checkRequestInvariants(t *testing.T, r *Request) {
	t.Helper()
	if r.ResourceType != "" && r.ResourceType != "*" && !IsResourceType(r.ResourceType) {
		t.Fatalf("resource type %q accepted", r.ResourceType)
	}
	if r.ResourceType == "*" && r.Interaction != InteractionSearchCompartment {
		t.Fatal("wildcard type outside compartment search")
	}
	if r.ID != "" && !IsID(r.ID) {
		t.Fatalf("id %q accepted", r.ID)
	}
	if r.VersionID != "" && !IsID(r.VersionID) {
		t.Fatalf("version id %q accepted", r.VersionID)
	}
	if r.Compartment != nil && (!IsCompartmentType(r.Compartment.Type) || !IsID(r.Compartment.ID)) {
		t.Fatalf("compartment %+v accepted", r.Compartment)
	}
	if len(r.Params) > MaxParams {
		t.Fatal("too many params")
	}
	checkParams(t, r.Params)
}

func checkParams(t *testing.T, params []Param) {
	t.Helper()
	for _, p := range params {
		if !ValidParamName(p.Key) {
			t.Fatalf("param name %q accepted", p.Key)
		}
		if strings.Join(p.Values, ",") != p.Raw {
			t.Fatalf("values %q do not re-join to %q", p.Values, p.Raw)
		}
		if !cleanText(p.Key) || !cleanText(p.Raw) || hasEscape(p.Key) || hasEscape(p.Raw) {
			t.Fatalf("unclean param %q=%q accepted", p.Key, p.Raw)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"", "a=1", "category=laboratory&date=ge2024-01-01", "code=a,b&code:not=c",
		`code=a\,b\|c\\`, "name=a+b%2B", "subject:Patient.name=x", "_has:Observation:patient:code=1",
		"a=1;b=2", "a=%zz", "a=%2541", "a=1&&b=2", "x=%D7%9B", "=x", "a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		params, err := ParseQuery(raw)
		if err != nil {
			if params != nil {
				t.Fatal("params returned with error")
			}
			return
		}
		checkParams(t, params)
		enc := EncodeQuery(params)
		again, err := ParseQuery(enc)
		if err != nil {
			t.Fatalf("encoded %q rejected: %v", enc, err)
		}
		if !reflect.DeepEqual(again, params) {
			t.Fatalf("round trip differs:\n%+v\n%+v", again, params)
		}
		if EncodeQuery(again) != enc {
			t.Fatal("encoding is not stable")
		}
	})
}

func FuzzParseBundleEntries(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/1?x=1"}}]}`))
	f.Add([]byte(`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{},"request":{"method":"POST","url":"Observation"}}]}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		entries, err := ParseBundleEntries(body)
		if err != nil {
			if entries != nil {
				t.Fatal("entries returned with error")
			}
			return
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Path, "/") || e.Path == "/" {
				t.Fatalf("entry path %q", e.Path)
			}
		}
	})
}

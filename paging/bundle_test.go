package paging

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRewriteLinkArrayInABundle(t *testing.T) {
	s := newSealer(t, newClock(), mustKey(t, testKeyText), nil)
	s.nonces = zeroReader{}
	const self = testPublic + "/Observation?category=laboratory"
	next, err := s.Link(hapiNext, testOrigin, testBinding())
	if err != nil {
		t.Fatal(err)
	}
	selfLink := `{"relation":"self","url":"` + self + `"}`
	nextLink := `{"relation":"next","url":"` + next + `"}`
	upSelf := `{"relation":"self","url":"` + testUpstream + `/Observation?category=laboratory&patient=p-18,p-18-old"}`
	upNext := `{"relation":"next","url":"` + hapiNext + `"}`
	entry := `"entry":[{"resource":{"resourceType":"Observation","id":"o1"},"link":[{"relation":"self","url":"x"}]}]`
	cases := []struct {
		name, in, self, want string
		err                  bool
	}{
		{"hapi page",
			`{"resourceType":"Bundle","type":"searchset","link":[` + upSelf + `,` + upNext + `],` + entry + `}`, self,
			`{"resourceType":"Bundle","type":"searchset","link":[` + selfLink + `,` + nextLink + `],` + entry + `}`, false},
		{"link last, white space kept",
			"{\n \"resourceType\": \"Bundle\",\n \"link\": [" + upNext + "]\n}", self,
			"{\n \"resourceType\": \"Bundle\",\n \"link\": [" + selfLink + "," + nextLink + "]\n}", false},
		{"not a Bundle: unchanged",
			`{"resourceType":"Observation","link":[` + upNext + `]}`, self,
			`{"resourceType":"Observation","link":[` + upNext + `]}`, false},
		{"no resourceType: unchanged", `{"link":[` + upNext + `]}`, self, `{"link":[` + upNext + `]}`, false},
		{"no link member: self added",
			`{"resourceType":"Bundle","type":"searchset"}`, self,
			`{"link":[` + selfLink + `],"resourceType":"Bundle","type":"searchset"}`, false},
		{"no link member, no self",
			`{"resourceType":"Bundle"}`, "", `{"resourceType":"Bundle"}`, false},
		{"empty object: unchanged", `{}`, self, `{}`, false},
		{"nothing left: member removed (first)",
			`{"link":[{"relation":"next","url":"https://evil.example/x"}], "resourceType":"Bundle"}`, "",
			`{"resourceType":"Bundle"}`, false},
		{"nothing left: member removed (last)",
			`{"resourceType":"Bundle" , "link":[]}`, "", `{"resourceType":"Bundle"}`, false},
		{"nothing left: member removed (middle)",
			`{"resourceType":"Bundle","link":[],"type":"searchset"}`, "", `{"resourceType":"Bundle","type":"searchset"}`, false},
		{"nothing left: only other member",
			`{"link":[],"resourceType":"Bundle"}`, "", `{"resourceType":"Bundle"}`, false},
		{"case-folded key", `{"resourceType":"Bundle","Link":[` + upNext + `]}`, "", `{"resourceType":"Bundle","Link":[` + nextLink + `]}`, false},
		{"link inside strings and nesting untouched",
			`{"resourceType":"Bundle","a":"\"link\":[]","b":{"link":[1]},"link":[` + upNext + `]}`, "",
			`{"resourceType":"Bundle","a":"\"link\":[]","b":{"link":[1]},"link":[` + nextLink + `]}`, false},
		{"two link members", `{"resourceType":"Bundle","link":[],"LINK":[]}`, self, "", true},
		{"escaped key", `{"resourceType":"Bundle","l\u0069nk":[]}`, self, "", true},
		{"kelvin sign key", "{\"resourceType\":\"Bundle\",\"lin\u212a\":[]}", self, "", true},
		{"link not an array", `{"resourceType":"Bundle","link":{"relation":"next"}}`, self, "", true},
		{"escaped resourceType key", `{"resourceT\u0079pe":"Bundle","link":[]}`, self, "", true},
		{"not an object", `[{"link":[]}]`, self, "", true},
		{"invalid json", `{"link":[}`, self, "", true},
		{"trailing garbage", `{"resourceType":"Bundle","link":[]} x`, self, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rewriteBundle(s, []byte(tc.in), tc.self, testOrigin, testBinding())
			if tc.err {
				if err == nil {
					t.Fatalf("got %s, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
			if !json.Valid(got) || (tc.want != tc.in && strings.Contains(string(got), "_getpages")) {
				t.Fatalf("bad output %s", got)
			}
		})
	}
}

// FuzzRewriteLinkArrayInABundle: never panics; any output is valid JSON with at
// most one top-level link member, and holds no upstream paging link.
func FuzzRewriteLinkArrayInABundle(f *testing.F) {
	s := newSealer(f, newClock(), mustKey(f, testKeyText), nil)
	f.Add(`{"resourceType":"Bundle","link":[{"relation":"next","url":"` + hapiNext + `"}],"entry":[]}`)
	f.Add(`{"link":[],"x":1,"resourceType":"Bundle"}`)
	f.Add(`{"resourceType":"Bundle","a":{"link":"b"},"link":[{"relation":"self","url":"x"}]}`)
	f.Add(`{ "link" : [ ] , "total" : 1, "resourceType" : "Bundle" }`)
	f.Add(`{"resourceType":"Observation","link":[]}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, in string) {
		out, err := rewriteBundle(s, []byte(in), testPublic+"/Observation", testOrigin, testBinding())
		if err != nil {
			return
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(out, &top); err != nil {
			t.Fatalf("output not a JSON object: %v\n%s", err, out)
		}
		isBundle := false
		for k, v := range top {
			// Member names fold as enforce and encoding/json fold them.
			if strings.EqualFold(k, "resourceType") && string(v) == `"Bundle"` {
				isBundle = true
			}
		}
		if !isBundle {
			if string(out) != in {
				t.Fatalf("a body that is no Bundle was changed: %s -> %s", in, out)
			}
			return
		}
		n, key := 0, ""
		for k := range top {
			if strings.EqualFold(k, "link") {
				n, key = n+1, k
			}
		}
		if n != 1 {
			t.Fatalf("%d link members in %s", n, out)
		}
		var links []Link
		if err := json.Unmarshal(top[key], &links); err != nil || len(links) == 0 || links[0].Relation != "self" {
			t.Fatalf("links %s", top[key])
		}
		for _, l := range links[1:] {
			if !strings.HasPrefix(l.URL, testPublic+"/_page?p=") {
				t.Fatalf("unsealed link %q", l.URL)
			}
		}
	})
}

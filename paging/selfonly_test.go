package paging

import (
	"encoding/json"
	"strings"
	"testing"
)

// SelfOnlyLinkArray spliced into a Bundle: every upstream link goes, paging links unsealed
// included; only the given self link remains.
func TestSelfOnlyLinkArrayInABundle(t *testing.T) {
	const self = testPublic + "/Observation?category=laboratory&_count=1"
	selfLink := `{"relation":"self","url":"` + self + `"}`
	upSelf := `{"relation":"self","url":"` + testUpstream + `/Observation?category=laboratory&patient=p-18,p-18-old"}`
	upNext := `{"relation":"next","url":"` + hapiNext + `"}`
	pubNext := `{"relation":"next","url":"` + testPublic + `/Observation?_offset=20"}`
	entry := `"entry":[{"resource":{"resourceType":"Observation","id":"o1"},"link":[{"relation":"self","url":"x"}]}]`
	cases := []struct {
		name, in, self, want string
		err                  bool
	}{
		{"upstream self and next",
			`{"resourceType":"Bundle","type":"searchset","link":[` + upSelf + `,` + upNext + `],` + entry + `}`, self,
			`{"resourceType":"Bundle","type":"searchset","link":[` + selfLink + `],` + entry + `}`, false},
		{"paging link under the public base dropped too",
			`{"resourceType":"Bundle","link":[` + pubNext + `]}`, self,
			`{"resourceType":"Bundle","link":[` + selfLink + `]}`, false},
		{"no link member: self added",
			`{"resourceType":"Bundle","type":"searchset"}`, self,
			`{"link":[` + selfLink + `],"resourceType":"Bundle","type":"searchset"}`, false},
		{"no self: member removed",
			`{"resourceType":"Bundle","link":[` + upNext + `],"type":"searchset"}`, "",
			`{"resourceType":"Bundle","type":"searchset"}`, false},
		{"not a Bundle: unchanged",
			`{"resourceType":"OperationOutcome","link":[` + upNext + `]}`, self,
			`{"resourceType":"OperationOutcome","link":[` + upNext + `]}`, false},
		{"two link members", `{"resourceType":"Bundle","link":[],"Link":[]}`, self, "", true},
		{"link not an array", `{"resourceType":"Bundle","link":{"relation":"next"}}`, self, "", true},
		{"link null", `{"resourceType":"Bundle","link":null}`, self, "", true},
		{"invalid json", `{"resourceType":"Bundle","link":[}`, self, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := selfOnlyBundle([]byte(tc.in), tc.self)
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

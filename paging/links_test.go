package paging

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hdp-il/fhir-pep/fhir"
)

func TestRewriteLinks(t *testing.T) {
	self := testPublic + "/Observation?category=laboratory"
	cases := []struct {
		name    string
		in      []Link
		self    string
		wantRel []string // relations of the output, in order
	}{
		{"hapi page", []Link{
			{"self", testUpstream + "/Observation?category=laboratory&patient=p-18,p-18-old&_security=x|LaboratoryTests,x|laboratoryTests"},
			{"next", hapiNext},
		}, self, []string{"self", "next"}},
		{"every paging relation", []Link{
			{"first", testUpstream + "?_getpages=u&_getpagesoffset=0"},
			{"previous", testUpstream + "?_getpages=u&_getpagesoffset=2"},
			{"prev", testUpstream + "?_getpages=u&_getpagesoffset=2"},
			{"next", testUpstream + "?_getpages=u&_getpagesoffset=6"},
			{"last", testUpstream + "?_getpages=u&_getpagesoffset=8"},
		}, self, []string{"self", "first", "previous", "prev", "next", "last"}},
		{"foreign links dropped", []Link{
			{"next", "https://evil.example/fhir?_getpages=u"},
			{"next", hapiNext},
		}, self, []string{"self", "next"}},
		{"second link of a relation dropped", []Link{
			{"next", hapiNext},
			{"NEXT", testUpstream + "?_getpages=other"},
		}, self, []string{"self", "next"}},
		{"other relations dropped", []Link{
			{"alternate", testUpstream + "/Observation?_format=xml"},
			{"search", testUpstream + "/Observation?x=1"},
			{"", hapiNext},
			{"next", ""},
		}, self, []string{"self"}},
		{"no self", []Link{{"next", hapiNext}}, "", []string{"next"}},
		{"nothing", nil, "", []string{}},
	}
	s := newSealer(t, newClock(), mustKey(t, testKeyText), nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.RewriteLinks(tc.in, tc.self, testOrigin, testBinding())
			if err != nil {
				t.Fatal(err)
			}
			rels := make([]string, 0, len(out))
			for _, l := range out {
				rels = append(rels, l.Relation)
				if l.Relation == "self" {
					if l.URL != tc.self {
						t.Fatalf("self = %q", l.URL)
					}
					continue
				}
				if !strings.HasPrefix(l.URL, testPublic+"/_page?p=") || strings.Contains(l.URL, "hapi.internal") {
					t.Fatalf("%s link not sealed: %q", l.Relation, l.URL)
				}
				up, err := openQuery(s, strings.TrimPrefix(l.URL, testPublic+"/_page?"), testBinding())
				if err != nil || !strings.HasPrefix(up, testUpstream) {
					t.Fatalf("sealed %s opens to %q, %v", l.Relation, up, err)
				}
			}
			if strings.Join(rels, ",") != strings.Join(tc.wantRel, ",") {
				t.Fatalf("relations %v, want %v", rels, tc.wantRel)
			}
		})
	}
}

func TestRewriteLinksTooLong(t *testing.T) {
	s := newSealer(t, newClock(), mustKey(t, testKeyText), nil)
	long := testUpstream + "?ct=" + strings.Repeat("x", MaxLinkLen)
	if _, err := s.RewriteLinks([]Link{{"next", long}}, "", testOrigin, testBinding()); err != ErrLinkTooLong {
		t.Fatalf("error %v, want ErrLinkTooLong", err)
	}
}

func TestRewriteLinkArray(t *testing.T) {
	s := newSealer(t, newClock(), mustKey(t, testKeyText), nil)
	cases := []struct {
		name    string
		raw     string
		self    string
		wantLen int // -1: error; 0: nil (remove the member)
	}{
		{"hapi", `[{"relation":"self","url":"` + testUpstream + `/Observation?patient=p-18&code=1"},{"relation":"next","url":"` + hapiNext + `"}]`, testPublic + "/Observation?a=1&b=2", 2},
		{"extra members dropped", `[{"id":"l1","extension":[],"relation":"next","url":"` + hapiNext + `"}]`, "", 1},
		{"malformed elements dropped", `[1,"x",null,{"relation":1,"url":"u"},{"relation":"next"}]`, "", 0},
		{"empty array", `[]`, "", 0},
		{"self only", `[]`, "s", 1},
		{"not an array", `{"relation":"next"}`, "", -1},
		{"null", `null`, "", -1},
		{"broken json", `[{"relation":"next"`, "", -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.RewriteLinkArray([]byte(tc.raw), tc.self, testOrigin, testBinding())
			if tc.wantLen < 0 {
				if err != fhir.ErrInvalidBody {
					t.Fatalf("error %v, want ErrInvalidBody", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantLen == 0 {
				if out != nil {
					t.Fatalf("got %s, want nil", out)
				}
				return
			}
			var links []Link
			if err := json.Unmarshal(out, &links); err != nil || len(links) != tc.wantLen {
				t.Fatalf("got %s (%v), want %d links", out, err, tc.wantLen)
			}
			if strings.Contains(string(out), "hapi.internal") || strings.Contains(string(out), `"id"`) ||
				strings.Contains(string(out), `\u0026`) || strings.HasSuffix(string(out), "\n") {
				t.Fatalf("output leaks upstream members: %s", out)
			}
		})
	}
}

func TestSelfLink(t *testing.T) {
	mustParse := func(q string) []fhir.Param {
		p, err := fhir.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := newSealer(t, newClock(), mustKey(t, testKeyText), nil)
	cases := []struct {
		name, path, query, want string
	}{
		{"plain", "/Observation", "category=laboratory&_count=2", testPublic + "/Observation?category=laboratory&_count=2"},
		{"no params", "/Observation", "", testPublic + "/Observation"},
		{"system", "", "_type=Observation", testPublic + "?_type=Observation"},
		{"access_token dropped", "/Observation", "access_token=secret&code=1", testPublic + "/Observation?code=1"},
		{"access_token any case and modifier", "/Observation", "Access_Token:exact=secret&ACCESS_TOKEN=s2", testPublic + "/Observation"},
		{"encoding canonical", "/Observation", "date=ge2024-01-01T00:00:00%2B02:00&code=a%5C,b", testPublic + "/Observation?date=ge2024-01-01T00:00:00%2B02:00&code=a%5C%2Cb"},
		{"compartment", "/Patient/p-18/Observation", "code=1", testPublic + "/Patient/p-18/Observation?code=1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := s.SelfLink(tc.path, mustParse(tc.query))
			if got != tc.want {
				t.Fatalf("SelfLink = %q, want %q", got, tc.want)
			}
			if strings.Contains(strings.ToLower(got), "secret") || strings.Contains(got, "s2") {
				t.Fatalf("token echoed: %q", got)
			}
		})
	}
	if got := s.Origin("/Observation", mustParse("access_token=x&code=1")); got != "/Observation?code=1" {
		t.Fatalf("Origin = %q", got)
	}
	if got := s.PageURL("abc"); got != testPublic+"/_page?p=abc" {
		t.Fatalf("PageURL = %q", got)
	}
}

package enforce

import "testing"

func TestRewriteLocation(t *testing.T) {
	e := testEnforcer(t)
	root, err := New(Config{UpstreamBase: "http://hapi:8080", PublicBase: testPublic})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		e    *Enforcer
		in   string
		want string
		ok   bool
	}{
		{"upstream", e, testUpstream + "/Observation/1/_history/2", testPublic + "/Observation/1/_history/2", true},
		{"upstream base itself", e, testUpstream, testPublic, true},
		{"upstream with query", e, testUpstream + "?_getpages=x", testPublic + "?_getpages=x", true},
		{"public", e, testPublic + "/Observation/1", testPublic + "/Observation/1", true},
		{"relative", e, "Observation/1/_history/2", "Observation/1/_history/2", true},
		{"absolute path under upstream path", e, "/fhir/Observation/1", "/R4/Observation/1", true},
		{"absolute path elsewhere", e, "/admin/x", "", false},
		{"absolute path prefix without boundary", e, "/fhirx/Observation/1", "", false},
		{"absolute path with root upstream", root, "/Observation/1", "/R4/Observation/1", true},
		{"other host", e, "https://evil.example/fhir/Observation/1", "", false},
		{"upstream prefix without boundary", e, testUpstream + "x/Observation/1", "", false},
		{"network path", e, "//evil.example/x", "", false},
		{"backslash", e, `\\evil.example\x`, "", false},
		{"slash backslash", e, `/\evil.example`, "", false},
		{"other scheme", e, "javascript:alert(1)", "", false},
		{"header injection", e, testUpstream + "/x\r\nSet-Cookie: a=b", "", false},
		{"empty", e, "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.e.RewriteLocation(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("got %q %v, want %q %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

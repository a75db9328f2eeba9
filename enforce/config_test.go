package enforce

import "testing"

func TestNewRejects(t *testing.T) {
	ok := Config{Compartment: testCompartment(), UpstreamBase: testUpstream, PublicBase: testPublic}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"missing upstream", func(c *Config) { c.UpstreamBase = "" }},
		{"missing public", func(c *Config) { c.PublicBase = "" }},
		{"relative base", func(c *Config) { c.UpstreamBase = "/fhir" }},
		{"ftp base", func(c *Config) { c.PublicBase = "ftp://x/fhir" }},
		{"base with query", func(c *Config) { c.PublicBase = testPublic + "?a=b" }},
		{"base with fragment", func(c *Config) { c.PublicBase = testPublic + "#x" }},
		{"base with user info", func(c *Config) { c.UpstreamBase = "http://u:p@hapi/fhir" }},
		{"negative size", func(c *Config) { c.MaxBytes = -1 }},
		{"depth too large", func(c *Config) { c.MaxDepth = 10001 }},
		{"bad type", func(c *Config) { c.Compartment = map[string][][]string{"observation": {{"subject"}}} }},
		{"empty path", func(c *Config) { c.Compartment = map[string][][]string{"Observation": {{}}} }},
		{"bad element", func(c *Config) { c.Compartment = map[string][][]string{"Observation": {{"sub ject"}}} }},
		{"reserved head", func(c *Config) { c.Compartment = map[string][][]string{"Observation": {{"Contained", "subject"}}} }},
		{"system in two groups", func(c *Config) { c.SystemAliases = [][]string{{"a", "b"}, {"b"}} }},
		{"empty system", func(c *Config) { c.SystemAliases = [][]string{{""}} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			if _, err := New(c); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	e, err := New(ok)
	if err != nil {
		t.Fatal(err)
	}
	if e.maxBytes != DefaultMaxBytes || e.maxDepth != DefaultMaxDepth || e.upstream.url != testUpstream || e.public.path != "/R4" {
		t.Fatalf("defaults: %+v", e)
	}
	if _, has := e.compartment["Patient"]; has {
		t.Fatal("Patient must be checked by id, not by compartment paths")
	}
	if _, has := e.compartment["Practitioner"]; has {
		t.Fatal("a type without paths is outside the compartment")
	}
	trailing, err := New(Config{UpstreamBase: "http://hapi:8080/", PublicBase: testPublic + "/"})
	if err != nil || trailing.upstream.url != "http://hapi:8080" || trailing.upstream.path != "" || trailing.public.url != testPublic {
		t.Fatalf("trailing slashes: %+v %v", trailing, err)
	}
}

func TestAccessRejects(t *testing.T) {
	e := testEnforcer(t)
	bad := []Scope{
		{PatientIDs: []string{""}},
		{PatientIDs: []string{"a/b"}},
		{PatientIDs: []string{"a"}, Grants: map[string][]Bucket{"observation": {{HDPBucketSystem, "x"}}}},
		{PatientIDs: []string{"a"}, Grants: map[string][]Bucket{"Observation": {{"", "x"}}}},
		{PatientIDs: []string{"a"}, Grants: map[string][]Bucket{"Observation": {{HDPBucketSystem, ""}}}},
	}
	for i, sc := range bad {
		if _, err := e.Access(sc); err == nil {
			t.Errorf("scope %d accepted", i)
		}
	}
}

// A granted system outside every alias group is still a bucket system.
func TestAccessPrivateSystem(t *testing.T) {
	e, err := New(Config{Compartment: testCompartment(), SystemAliases: [][]string{}, UpstreamBase: testUpstream, PublicBase: testPublic})
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.Access(Scope{PatientIDs: []string{"a"}, Grants: map[string][]Bucket{"Practitioner": {{"urn:x", "P"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for body, want := range map[string]Reason{
		`{"resourceType":"Practitioner","meta":{"security":[{"system":"urn:x","code":"p"}]}}`:                                    ReasonNone,
		`{"resourceType":"Practitioner","meta":{"security":[{"system":"` + HDPBucketSystem + `","code":"p"}]}}`:                  ReasonNoBucket,
		`{"resourceType":"Practitioner","meta":{"security":[{"system":"urn:y","code":"p"}]}}`:                                    ReasonNoBucket,
		`{"resourceType":"Observation","subject":{"reference":"Patient/a"},"meta":{"security":[{"system":"urn:x","code":"p"}]}}`: ReasonTypeNotGranted,
	} {
		v, err := a.CheckResource([]byte(body))
		if err != nil || v.Reason != want {
			t.Errorf("%s: %+v %v, want %s", body, v, err, want)
		}
	}
}

func TestReasonString(t *testing.T) {
	seen := map[string]bool{}
	for r := ReasonNone; r < NumReasons; r++ {
		s := r.String()
		if s == "" || s == "unknown" || seen[s] {
			t.Fatalf("reason %d: %q", r, s)
		}
		seen[s] = true
	}
	if NumReasons.String() != "unknown" {
		t.Fatal("out of range reason")
	}
}

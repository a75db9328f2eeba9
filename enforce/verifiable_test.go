package enforce

import "testing"

func TestVerifiesOnResource(t *testing.T) {
	lab := bkt("laboratoryTests")
	sec := Constraint{Name: "_security", Value: HDPBucketSystem + "|laboratoryTests"}
	cases := []struct {
		name  string
		rules []Rule
		typ   string
		want  bool
	}{
		{"no constraint", []Rule{{Type: "Observation", Buckets: []Bucket{lab}}}, "Observation", true},
		{"_security", []Rule{{Type: "Observation", Buckets: []Bucket{lab}, Constraints: []Constraint{sec}}}, "Observation", true},
		{"token the check reads", []Rule{{Type: "Observation", Buckets: []Bucket{lab}, Constraints: []Constraint{{Name: "category", Value: obsCategory + "|laboratory"}}}}, "Observation", true},
		{"date the check reads", []Rule{{Type: "Observation", Buckets: []Bucket{lab}, Constraints: []Constraint{{Name: "date", Value: "ge2024-01-01"}}}}, "Observation", true},
		{"date it cannot parse", []Rule{{Type: "Observation", Buckets: []Bucket{lab}, Constraints: []Constraint{{Name: "date", Value: "ge-last-year"}}}}, "Observation", false},
		{"parameter it does not read", []Rule{{Type: "Observation", Buckets: []Bucket{lab}, Constraints: []Constraint{{Name: "performer", Value: "Practitioner/1"}}}}, "Observation", false},
		{"modifier", []Rule{{Type: "Observation", Buckets: []Bucket{lab}, Constraints: []Constraint{{Name: "category:not", Value: "social-history"}}}}, "Observation", false},
		{"unverifiable rule of another type does not matter", []Rule{
			{Type: "Observation", Buckets: []Bucket{lab}},
			{Type: "Encounter", Buckets: []Bucket{bkt("encounterInformation")}, Constraints: []Constraint{{Name: "performer", Value: "x"}}},
		}, "Observation", true},
		{"unverifiable * rule applies to every type", []Rule{
			{Type: "Observation", Buckets: []Bucket{lab}},
			{Type: "*", Buckets: []Bucket{lab}, Constraints: []Constraint{{Name: "performer", Value: "x"}}},
		}, "Observation", false},
		{"no rule for the type", []Rule{{Type: "Encounter", Buckets: []Bucket{bkt("encounterInformation")}}}, "Observation", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ruleAccess(t, tc.rules).VerifiesOnResource(tc.typ); got != tc.want {
				t.Fatalf("VerifiesOnResource(%q) = %v, want %v", tc.typ, got, tc.want)
			}
		})
	}
}

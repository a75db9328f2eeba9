package smart

import (
	"reflect"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"patient/Observation.rs",
		"user/*.cruds",
		"patient/Observation.read user/Encounter.write system/*.*",
		"patient/Observation.rs?_security=" + lab,
		"patient/Encounter.rs?_security=a|b&date=ge2024-01-01&_security=c",
		"patient/Observation.rs?date=x%2B1&name=a%20b",
		"openid fhirUser launch/patient",
		"patient/observation.rs patient/Observation.rsx patient/Observation.",
		"patient/Observation.rs?",
		"patient/Observation.rs?a=%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, s := range Parse(in) {
			checkScope(t, s)
			again, ok := ParseOne(s.String())
			if !ok {
				t.Fatalf("String() %q of %q does not re-parse", s.String(), s.Raw)
			}
			again.Raw = s.Raw
			if !reflect.DeepEqual(again, s) {
				t.Fatalf("re-parse differs:\n%+v\n%+v", again, s)
			}
		}
	})
}

// checkScope asserts that the granted permissions never exceed the request.
func checkScope(t *testing.T, s Scope) {
	t.Helper()
	if !strings.Contains(s.Raw, s.Context+"/") || s.Constraints == nil {
		t.Fatalf("inconsistent scope %+v", s)
	}
	resource, _, _ := strings.Cut(s.Raw, "?")
	_, perms, _ := strings.Cut(resource, ".")
	switch s.Version {
	case 1:
		want := map[string]string{"read": "rs", "write": "cud", "*": "cruds"}[perms]
		if want == "" || s.Permissions != want {
			t.Fatalf("v1 %q granted %q", perms, s.Permissions)
		}
		if len(s.Constraints) != 0 {
			t.Fatal("v1 scope with constraints")
		}
	case 2:
		if s.Permissions != perms {
			t.Fatalf("v2 %q granted %q", perms, s.Permissions)
		}
		for i := 0; i < len(s.Permissions); i++ {
			if !strings.Contains(perms, s.Permissions[i:i+1]) {
				t.Fatalf("permission %q not requested in %q", s.Permissions[i], s.Raw)
			}
		}
	default:
		t.Fatalf("version %d", s.Version)
	}
	for k, vs := range s.Constraints {
		if k == "" || len(vs) == 0 {
			t.Fatalf("empty constraint %q=%q", k, vs)
		}
		for _, v := range vs {
			if v == "" {
				t.Fatalf("empty constraint value for %q", k)
			}
		}
	}
}

package caddymodule

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/hdp-il/fhir-pep/smart"
)

func TestScopeCache(t *testing.T) {
	c := new(scopeCache)
	s := "patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests patient/Patient.r openid"
	first := c.parse(s)
	if !reflect.DeepEqual(first, smart.Parse(s)) || len(first) != 2 {
		t.Fatalf("parsed %+v", first)
	}
	if again := c.parse(s); &again[0] != &first[0] {
		t.Fatal("second parse of the same string was not served from the cache")
	}
	for i := range maxParsedScopes + 5 {
		c.parse(fmt.Sprintf("patient/Observation.rs?code=%d", i))
	}
	if n := len(c.parsed); n > maxParsedScopes {
		t.Fatalf("cache grew to %d", n)
	}
	if got := c.parse(s); !reflect.DeepEqual(got, first) {
		t.Fatalf("after reset: %+v", got)
	}
}

package enforce

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSanitizeOperationOutcome(t *testing.T) {
	generic := genericOutcomeJSON
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"keeps severity and code only",
			`{"resourceType":"OperationOutcome","id":"x","text":{"div":"Patient/b"},"issue":[{"severity":"error","code":"not-found","diagnostics":"Resource Patient/b is not known","details":{"text":"Patient/b"},"expression":["Patient.id"],"location":["/f:Patient"]},{"severity":"warning","code":"too-costly"}]}`,
			`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"},{"severity":"warning","code":"too-costly"}]}`},
		{"unknown values replaced",
			`{"resourceType":"OperationOutcome","issue":[{"severity":"catastrophic","code":"Patient b"},{"code":"invalid"},{}]}`,
			`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing"},{"severity":"error","code":"invalid"},{"severity":"error","code":"processing"}]}`},
		{"issue order and pretty input",
			"{\n \"issue\": [ {\"code\": \"informational\", \"severity\": \"information\"} ],\n \"resourceType\": \"OperationOutcome\"\n}",
			`{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational"}]}`},
		{"non-object issues skipped", `{"resourceType":"OperationOutcome","issue":[1,"x",{"severity":"fatal","code":"exception"}]}`,
			`{"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception"}]}`},
		{"no issues", `{"resourceType":"OperationOutcome","issue":[]}`, generic},
		{"not an outcome", `{"resourceType":"Patient","issue":[{"severity":"error","code":"invalid"}]}`, generic},
		{"not JSON", `<html>Patient b</html>`, generic},
		{"empty", ``, generic},
		{"duplicate keys", `{"resourceType":"OperationOutcome","issue":[{"severity":"error","severity":"fatal","code":"invalid"}]}`, generic},
		{"trailing data", `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]} x`, generic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(SanitizeOperationOutcome([]byte(tc.in)))
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	var many strings.Builder
	many.WriteString(`{"resourceType":"OperationOutcome","issue":[`)
	for i := range 500 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(`{"severity":"error","code":"invalid"}`)
	}
	many.WriteString("]}")
	var oo struct{ Issue []any }
	if err := json.Unmarshal(SanitizeOperationOutcome([]byte(many.String())), &oo); err != nil || len(oo.Issue) != maxIssues {
		t.Fatalf("issues capped: %d %v", len(oo.Issue), err)
	}
}

func TestNotFoundBody(t *testing.T) {
	b := NotFoundBody()
	if string(b) != `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}` {
		t.Fatalf("got %s", b)
	}
	b[0] = 'x'
	if NotFoundBody()[0] != '{' {
		t.Fatal("NotFoundBody must return a fresh slice")
	}
	if string(SanitizeOperationOutcome(NotFoundBody())) != notFoundJSON {
		t.Fatal("the not-found body must be a fixed point of the sanitiser")
	}
	for _, b := range [][]byte{notFoundEntry, withheldEntry, []byte(genericOutcomeJSON)} {
		if !json.Valid(b) {
			t.Fatalf("invalid canonical JSON %s", b)
		}
	}
}

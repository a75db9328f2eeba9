package main

import (
	"os"
	"strings"
	"testing"
)

// The committed r4.json is what the generator makes from the
// specification's definitions, when the npm package holding them is
// installed (npm ci in examples/fhir-server).
func TestCommittedDataUpToDate(t *testing.T) {
	src, err := os.ReadFile("../../../" + defaultIn)
	if err != nil {
		t.Skip("source not installed: ", err)
	}
	want, err := os.ReadFile("../r4.json")
	if err != nil {
		t.Fatal(err)
	}
	got, skipped, err := generate(src)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("r4.json is stale: run go generate ./fhir/searchparam")
	}
	if len(skipped) != 1 || !strings.HasPrefix(skipped[0], "DeviceDefinition-classification") {
		t.Fatalf("skipped %v, want only the 5.0.0 draft", skipped)
	}
}

func TestGenerateRefuses(t *testing.T) {
	cases := map[string]string{
		"not a bundle":   `{"resourceType":"SearchParameter"}`,
		"empty":          `{"resourceType":"Bundle","entry":[]}`,
		"unknown type":   `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"SearchParameter","id":"x","version":"4.0.1","code":"a","base":["Account"],"type":"text"}}]}`,
		"unknown target": `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"SearchParameter","id":"x","version":"4.0.1","code":"a","base":["Account"],"type":"reference","target":["Nope"]}}]}`,
		"conflict": `{"resourceType":"Bundle","entry":[` +
			`{"resource":{"resourceType":"SearchParameter","id":"x","version":"4.0.1","code":"a","base":["Account"],"type":"token"}},` +
			`{"resource":{"resourceType":"SearchParameter","id":"y","version":"4.0.1","code":"a","base":["Account"],"type":"string"}}]}`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := generate([]byte(in)); err == nil {
				t.Fatal("generate accepted bad input")
			}
		})
	}
}

func TestGenerateAnyTarget(t *testing.T) {
	in := `{"resourceType":"Bundle","entry":[` +
		`{"resource":{"resourceType":"SearchParameter","id":"x","version":"4.0.1","code":"owner","base":["Account","Basic"],"type":"reference","target":["Patient","Organization","Patient"]}}]}`
	got, _, err := generate([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := "{\"version\":\"4.0.1\",\"types\":{\n" +
		`"Account":{"owner":"reference:Organization,Patient"},` + "\n" +
		`"Basic":{"owner":"reference:Organization,Patient"}` + "\n}}\n"
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

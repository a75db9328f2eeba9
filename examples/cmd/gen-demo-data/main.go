// Command gen-demo-data writes the demo FHIR server's data (package
// examples/demodata) into a directory, by default examples/fhir-server/data.
// JSON files there that the generator no longer writes are removed, so the
// directory always holds exactly the generated data.
//
//	go run ./examples/cmd/gen-demo-data [-out examples/fhir-server/data]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hdp-il/fhir-pep/examples/demodata"
)

func main() {
	out := flag.String("out", filepath.Join("examples", "fhir-server", "data"), "directory to write the data into")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintf(os.Stderr, "gen-demo-data: %v\n", err)
		os.Exit(1)
	}
}

func write(dir string) error {
	files, err := demodata.Files()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	for _, name := range old {
		if _, keep := files[filepath.Base(name)]; !keep {
			if err := os.Remove(name); err != nil {
				return err
			}
		}
	}
	var names []string
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
		names = append(names, name)
	}
	fmt.Printf("gen-demo-data: wrote %d files to %s (%s)\n", len(files), dir, strings.Join(sorted(names), ", "))
	return nil
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

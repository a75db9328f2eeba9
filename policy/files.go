package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
)

// maxFileSize bounds a single policy or data file. Policies are small; a
// mistaken directory (a data dump, a binary) must fail the load, not the host.
const maxFileSize = 8 << 20

// policySet is what a policy directory holds: Rego modules, the data document
// merged from data.json/data.yaml files, and the version hash of those files.
type policySet struct {
	modules map[string]*ast.Module
	data    map[string]any
	version string
}

// isPolicyFile says whether Load reads the file. Data must be named data.json,
// data.yaml or data.yml (as in OPA bundles), so that a stray example input or
// a README never becomes policy data.
func isPolicyFile(name string, withTests bool) bool {
	switch {
	case strings.HasPrefix(name, "."):
		return false
	case strings.HasSuffix(name, "_test.rego"):
		return withTests
	case strings.HasSuffix(name, ".rego"):
		return true
	default:
		return name == "data.json" || name == "data.yaml" || name == "data.yml"
	}
}

// readPolicySet reads every policy file under the root of fsys. Test modules
// (*_test.rego) are read only when withTests is set: they never take part in
// decisions, and so are not part of the engine or its version.
func readPolicySet(fsys fs.FS, withTests bool) (*policySet, error) {
	if fsys == nil {
		return nil, errors.New("policy: no policy file system")
	}
	var paths []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if isPolicyFile(d.Name(), withTests) {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("policy: list files: %w", err)
	}
	slices.Sort(paths)

	set := &policySet{modules: map[string]*ast.Module{}, data: map[string]any{}}
	hash := sha256.New()
	parserOpts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	for _, p := range paths {
		src, err := readLimited(fsys, p)
		if err != nil {
			return nil, err
		}
		// Length-prefixed path and content: no two file sets hash alike.
		writeHashField(hash, []byte(p))
		writeHashField(hash, src)

		if strings.HasSuffix(p, ".rego") {
			mod, err := ast.ParseModuleWithOpts(p, string(src), parserOpts)
			if err != nil {
				return nil, fmt.Errorf("policy: parse %s: %w", p, err)
			}
			set.modules[p] = mod
			continue
		}
		if err := mergeDataFile(set.data, p, src); err != nil {
			return nil, err
		}
	}
	if len(set.modules) == 0 {
		return nil, ErrNoPolicies
	}
	set.version = hex.EncodeToString(hash.Sum(nil))
	return set, nil
}

func readLimited(fsys fs.FS, p string) ([]byte, error) {
	info, err := fs.Stat(fsys, p)
	if err != nil {
		return nil, fmt.Errorf("policy: stat %s: %w", p, err)
	}
	if info.Size() > maxFileSize {
		return nil, fmt.Errorf("policy: %s is larger than %d bytes", p, maxFileSize)
	}
	src, err := fs.ReadFile(fsys, p)
	if err != nil {
		return nil, fmt.Errorf("policy: read %s: %w", p, err)
	}
	if len(src) > maxFileSize {
		return nil, fmt.Errorf("policy: %s is larger than %d bytes", p, maxFileSize)
	}
	return src, nil
}

func writeHashField(w io.Writer, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	_, _ = w.Write(n[:]) // a hash.Hash never fails to write
	_, _ = w.Write(b)
}

// mergeDataFile places the object in a data file at the path of its directory
// (fhir/pep/compartment/data.json -> data.fhir.pep.compartment), like OPA's
// loader. Two files defining the same leaf are an error, not a silent override.
func mergeDataFile(root map[string]any, p string, src []byte) error {
	var doc any
	var err error
	if strings.HasSuffix(p, ".json") {
		err = util.UnmarshalJSON(src, &doc)
	} else {
		err = util.Unmarshal(src, &doc)
	}
	if err != nil {
		return fmt.Errorf("policy: parse %s: %w", p, err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return fmt.Errorf("policy: %s must hold a JSON object", p)
	}
	node := root
	if dir := path.Dir(p); dir != "." {
		for _, key := range strings.Split(dir, "/") {
			child, exists := node[key]
			if !exists {
				next := map[string]any{}
				node[key] = next
				node = next
				continue
			}
			next, isObj := child.(map[string]any)
			if !isObj {
				return fmt.Errorf("policy: %s conflicts with data defined by another file", p)
			}
			node = next
		}
	}
	if err := mergeObjects(node, obj); err != nil {
		return fmt.Errorf("policy: %s: %w", p, err)
	}
	return nil
}

func mergeObjects(dst, src map[string]any) error {
	for k, v := range src {
		existing, ok := dst[k]
		if !ok {
			dst[k] = v
			continue
		}
		de, dok := existing.(map[string]any)
		se, sok := v.(map[string]any)
		if !dok || !sok {
			return fmt.Errorf("key %q is also defined by another data file", k)
		}
		if err := mergeObjects(de, se); err != nil {
			return err
		}
	}
	return nil
}

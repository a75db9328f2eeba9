package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync/atomic"

	"github.com/hdp-il/fhir-pep/examples/internal/simhttp"
)

// ResolvePath is the national resolve endpoint (DESIGN.md section 4b).
const ResolvePath = "/api/v1/resolve"

// maxRequestBytes bounds a resolve request: one identifier.
const maxRequestBytes = 4 << 10

// index maps "system|value" to the logical ids of the active Patients
// carrying that identifier.
type index map[string][]string

// loadIndex reads every *.json file of dir in name order, as the demo FHIR
// server loads them (a Bundle's entries, or one resource per file); a
// Patient id that occurs again replaces the earlier version. A Patient
// whose active is false is left out; one without active counts as active,
// so that an unknown status can only make an answer a 409, never pick one
// of two records.
func loadIndex(dir string) (index, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	patients := map[string]patient{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var doc struct {
			patient
			Entry []struct {
				Resource patient `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		found := []patient{doc.patient}
		for _, e := range doc.Entry {
			found = append(found, e.Resource)
		}
		for _, p := range found {
			if p.ResourceType == "Patient" && p.ID != "" {
				patients[p.ID] = p
			}
		}
	}
	ix := index{}
	for _, p := range patients {
		if p.Active != nil && !*p.Active {
			continue
		}
		for _, id := range p.Identifier {
			k := id.System + "|" + id.Value
			if !slices.Contains(ix[k], p.ID) {
				ix[k] = append(ix[k], p.ID)
			}
		}
	}
	if len(ix) == 0 {
		return nil, fmt.Errorf("no Patient with an identifier in %s", dir)
	}
	return ix, nil
}

type patient struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Active       *bool  `json:"active"`
	Identifier   []struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
}

// resolver is the resolve service: HTTP Basic, then one lookup.
type resolver struct {
	ix       index
	userHash [32]byte
	passHash [32]byte
	logger   *log.Logger
	calls    atomic.Int64
}

func newResolver(ix index, user, password string, logger *log.Logger) (*resolver, error) {
	if user == "" || password == "" {
		return nil, errors.New("a basic user and password are required")
	}
	return &resolver{ix: ix, userHash: sha256.Sum256([]byte(user)), passHash: sha256.Sum256([]byte(password)), logger: logger}, nil
}

type resolveRequest struct {
	Identifier *struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
}

// ServeHTTP answers POST /api/v1/resolve as the national service does:
// 200 {"patient_id","resource_reference"}, 404 when no active Patient
// carries the identifier, 409 duplicate_active_patient when several do.
// Each request logs one line with its status only: the identifier is a
// national id and never reaches a log.
func (r *resolver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	status := r.serve(w, req)
	r.calls.Add(1)
	r.logger.Printf("resolve %s %s status=%d", req.Method, req.URL.Path, status)
}

func (r *resolver) serve(w http.ResponseWriter, req *http.Request) int {
	reply := func(status int, v any) int {
		simhttp.WriteJSON(w, status, v)
		return status
	}
	if req.URL.Path != ResolvePath {
		return reply(http.StatusNotFound, map[string]string{"error": "not_found"})
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return reply(http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed"})
	}
	user, pass, ok := req.BasicAuth()
	// Hashes make the comparison constant-time whatever the lengths.
	u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	if !ok || subtle.ConstantTimeCompare(u[:], r.userHash[:])&subtle.ConstantTimeCompare(p[:], r.passHash[:]) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="resolve"`)
		return reply(http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
	}
	var body resolveRequest
	if err := simhttp.DecodeJSON(req, &body, maxRequestBytes); err != nil || body.Identifier == nil ||
		body.Identifier.System == "" || body.Identifier.Value == "" {
		return reply(http.StatusBadRequest, map[string]string{"error": "invalid_request"})
	}
	ids := r.ix[body.Identifier.System+"|"+body.Identifier.Value]
	switch len(ids) {
	case 0:
		return reply(http.StatusNotFound, map[string]string{"error": "patient_not_found"})
	case 1:
		return reply(http.StatusOK, map[string]string{"patient_id": ids[0], "resource_reference": "Patient/" + ids[0]})
	}
	return reply(http.StatusConflict, map[string]string{"error": "duplicate_active_patient"})
}

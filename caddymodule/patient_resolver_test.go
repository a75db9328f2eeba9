package caddymodule

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/hdp-il/fhir-pep/patient"
)

func TestPatientResolverConfigCheck(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" for a valid block; "parse:" prefix for a parse error
	}{
		{"fhir", "patient_resolver fhir", ""},
		{"national basic", "patient_resolver national {\n url https://resolve.example\n basic_user ds\n basic_password_file /p\n}", ""},
		{"national mTLS", "patient_resolver national {\n url https://resolve.example\n client_cert /c\n client_key /k\n ca /ca\n timeout 2s\n}", ""},
		{"no kind", "patient_resolver", "parse:needs a kind"},
		{"unknown option", "patient_resolver national {\n uri x\n}", "parse:uri"},
		{"unknown kind", "patient_resolver mpi", `"mpi" is not fhir or national`},
		{"fhir with url", "patient_resolver fhir {\n url https://x\n}", "applies only to patient_resolver national"},
		{"national without url", "patient_resolver national {\n basic_user ds\n basic_password_file /p\n}", "url is required"},
		{"national relative url", "patient_resolver national {\n url /api\n basic_user ds\n basic_password_file /p\n}", "absolute http(s) URL"},
		{"user without password", "patient_resolver national {\n url https://r\n basic_user ds\n}", "basic_password_file is required"},
		{"cert without key", "patient_resolver national {\n url https://r\n client_cert /c\n}", "client_key is required"},
		{"no authentication", "patient_resolver national {\n url https://r\n}", "HTTP Basic or mTLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser(tt.in)
			d.Next()
			var c PatientResolverConfig
			_, err := c.unmarshalCaddyfile(d)
			if want, ok := strings.CutPrefix(tt.want, "parse:"); ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("parse error %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e := c.check()
			switch {
			case tt.want == "" && e != nil:
				t.Fatalf("unexpected error %v", e)
			case tt.want != "" && (e == nil || !strings.Contains(e.Error(), tt.want)):
				t.Fatalf("error %v, want %q", e, tt.want)
			}
		})
	}
}

func TestNewPatientResolver(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ds" || p != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), `"value":"000000018"`) {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, `{"patient_id":"p18","resource_reference":"Patient/p18"}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	fhir, err := newPatientResolver(nil, patient.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fhir.(*patient.Resolver); !ok {
		t.Fatalf("default resolver is %T, want the FHIR-search resolver", fhir)
	}

	national, err := newPatientResolver(&PatientResolverConfig{Kind: "national", URL: srv.URL, BasicUser: "ds", BasicPasswordFile: pw}, patient.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := national.Resolve(context.Background(), nil, "urn:il-national-id", "000000018")
	if err != nil || len(ids) != 1 || ids[0] != "p18" {
		t.Fatalf("Resolve = %v, %v (the password file's newline must be trimmed)", ids, err)
	}
	ids, err = national.Resolve(context.Background(), nil, "urn:il-national-id", "000000026")
	if err != nil || len(ids) != 0 {
		t.Fatalf("unknown patient: %v, %v; want no data", ids, err)
	}

	_, err = newPatientResolver(&PatientResolverConfig{Kind: "national", URL: srv.URL, BasicUser: "ds", BasicPasswordFile: filepath.Join(dir, "none")}, patient.Config{})
	if err == nil || !strings.Contains(err.Error(), "basic_password_file") {
		t.Fatalf("missing password file: %v", err)
	}
	_, err = newPatientResolver(&PatientResolverConfig{Kind: "national", URL: "http://resolve.example", BasicUser: "ds", BasicPasswordFile: pw}, patient.Config{})
	if err == nil || errors.Is(err, patient.ErrLookupFailed) {
		t.Fatalf("plain http to a remote host must be refused at provision: %v", err)
	}
}

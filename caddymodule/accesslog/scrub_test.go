package accesslog

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestScrubURI(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"asterisk", "*", "*"},
		{"metadata", "/R4/metadata", "/R4/metadata"},
		{"read keeps logical id", "/R4/Patient/patient-with-israeli-id", "/R4/Patient/patient-with-israeli-id"},
		{"short numeric logical id kept", "/R4/Observation/1234567/_history/2", "/R4/Observation/1234567/_history/2"},
		{"national id as path segment", "/R4/Patient/000000026", "/R4/Patient/REDACTED"},
		{"national id without leading zero", "/R4/Patient/12345678", "/R4/Patient/REDACTED"},
		{"national id inside a segment", "/R4/Patient/il-000000026-x", "/R4/Patient/REDACTED"},
		{"percent-encoded digits", "/R4/Patient/%30%30%30%30%30%30%30%32%36", "/R4/Patient/REDACTED"},
		{"system|value in the path", "/R4/Patient/http:%2F%2Ffhir.health.gov.il%7C1", "/R4/Patient/REDACTED"},
		{"bad escape in path", "/R4/Patient/%zz", "/R4/Patient/REDACTED"},
		{"over-long segment", "/R4/" + strings.Repeat("a", 65), "/R4/REDACTED"},
		{"operation", "/R4/Patient/p1/$everything", "/R4/Patient/p1/$everything"},
		{"search values dropped", "/R4/Observation?patient.identifier=http://fhir.health.gov.il/identifier/il-national-id|000000026&_count=10",
			"/R4/Observation?patient.identifier=&_count="},
		{"modifier kept", "/R4/Observation?_security:not=x|V", "/R4/Observation?_security:not="},
		{"access_token dropped", "/R4/Patient?access_token=eyJhbGciOi&_id=1", "/R4/Patient?_id="},
		{"access_token only", "/R4/Patient?access_token=secret", "/R4/Patient?"},
		{"access_token escaped underscore", "/R4/Patient?access%5Ftoken=secret&a=1", "/R4/Patient?a="},
		{"access_token escaped letter", "/R4/Patient?%61ccess_token=secret", "/R4/Patient?"},
		{"access_token upper case", "/R4/Patient?ACCESS_TOKEN=secret", "/R4/Patient?"},
		{"access_token no value", "/R4/Patient?access_token", "/R4/Patient?"},
		{"access_token with a modifier", "/R4/Patient?access_token:exact=secret&a=1", "/R4/Patient?a="},
		{"access_token with a chain", "/R4/Patient?access_token.x=secret", "/R4/Patient?"},
		{"access_token padded", "/R4/Patient?access_token+=secret", "/R4/Patient?"},
		{"name without value", "/R4/Patient?_summary", "/R4/Patient?_summary="},
		{"national id as a name", "/R4/Patient?000000026", "/R4/Patient?REDACTED="},
		{"name with odd characters", "/R4/Patient?a%7Cb=1", "/R4/Patient?REDACTED="},
		{"bad escape in name", "/R4/Patient?%zz=1", "/R4/Patient?REDACTED="},
		{"empty parts skipped", "/R4/Patient?&&a=1&&", "/R4/Patient?a="},
		{"semicolon stays inside the dropped value", "/R4/Patient?a=1;access_token=x", "/R4/Patient?a="},
		{"fragment dropped", "/R4/Patient?a=1#000000026", "/R4/Patient?a="},
		{"fragment in path dropped", "/R4/Patient#x", "/R4/Patient"},
		{"empty query kept as marker", "/R4/Patient?", "/R4/Patient?"},
		{"absolute form", "https://fhir.example:8443/R4/Patient?identifier=x|1", "https://fhir.example:8443/R4/Patient?identifier="},
		{"absolute form userinfo dropped", "https://user:pass@fhir.example/R4", "https://fhir.example/R4"},
		{"absolute form without path", "https://fhir.example", "https://fhir.example"},
		{"absolute form query only", "https://fhir.example?access_token=x", "https://fhir.example?"},
		{"national id as host", "http://000000026.example/R4", "REDACTED"},
		{"IP host kept", "http://192.168.100.100:8080/R4", "http://192.168.100.100:8080/R4"},
		{"not a URI", "000000026", "REDACTED"},
		{"opaque", "mailto:000000026@x", "REDACTED"},
		{"other scheme", "ftp://fhir.example/R4", "REDACTED"},
		{"upper-case scheme", "HTTPS://fhir.example/R4", "https://fhir.example/R4"},
		{"relative path", "Patient/1?x=y", "REDACTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ScrubURI(tt.in); got != tt.want {
				t.Errorf("ScrubURI(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

var eightDigits = regexp.MustCompile(`[0-9]{8}`)

// FuzzScrubURI checks the promises of ScrubURI on any input: no query value
// survives, no access_token name survives in any spelling, no run of 8
// digits survives, no fragment survives, and scrubbing is idempotent.
func FuzzScrubURI(f *testing.F) {
	for _, s := range []string{
		"/R4/Patient?identifier=a|000000026&access_token=tok",
		"/R4/Patient/%30%30%30%30%30%30%30%32%36",
		"https://u:p@h:1/x?%61ccess%5Ftoken=1#f",
		"/a?b&c=d=e&&",
		"*",
		"/%zz?%zz=%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := ScrubURI(in)
		if strings.Contains(out, "#") {
			t.Fatalf("fragment kept: %q -> %q", in, out)
		}
		if eightDigits.MatchString(out) {
			t.Fatalf("digit run kept: %q -> %q", in, out)
		}
		path, query, hasQuery := strings.Cut(out, "?")
		if strings.ContainsAny(path, "%|@") {
			t.Fatalf("unsafe path character kept: %q -> %q", in, out)
		}
		if hasQuery && query != "" {
			for part := range strings.SplitSeq(query, "&") {
				name, value, ok := strings.Cut(part, "=")
				if !ok || value != "" {
					t.Fatalf("query value kept: %q -> %q", in, out)
				}
				dec, err := url.QueryUnescape(name)
				if err != nil || isAccessToken(dec) {
					t.Fatalf("access_token or undecodable name kept: %q -> %q", in, out)
				}
			}
		}
		if again := ScrubURI(out); again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
		}
	})
}

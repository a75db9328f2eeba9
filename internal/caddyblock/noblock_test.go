package caddyblock

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// A block opened after a subdirective that takes only arguments is an
// error at that subdirective's line, whether it is empty or not; a nested
// block read by its own handler, and a following subdirective, are not.
func TestParseRejectsBlockAfterArguments(t *testing.T) {
	for _, tc := range []struct {
		name, input, want string
	}{
		{"block with content", "pcm {\n name x {\n  y\n }\n}", `name does not take a block, at Testfile:2`},
		{"empty block", "pcm {\n name x {\n }\n}", `name does not take a block, at Testfile:2`},
		{"flag with a block", "pcm {\n flag {\n }\n}", `flag does not take a block, at Testfile:2`},
		{"nested block handler", "pcm {\n inner {\n  name x\n }\n name y\n}", ""},
		{"next subdirective", "pcm {\n name x\n flag\n}", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser(tc.input)
			d.Next()
			var name, inner string
			var flag bool
			_, err := Parse(d, "pcm", Handlers{
				"name": String(&name),
				"flag": Flag(&flag),
				"inner": func(d *caddyfile.Dispenser) error {
					_, err := Parse(d, "inner", Handlers{"name": String(&inner)})
					return err
				},
			})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

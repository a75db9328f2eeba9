package caddyblock

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

type conf struct {
	name    string
	flag    bool
	n       int
	dur     caddy.Duration
	size    int64
	servers []string
}

func parse(t *testing.T, input string) (*conf, *Block, error) {
	t.Helper()
	d := caddyfile.NewTestDispenser(input)
	d.Next() // directive
	c := new(conf)
	b, err := Parse(d, "pcm", Handlers{
		"name":         String(&c.name),
		"flag":         Flag(&c.flag),
		"count":        PositiveInt(&c.n),
		"refresh":      Duration(&c.dur),
		"max_bytes":    Size(&c.size),
		"servers":      Strings(&c.servers),
		"token_issuer": String(new(string)),
	})
	return c, b, err
}

func TestParseValues(t *testing.T) {
	c, b, err := parse(t, `pcm {
		name x
		flag
		count 3
		refresh 5m
		max_bytes 64KiB
		servers a b
	}`)
	if err != nil {
		t.Fatal(err)
	}
	if c.name != "x" || !c.flag || c.n != 3 || time.Duration(c.dur) != 5*time.Minute || c.size != 64*1024 || len(c.servers) != 2 {
		t.Fatalf("parsed %+v", c)
	}
	if !b.Has("name") || b.Has("missing") {
		t.Fatal("Has is wrong")
	}
	if got := b.Errf("count", "bad"); !strings.HasSuffix(got.Error(), ":4") {
		t.Fatalf("Errf of a present option: %v", got)
	}
	if got := b.Errf("missing", "%s is required", "missing"); got.Error() != "missing is required, at Testfile:1" {
		t.Fatalf("Errf of an absent option: %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, input, want string
	}{
		{"unknown with suggestion", "pcm {\n refesh 5m\n}", `unrecognized pcm subdirective "refesh"; did you mean "refresh"?, at Testfile:2`},
		{"unknown far from all", "pcm {\n zzzzzzzz 1\n}", `unrecognized pcm subdirective "zzzzzzzz", at Testfile:2`},
		{"duplicate", "pcm {\n name a\n name b\n}", `duplicate pcm subdirective "name" (first at line 2), at Testfile:3`},
		{"duration on its own line", "pcm {\n\n refresh 1x\n}", `refresh: invalid duration "1x"`},
		{"duration line", "pcm {\n\n refresh 1x\n}", `Testfile:3`},
		{"negative duration", "pcm {\n refresh -1s\n}", `refresh: duration "-1s" must be positive`},
		{"bad int", "pcm {\n count 0\n}", `count: invalid positive integer "0"`},
		{"bad size", "pcm {\n max_bytes lots\n}", `max_bytes: invalid size "lots"`},
		{"flag with argument", "pcm {\n flag yes\n}", `wrong argument count`},
		{"string without argument", "pcm {\n name\n}", `wrong argument count`},
		{"string with two", "pcm {\n name a b\n}", `wrong argument count`},
		{"strings without argument", "pcm {\n servers\n}", `wrong argument count`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parse(t, tc.input)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestClosest(t *testing.T) {
	names := []string{"issuer", "token_endpoint", "introspection_endpoint", "client_id", "ca", "refresh", "trust_anchor"}
	for _, tc := range []struct{ in, want string }{
		{"isuer", "issuer"},
		{"client-id", "client_id"},
		{"trust_ancor", "trust_anchor"},
		{"introspection_endpiont", "introspection_endpoint"},
		{"cb", "ca"},
		{"x", ""},
		{"completely_different", ""},
	} {
		if got := Closest(tc.in, names); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzEditDistance(f *testing.F) {
	f.Add("refresh", "refesh")
	f.Fuzz(func(t *testing.T, a, b string) {
		d := editDistance(a, b)
		if d != editDistance(b, a) {
			t.Fatal("not symmetric")
		}
		if (d == 0) != (a == b) {
			t.Fatal("zero distance iff equal")
		}
		if d > max(len(a), len(b)) {
			t.Fatal("distance above the longer length")
		}
	})
}

package enforce

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"
)

// FuzzFilterBundleEdited: an Edited gives exactly FilterBundle's bytes,
// stats and errors, appended or written through any chunk size.
func FuzzFilterBundleEdited(f *testing.F) {
	for _, b := range fixtureBodies(f) {
		f.Add([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"http://hapi.internal:8080/fhir/X/1","resource":`+string(b)+`}]}`), true, false, uint16(64))
	}
	for i, s := range trickySeeds {
		f.Add([]byte(s), i%2 == 0, i%3 == 0, uint16(i))
	}
	for seed := range uint64(30) {
		f.Add([]byte((&gen{r: rand.New(rand.NewPCG(seed, 5)), pretty: seed%2 == 0}).bundle()), seed%2 == 1, seed%3 == 0, uint16(seed*37))
	}
	a := testAccess(f)
	self := []byte(`[{"relation":"self","url":"` + testPublic + `/Observation?code=718-7"}]`)
	var ed Edited
	f.Fuzz(func(t *testing.T, body []byte, annotate, links bool, chunk uint16) {
		opts := FilterOptions{AnnotateWithheld: annotate}
		if links {
			opts.Links = func([]byte) ([]byte, error) { return self, nil }
		}
		want, wantStats, wantErr := a.FilterBundle(body, opts)
		stats, err := a.FilterBundleEdited(body, opts, &ed)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("error %v, FilterBundle's %v", err, wantErr)
		}
		if err != nil {
			if ed.Len() != 0 || !ed.Unchanged() || ed.Body() != nil {
				t.Fatal("an Edited left with content after an error")
			}
			return
		}
		if !reflect.DeepEqual(stats, wantStats) {
			t.Fatalf("stats %+v, FilterBundle's %+v", stats, wantStats)
		}
		if got := ed.AppendTo([]byte("x")); !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("AppendTo\n got  %s\n want %s", got[1:], want)
		}
		if ed.Len() != len(want) {
			t.Fatalf("Len %d, want %d", ed.Len(), len(want))
		}
		if ed.Unchanged() && !bytes.Equal(want, body) {
			t.Fatal("Unchanged, but FilterBundle changed the body")
		}
		var buf bytes.Buffer
		n, err := ed.WriteTo(&buf, make([]byte, 0, int(chunk)))
		if err != nil || n != int64(len(want)) || !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("WriteTo through %d bytes: n %d err %v\n got  %s\n want %s", chunk, n, err, buf.Bytes(), want)
		}
	})
}

// The searchset bench-e2e serves, written through the chunk caddymodule
// uses: the same bytes as the rebuilt body, in few large writes.
func TestEditedNarrativeSearchset(t *testing.T) {
	body := stubNarrativeSearchset(900)
	a := testAccess(t)
	self := []byte(`[{"relation":"self","url":"` + testPublic + `/Observation?code=718-7"}]`)
	opts := FilterOptions{AnnotateWithheld: true, NarrowedType: "Observation", Links: func([]byte) ([]byte, error) { return self, nil }}
	want, _, err := a.FilterBundleInto(nil, body, opts)
	if err != nil {
		t.Fatal(err)
	}
	var ed Edited
	if _, err := a.FilterBundleEdited(body, opts, &ed); err != nil {
		t.Fatal(err)
	}
	if ed.Unchanged() {
		t.Fatal("the searchset's fullUrls were not moved to the public base")
	}
	w := &countingWriter{}
	if n, err := ed.WriteTo(w, make([]byte, 0, 64<<10)); err != nil || n != int64(len(want)) {
		t.Fatalf("WriteTo = %d, %v; want %d", n, err, len(want))
	}
	if !bytes.Equal(w.buf.Bytes(), want) {
		t.Fatal("written bytes differ from the rebuilt body")
	}
	if max := len(want)/(64<<10) + 2; w.writes > max {
		t.Fatalf("%d writes for %d bytes through a 64 KiB chunk, want at most %d", w.writes, len(want), max)
	}
}

// A writer's error or short write ends WriteTo with it and the count of
// what was taken.
func TestEditedWriteToErrors(t *testing.T) {
	a := testAccess(t)
	body := stubNarrativeSearchset(20)
	var ed Edited
	if _, err := a.FilterBundleEdited(body, FilterOptions{}, &ed); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	for _, chunk := range []int{0, 100, 4096} {
		for _, tc := range []struct {
			name    string
			w       *countingWriter
			wantErr error
		}{
			{"error", &countingWriter{failAfter: 3, err: boom}, boom},
			{"short write", &countingWriter{failAfter: 2, short: true}, io.ErrShortWrite},
		} {
			n, err := ed.WriteTo(tc.w, make([]byte, 0, chunk))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("chunk %d, %s: err %v", chunk, tc.name, err)
			}
			if n != int64(tc.w.buf.Len()) || n >= int64(ed.Len()) {
				t.Fatalf("chunk %d, %s: n %d, writer took %d of %d", chunk, tc.name, n, tc.w.buf.Len(), ed.Len())
			}
			if tc.w.writes != tc.w.failAfter+1 {
				t.Fatalf("chunk %d, %s: %d writes after the failure", chunk, tc.name, tc.w.writes-tc.w.failAfter-1)
			}
		}
	}
}

type countingWriter struct {
	buf       bytes.Buffer
	writes    int
	failAfter int // writes that succeed; 0 for all
	err       error
	short     bool
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	if c.failAfter > 0 && c.writes > c.failAfter {
		if c.short {
			c.buf.Write(p[:len(p)/2])
			return len(p) / 2, nil
		}
		return 0, c.err
	}
	return c.buf.Write(p)
}

// An Edited is kept in a pooled capture: Reset keeps its slices for the
// next answer only within the bounds a pooled walk keeps (putWork), so one
// huge answer does not pin its edits and replacements.
func TestEditedResetBoundsRetention(t *testing.T) {
	tests := []struct {
		name                 string
		edits, repl          int
		keepEdits, keepRepls bool
	}{
		{"usual answer", 2000, 64 << 10, true, true},
		{"at the bounds", retainLimit / 32, retainLimit, true, true},
		{"too many edits", retainLimit/32 + 1, 1, false, true},
		{"too many replacement bytes", 1, retainLimit + 1, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Edited{edits: make([]edit, 1, tt.edits), repl: make([]byte, 1, tt.repl), body: []byte("{}"), size: 9}
			e.Reset()
			if e.Len() != 0 || e.Body() != nil || len(e.edits) != 0 || len(e.repl) != 0 {
				t.Fatalf("not empty after Reset: %+v", e)
			}
			if (cap(e.edits) == tt.edits) != tt.keepEdits || (cap(e.repl) == tt.repl) != tt.keepRepls {
				t.Fatalf("kept edits cap %d (of %d), repl cap %d (of %d); want kept %v, %v", cap(e.edits), tt.edits, cap(e.repl), tt.repl, tt.keepEdits, tt.keepRepls)
			}
		})
	}
}

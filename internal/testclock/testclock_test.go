package testclock

import (
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	c := New(start)
	steps := []struct {
		name string
		move func()
		want time.Time
	}{
		{"at start", func() {}, start},
		{"advance", func() { c.Advance(90 * time.Second) }, start.Add(90 * time.Second)},
		{"set back", func() { c.Set(start.Add(-time.Hour)) }, start.Add(-time.Hour)},
	}
	for _, s := range steps {
		s.move()
		if got := c.Now(); !got.Equal(s.want) {
			t.Fatalf("%s: Now = %v, want %v", s.name, got, s.want)
		}
	}
}

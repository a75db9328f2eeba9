package enforce

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// One Access serves many requests at once; pooled scratch state must never
// leak between them.
func TestConcurrentUse(t *testing.T) {
	a := testAccess(t)
	var inputs, want [][]byte
	for seed := range uint64(40) {
		in := []byte((&gen{r: rand.New(rand.NewPCG(seed, 13)), pretty: seed%2 == 1}).bundle())
		out, _, err := a.FilterBundle(in, FilterOptions{AnnotateWithheld: true})
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, in)
		want = append(want, append([]byte(nil), out...))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			var buf []byte
			for i := range 200 {
				k := (i + g*7) % len(inputs)
				var err error
				buf, _, err = a.AppendFilterBundle(buf[:0], inputs[k], FilterOptions{AnnotateWithheld: true})
				if err != nil || string(buf) != string(want[k]) {
					errs <- "different output under concurrency"
					return
				}
				if _, err := a.CheckResource([]byte(resOwn)); err != nil {
					errs <- err.Error()
					return
				}
				SanitizeOperationOutcome([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}`))
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

package policy_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/hdp-il/fhir-pep/policies"
	"github.com/hdp-il/fhir-pep/policy"
)

func TestDecisionCacheNeedsDeterministicPolicies(t *testing.T) {
	for _, call := range []string{
		"time.now_ns()",
		"rand.intn(\"x\", 10)",
		"uuid.rfc4122(\"x\")",
		`net.cidr_contains("10.0.0.0/8", "10.1.1.1")`,
		`io.jwt.decode_verify("x", {"secret": "s"})`,
		`crypto.x509.parse_and_verify_certificates("x")`,
		`json.verify_schema({})`,
	} {
		t.Run(call, func(t *testing.T) {
			fsys := module(allowAll + "\n\nx := " + call)
			_, err := policy.Load(context.Background(), fsys, policy.WithDecisionCache(16))
			name := call[:strings.IndexByte(call, '(')]
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("Load with cache: err = %v, want an error naming %s", err, name)
			}
			if _, err := policy.Load(context.Background(), fsys); err != nil {
				t.Fatalf("Load without cache: %v", err)
			}
		})
	}
	deterministic := module(allowAll + "\n\nx := concat(\"|\", [lower(\"A\"), sprintf(\"%d\", [time.parse_rfc3339_ns(\"2024-01-01T00:00:00Z\")])])")
	if _, err := policy.Load(context.Background(), deterministic, policy.WithDecisionCache(16)); err != nil {
		t.Fatalf("deterministic policy refused: %v", err)
	}
	if _, err := policy.Load(context.Background(), policies.FS(), policy.WithDecisionCache(16)); err != nil {
		t.Fatalf("default policies refused: %v", err)
	}
}

func TestDecisionCacheSize(t *testing.T) {
	for _, size := range []int{0, -1} {
		if _, err := policy.Load(context.Background(), module(allowAll), policy.WithDecisionCache(size)); err == nil {
			t.Errorf("WithDecisionCache(%d) accepted", size)
		}
	}
}

// TestEvalInputCachedMatchesUncached: for the default policies, a cached
// engine gives every input the decision an uncached one gives, on the first
// call and from the cache, also when the caller changes what it got.
func TestEvalInputCachedMatchesUncached(t *testing.T) {
	ctx := context.Background()
	plain := loadDefaults(t)
	cached, err := policy.Load(ctx, policies.FS(), policy.WithDecisionCache(64))
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]*policy.Input{
		"search": typicalSearch(t),
		"read":   typicalRead(t),
		"batch":  typicalBatch(t),
		"denied": input(t, get(t, "/Patient/pat-2"), patientScope),
	} {
		t.Run(name, func(t *testing.T) {
			want, err := plain.EvalInput(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				got, err := cached.EvalInput(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("call %d: %+v, want %+v", i, got, want)
				}
				got.Reasons = append(got.Reasons, "mutated")
				for k := range got.Obligations.Response.Types {
					got.Obligations.Response.Types[k] = nil
				}
			}
		})
	}
	if _, err := cached.EvalInput(ctx, nil); !errors.Is(err, policy.ErrInput) {
		t.Fatalf("EvalInput(nil) err = %v", err)
	}
}

// TestEvalInputCacheConcurrent shares one cached engine (run with -race).
func TestEvalInputCacheConcurrent(t *testing.T) {
	e, err := policy.Load(context.Background(), policies.FS(), policy.WithDecisionCache(2))
	if err != nil {
		t.Fatal(err)
	}
	inputs := []*policy.Input{typicalSearch(t), typicalRead(t), typicalBatch(t)}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 30 {
				d, err := e.EvalInput(context.Background(), inputs[(g+i)%len(inputs)])
				if err != nil {
					errs <- err
					return
				}
				if !d.Allow {
					errs <- errUnexpected
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

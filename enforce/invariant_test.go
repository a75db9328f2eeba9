package enforce

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// gen builds random but well-formed Bundles mixing everything the filter
// must handle. Members are shuffled and white space varies, so the byte
// level editing is exercised on many layouts.
type gen struct {
	r      *rand.Rand
	pretty bool
}

type member struct{ k, v string }

func (g *gen) obj(ms ...member) string {
	g.r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	// resourceType is usually first, as servers write it.
	for i, m := range ms {
		if m.k == "resourceType" && g.r.IntN(4) != 0 {
			ms[0], ms[i] = ms[i], ms[0]
		}
	}
	sep, colon := ",", ":"
	if g.pretty {
		sep, colon = ",\n  ", ": "
	}
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = jsonString(m.k) + colon + m.v
	}
	return "{" + strings.Join(parts, sep) + "}"
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (g *gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g *gen) ref(own bool) string {
	id := g.pick(ownID, ownID2)
	if !own {
		id = g.pick("b", "ab", "A", ownID+"x", "patient-with-israeli-id2")
	}
	s := g.pick("Patient/"+id, "Patient/"+id+"/_history/"+fmt.Sprint(1+g.r.IntN(9)), testUpstream+"/Patient/"+id, testPublic+"/Patient/"+id)
	if !own && g.r.IntN(5) == 0 {
		s = g.pick("http://other.example/fhir/Patient/"+ownID, "patient/"+ownID, "Patient/"+ownID+"/", "Patient/"+ownID+"?x")
	}
	v := jsonString(s)
	if g.r.IntN(6) == 0 {
		v = strings.ReplaceAll(v, "/", `\/`)
	}
	return `{"reference":` + v + `}`
}

func (g *gen) labels(codes ...string) member {
	var cs []string
	for _, c := range codes {
		sys := g.pick(HDPBucketSystem, HDPBucketSystemLegacy, HDPBucketSystem, "http://example.org/other-buckets")
		if g.r.IntN(3) == 0 {
			c = strings.ToUpper(c[:1]) + c[1:]
		}
		cs = append(cs, g.obj(member{"system", jsonString(sys)}, member{"code", jsonString(c)}))
	}
	if g.r.IntN(3) == 0 {
		cs = append(cs, `{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}`)
	}
	return member{"meta", g.obj(member{"security", "[" + strings.Join(cs, ",") + "]"}, member{"versionId", `"1"`})}
}

func (g *gen) maybeLabels(good ...string) []member {
	switch g.r.IntN(8) {
	case 0:
		return nil
	case 1:
		return []member{g.labels("mentalHealth")}
	case 2:
		return []member{g.labels("mentalHealth", good[0])}
	}
	return []member{g.labels(good[g.r.IntN(len(good))])}
}

func (g *gen) contained() string {
	var cs []string
	for range 1 + g.r.IntN(2) {
		switch g.r.IntN(7) {
		case 0:
			cs = append(cs, g.obj(member{"resourceType", `"Specimen"`}, member{"id", `"s1"`}, member{"subject", g.ref(g.r.IntN(3) != 0)}))
		case 1:
			cs = append(cs, g.obj(member{"resourceType", `"Patient"`}, member{"id", `"p"`}))
		case 2:
			cs = append(cs, g.obj(append([]member{{"resourceType", `"Practitioner"`}, {"id", `"pr"`}}, g.maybeLabels("practitioner", "laboratoryTests")...)...))
		case 3:
			cs = append(cs, g.obj(member{"resourceType", `"Specimen"`}, member{"subject", `{"identifier":{"value":"000000018"}}`}))
		case 4:
			cs = append(cs, g.obj(member{"resourceType", `"Person"`}, member{"link", `[{"target":` + g.ref(g.r.IntN(2) == 0) + `}]`}))
		default:
			cs = append(cs, g.obj(member{"resourceType", `"Medication"`}, member{"id", `"m"`}, member{"code", `{"text":"x"}`}))
		}
	}
	return "[" + strings.Join(cs, ",") + "]"
}

func (g *gen) resource() (typ, body string) {
	switch g.r.IntN(10) {
	case 0, 1, 2, 3:
		ms := []member{{"resourceType", `"Observation"`}, {"id", jsonString(fmt.Sprint("o", g.r.IntN(1e6)))}, {"status", `"final"`},
			{"subject", g.ref(g.r.IntN(4) != 0)}, {"valueString", jsonString(g.pick("ok", "תקין", `a "quoted" \ value`))}}
		ms = append(ms, g.maybeLabels("laboratoryTests", "measurements")...)
		if g.r.IntN(8) == 0 {
			ms[3].v = g.pick(`{"reference":"Group/g1"}`, `{"display":"someone"}`, `{"reference":"#c1"}`, `"Patient/a"`)
		}
		if g.r.IntN(3) == 0 {
			ms = append(ms, member{"performer", "[" + g.ref(g.r.IntN(2) == 0) + `,{"reference":"Practitioner/p1"}]`})
		}
		if g.r.IntN(4) == 0 {
			ms = append(ms, member{"contained", g.contained()})
		}
		return "Observation", g.obj(ms...)
	case 4:
		ms := []member{{"resourceType", `"Encounter"`}, {"id", `"e1"`}, {"participant", `[{"individual":` + g.ref(g.r.IntN(3) != 0) + `}]`}}
		if g.r.IntN(2) == 0 {
			ms = append(ms, member{"subject", g.ref(g.r.IntN(3) != 0)})
		}
		ms = append(ms, g.maybeLabels("encounterInformation")...)
		return "Encounter", g.obj(ms...)
	case 5:
		ms := []member{{"resourceType", `"Patient"`}, {"id", jsonString(g.pick(ownID, ownID2, "b", "c"))}}
		ms = append(ms, g.maybeLabels("patientDemographics")...)
		return "Patient", g.obj(ms...)
	case 6, 7:
		ms := []member{{"resourceType", `"Practitioner"`}, {"id", `"p1"`}, {"name", `[{"family":"כהן"}]`}}
		ms = append(ms, g.maybeLabels("practitioner")...)
		return "Practitioner", g.obj(ms...)
	case 8:
		if g.r.IntN(2) == 0 {
			ms := []member{{"resourceType", `"Person"`}, {"id", `"pe"`}, {"link", `[{"target":` + g.ref(g.r.IntN(2) == 0) + `}]`}}
			if g.r.IntN(3) == 0 {
				ms = append(ms, member{"managingOrganization", `{"reference":"Organization/o","extension":[{"url":"x","valueReference":` + g.ref(g.r.IntN(2) == 0) + `}]}`})
			}
			ms = append(ms, g.maybeLabels("patientDemographics")...)
			return "Person", g.obj(ms...)
		}
		ms := []member{{"resourceType", `"MedicationRequest"`}, {"id", `"mr"`}, {"subject", g.ref(true)}}
		ms = append(ms, g.maybeLabels("medications")...)
		return "MedicationRequest", g.obj(ms...)
	default:
		ms := []member{{"resourceType", `"Organization"`}, {"id", `"org"`}}
		ms = append(ms, g.maybeLabels("organization")...)
		return "Organization", g.obj(ms...)
	}
}

func (g *gen) bundle() string {
	typ := g.pick("searchset", "searchset", "searchset", "history", "collection", "batch-response")
	var es []string
	for i := range g.r.IntN(12) {
		rt, res := g.resource()
		ms := []member{{"resource", res}}
		if g.r.IntN(5) != 0 {
			ms = append(ms, member{"fullUrl", jsonString(g.pick(testUpstream, testPublic, "urn:uuid:x") + "/" + rt + "/" + fmt.Sprint(i))})
		}
		switch typ {
		case "searchset":
			mode := "match"
			if rt == "Practitioner" || rt == "Organization" {
				mode = "include"
			}
			ms = append(ms, member{"search", `{"mode":"` + mode + `"}`})
		case "batch-response":
			ms = append(ms, member{"response", `{"status":"200 OK","location":` + jsonString(testUpstream+"/"+rt+"/1/_history/1") + `}`})
		}
		if g.r.IntN(10) == 0 {
			ms = []member{{"request", `{"method":"DELETE","url":"Observation/1"}`}}
		}
		es = append(es, g.obj(ms...))
	}
	ms := []member{{"resourceType", `"Bundle"`}, {"type", jsonString(typ)}, {"id", `"b"`}}
	if len(es) > 0 || g.r.IntN(2) == 0 {
		ms = append(ms, member{"entry", "[" + strings.Join(es, ",\n") + "]"})
	}
	if g.r.IntN(2) == 0 {
		ms = append(ms, member{"total", fmt.Sprint(g.r.IntN(len(es) + 2))})
	}
	if g.r.IntN(2) == 0 {
		var ls []string
		for range 1 + g.r.IntN(3) {
			ls = append(ls, g.obj(member{"relation", jsonString(g.pick("self", "next", "previous", "alternate"))},
				member{"url", jsonString(g.pick(testUpstream, testPublic, "https://evil.example/fhir") + "/Observation?page=2")}))
		}
		ms = append(ms, member{"link", "[" + strings.Join(ls, ",") + "]"})
	}
	return g.obj(ms...)
}

// TestFilterBundleInvariant: on many random Bundles the output parses, every
// resource left (with its contained resources) passes the oracle, nothing the
// oracle accepts is removed, and kept resources are unchanged.
func TestFilterBundleInvariant(t *testing.T) {
	a := testAccess(t)
	o := newOracle()
	var seen Stats
	defer func() {
		if t.Failed() {
			return
		}
		for _, r := range []Reason{ReasonTypeNotGranted, ReasonOtherPatient, ReasonNoPatientReference, ReasonNoBucket, ReasonContained, ReasonNoResource} {
			if seen.Withheld[r] == 0 {
				t.Errorf("generator never produced %s", r)
			}
		}
		if seen.Returned < 1000 || seen.Included == 0 || seen.LinksRemoved == 0 || !seen.TotalDropped {
			t.Errorf("generator too narrow: %+v", seen)
		}
		t.Logf("coverage: %+v", seen)
	}()
	for seed := range uint64(3000) {
		g := &gen{r: rand.New(rand.NewPCG(seed, 7)), pretty: seed%3 == 0}
		in := g.bundle()
		opts := FilterOptions{AnnotateWithheld: seed%2 == 0}
		out, st, err := a.FilterBundle([]byte(in), opts)
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, in)
		}
		for r, n := range st.Withheld {
			seen.Withheld[r] += n
		}
		seen.Returned += st.Returned
		seen.Included += st.Included
		seen.LinksRemoved += st.LinksRemoved
		seen.TotalDropped = seen.TotalDropped || st.TotalDropped
		outEntries, err := o.checkOutput(out)
		if err != nil {
			t.Fatalf("seed %d: %v\nin  %s\nout %s", seed, err, in, out)
		}
		inTree, _ := decodeFolded([]byte(in))
		inBundle := inTree.(map[string]any)
		batch := inBundle[fold("type")] == "batch-response"
		var want []any
		withheld := 0
		for _, e := range anyList(inBundle[fold("entry")]) {
			res, has := e.(map[string]any)[fold("resource")]
			switch {
			case !has && batch:
				want = append(want, nil)
			case !has:
				withheld++
			case o.resource(res, false, "") == nil:
				want = append(want, res)
			case batch:
				want = append(want, nil)
				withheld++
			default:
				withheld++
			}
		}
		var got []any
		for _, e := range outEntries {
			em := e.(map[string]any)
			if s, ok := em[fold("search")].(map[string]any); ok && s[fold("mode")] == "outcome" {
				continue
			}
			got = append(got, em[fold("resource")])
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: kept entries differ from the oracle\nin  %s\nout %s", seed, in, out)
		}
		if st.WithheldCount() != withheld {
			t.Fatalf("seed %d: withheld %d, oracle %d", seed, st.WithheldCount(), withheld)
		}
		outTree, _ := decodeFolded(out)
		// A total that leaves counts the match entries that leave, so it
		// says nothing the entries do not.
		if total, hasTotal := outTree.(map[string]any)[fold("total")]; hasTotal {
			outMatches := 0
			entries, _ := outTree.(map[string]any)[fold("entry")].([]any)
			for _, e := range entries {
				em, _ := e.(map[string]any)
				search, _ := em[fold("search")].(map[string]any)
				res, hasRes := em[fold("resource")]
				r, _ := res.(map[string]any)
				if mode, has := search[fold("mode")]; (!has || mode == "match") && hasRes && r[fold("resourceType")] != "OperationOutcome" {
					outMatches++
				}
			}
			if n, isNum := total.(json.Number); !isNum || n.String() != strconv.Itoa(outMatches) {
				t.Fatalf("seed %d: total %v, %d match entries leave\nout %s", seed, total, outMatches, out)
			}
		}
		// Filtering is idempotent: the output passes again unchanged.
		again, st2, err := a.FilterBundle(out, FilterOptions{})
		if err != nil || st2.WithheldCount() != 0 || string(again) != string(out) {
			t.Fatalf("seed %d: second pass changed the output (%v, %+v)\nout   %s\nagain %s", seed, err, st2, out, again)
		}
	}
}

// TestCheckResourceAgreesWithOracle runs single random resources through both.
func TestCheckResourceAgreesWithOracle(t *testing.T) {
	a := testAccess(t)
	o := newOracle()
	passed := 0
	for seed := range uint64(5000) {
		g := &gen{r: rand.New(rand.NewPCG(seed, 11)), pretty: seed%2 == 0}
		_, body := g.resource()
		v, err := a.CheckResource([]byte(body))
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, body)
		}
		tree, _ := decodeFolded([]byte(body))
		oerr := o.resource(tree, false, "")
		if v.Allowed != (oerr == nil) {
			t.Fatalf("seed %d: verdict %+v, oracle %v\n%s", seed, v, oerr, body)
		}
		if v.Allowed {
			passed++
		}
	}
	if passed < 500 || passed > 4500 {
		t.Fatalf("generator is unbalanced: %d of 5000 passed", passed)
	}
}

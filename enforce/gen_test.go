package enforce

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// benchBundle builds a realistic searchset: Observations (several labels,
// narrative, Hebrew text), included Practitioners, and a share of entries of
// another patient or without a granted label, like an upstream that ignored
// the patient parameter.
func benchBundle(entries int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b strings.Builder
	b.WriteString(`{"resourceType":"Bundle","id":"b1","meta":{"lastUpdated":"2025-01-01T10:00:00Z"},"type":"searchset","total":`)
	fmt.Fprintf(&b, "%d", entries)
	b.WriteString(`,"link":[{"relation":"self","url":"` + testUpstream + `/Observation?patient=a&_include=Observation:performer"},{"relation":"next","url":"` + testUpstream + `?_getpages=7f3a&_getpagesoffset=20&_count=20"}],"entry":[`)
	for i := 0; i < entries; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		if i%9 == 8 {
			pid := fmt.Sprintf("pr-%d", r.IntN(50))
			codes := []string{"practitioner"}
			if r.IntN(10) == 0 {
				codes = []string{"organization"}
			}
			fmt.Fprintf(&b, `{"fullUrl":"%s/Practitioner/%s","resource":{"resourceType":"Practitioner","id":"%s",%s,"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Dr. %s</div>"},"identifier":[{"system":"http://practitioners.health.gov.il/Practitioners","value":"1-%05d"}],"name":[{"family":"Cohen","given":["Dana"]}]},"search":{"mode":"include"}}`,
				testUpstream, pid, pid, metaLabels(codes...), pid, r.IntN(99999))
			continue
		}
		subject := "Patient/" + ownID
		switch r.IntN(20) {
		case 0:
			subject = "Patient/other-" + fmt.Sprint(r.IntN(1000))
		case 1:
			subject = testUpstream + "/Patient/" + ownID + "/_history/3"
		}
		labels := []string{"laboratoryTests", "measurements"}
		if r.IntN(25) == 0 {
			labels = []string{"mentalHealth"}
		}
		id := fmt.Sprintf("obs-%d", i)
		fmt.Fprintf(&b, `{"fullUrl":"%s/Observation/%s","resource":{"resourceType":"Observation","id":"%s","meta":{"versionId":"%d","lastUpdated":"2024-11-27T10:30:00.000+02:00","profile":["http://hdp.fhir.health.gov.il/StructureDefinition/il-hdp-observation-lab"],"security":[%s,%s,{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},`,
			testUpstream, id, id, 1+r.IntN(5), label(labels[0]), label(labels[len(labels)-1]))
		fmt.Fprintf(&b, `"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Hemoglobin %d.%d g/dL, בדיקת דם שגרתית, תוצאה תקינה</p><p>Sample taken at the community clinic, analysed at the central laboratory.</p></div>"},`, 10+r.IntN(8), r.IntN(10))
		fmt.Fprintf(&b, `"identifier":[{"system":"http://goodcare.org/lab-test/id","value":"LAB-2024-%06d"}],"status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory","display":"Laboratory"},{"system":"http://snomed.info/sct","code":"108252007","display":"Laboratory procedure"}]}],`, r.IntN(1000000))
		fmt.Fprintf(&b, `"code":{"coding":[{"system":"http://loinc.org","code":"718-7","display":"Hemoglobin [Mass/volume] in Blood"}],"text":"Hemoglobin"},"subject":{"identifier":{"system":"http://fhir.health.gov.il/identifier/il-national-id","value":"000000018"},"reference":"%s"},`, subject)
		fmt.Fprintf(&b, `"encounter":{"reference":"Encounter/enc-%d"},"effectiveDateTime":"2024-11-%02dT10:30:00+02:00","issued":"2024-11-27T12:00:00+02:00","performer":[{"reference":"Practitioner/pr-%d"},{"reference":"Organization/lab-1","display":"Central lab"}],`, r.IntN(100), 1+r.IntN(28), r.IntN(50))
		fmt.Fprintf(&b, `"valueQuantity":{"value":%d.%d,"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"},"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N","display":"Normal"}]}],`, 10+r.IntN(8), r.IntN(10))
		b.WriteString(`"note":[{"text":"הערה: יש לחזור על הבדיקה בעוד שלושה חודשים. Repeat in three months if symptoms persist."}],"specimen":{"reference":"Specimen/serum-1"},`)
		b.WriteString(`"referenceRange":[{"low":{"value":13.2,"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"},"high":{"value":16.6,"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"},"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/referencerange-meaning","code":"normal"}]}}]},"search":{"mode":"match","score":1}}`)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// cleanBenchBundle is benchBundle with only passing entries and no links to rewrite.
func cleanBenchBundle() []byte {
	s := string(benchBundle(900, 1))
	s = strings.ReplaceAll(s, testUpstream, testPublic)
	s = strings.ReplaceAll(s, `"mentalHealth"`, `"laboratoryTests"`)
	s = strings.ReplaceAll(s, `"organization"`, `"practitioner"`)
	for i := 0; i < 1000; i++ {
		s = strings.ReplaceAll(s, fmt.Sprintf(`"Patient/other-%d"`, i), `"Patient/a"`)
	}
	s = strings.Replace(s, `"total":900,`, ``, 1)
	return []byte(s)
}

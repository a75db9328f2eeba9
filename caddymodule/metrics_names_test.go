package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/hdp-il/fhir-pep/caddymodule/ntn"
)

// The operator-facing examples that reference the plugin's metrics. A
// renamed metric or label must break this test, not a dashboard in
// production.
const (
	alertsFile     = "../examples/prometheus/alerts.yml"
	alertTestsFile = "../examples/prometheus/alerts_test.yml"
	dashboardFile  = "../examples/grafana/fhir-pep-dashboard.json"
)

var (
	metricNameRe = regexp.MustCompile(`\b` + metricsNamespace + `_[a-zA-Z0-9_]+`)
	// selectorRe finds name{matchers}; matcherRe the label names in them.
	selectorRe = regexp.MustCompile(`\b(` + metricsNamespace + `_[a-zA-Z0-9_]+)\s*\{([^}]*)\}`)
	matcherRe  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
	// groupingRe finds by (...) and without (...); legendRe {{label}}.
	groupingRe = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	legendRe   = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
	descNameRe = regexp.MustCompile(`fqName: "([^"]+)"`)
	descVarRe  = regexp.MustCompile(`variableLabels: \{([^}]*)\}\}$`)
	durationRe = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
)

// targetLabels are added by Prometheus at scrape time (instance, job) or
// by histograms (le); any expression may use them.
var targetLabels = map[string]bool{"instance": true, "job": true, "le": true}

// exportedMetric is one metric family the plugin registers.
type exportedMetric struct {
	labels map[string]bool
	// typ is known for the families that have samples once every vector
	// has a child; the ntn collector reports nothing without an app, and
	// none of its families is a histogram.
	typ dto.MetricType
}

// recordingRegisterer remembers what the plugin registers, so the test
// follows newHandlerMetrics as metrics are added.
type recordingRegisterer struct {
	prometheus.Registerer
	collectors []prometheus.Collector
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	if err := r.Registerer.Register(c); err != nil {
		return err
	}
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// pluginMetrics builds the collectors the plugin registers (the handler's
// and the ntn app's) into one registry and returns them by name.
func pluginMetrics(t *testing.T) map[string]*exportedMetric {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	rec := &recordingRegisterer{Registerer: reg}
	if _, err := newHandlerMetrics(rec); err != nil {
		t.Fatalf("newHandlerMetrics: %v", err)
	}
	if err := rec.Register(ntn.Metrics()); err != nil {
		t.Fatalf("registering the ntn metrics: %v", err)
	}
	if err := registerCacheSize(rec, func() int64 { return 0 }); err != nil {
		t.Fatalf("registerCacheSize: %v", err)
	}
	metrics := map[string]*exportedMetric{}
	for _, c := range rec.collectors {
		ch := make(chan *prometheus.Desc, 64)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			s := d.String()
			name, vars := descNameRe.FindStringSubmatch(s), descVarRe.FindStringSubmatch(s)
			if name == nil || vars == nil {
				t.Fatalf("cannot read descriptor %s", s)
			}
			m := &exportedMetric{labels: map[string]bool{}}
			var values []string
			for _, l := range strings.Split(vars[1], ",") {
				if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
					m.labels[l] = true
					values = append(values, "x")
				}
			}
			metrics[name[1]] = m
			touch(c, values)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, f := range families {
		if m, ok := metrics[f.GetName()]; ok {
			m.typ = f.GetType()
		}
	}
	return metrics
}

// touch creates one child of a vector so that Gather reports its type.
func touch(c prometheus.Collector, values []string) {
	switch v := c.(type) {
	case *prometheus.CounterVec:
		v.WithLabelValues(values...)
	case *prometheus.GaugeVec:
		v.WithLabelValues(values...)
	case *prometheus.HistogramVec:
		v.WithLabelValues(values...)
	case *prometheus.SummaryVec:
		v.WithLabelValues(values...)
	}
}

// reference is one use of a metric name in an example file.
type reference struct {
	name  string
	where string
	// labels used with the name in a selector: name{label="..."}.
	labels []string
}

// references extracts every metric name in text, with the labels of its
// selectors.
func references(text, where string) []reference {
	var refs []reference
	for _, name := range metricNameRe.FindAllString(text, -1) {
		refs = append(refs, reference{name: name, where: where})
	}
	for _, m := range selectorRe.FindAllStringSubmatch(text, -1) {
		var labels []string
		for _, lm := range matcherRe.FindAllStringSubmatch(m[2], -1) {
			labels = append(labels, lm[1])
		}
		refs = append(refs, reference{name: m[1], where: where, labels: labels})
	}
	return refs
}

// resolve maps a referenced series name to its family: a histogram is
// referenced through its _bucket, _sum and _count series.
func resolve(metrics map[string]*exportedMetric, name string) (family string, problem string) {
	if m, ok := metrics[name]; ok {
		if m.typ == dto.MetricType_HISTOGRAM || m.typ == dto.MetricType_SUMMARY {
			return name, "is a histogram: use " + name + "_bucket, _sum or _count"
		}
		return name, ""
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		m, exists := metrics[base]
		switch {
		case !exists:
		case m.typ == dto.MetricType_HISTOGRAM:
			return base, ""
		case m.typ == dto.MetricType_SUMMARY && suffix != "_bucket":
			return base, ""
		default:
			return base, "is not a histogram, it has no " + suffix + " series"
		}
	}
	return "", "missing"
}

// checkReferences reports every reference to a metric the plugin does
// not export (listed together, as the lead adds metrics), and every label
// that metric does not have.
func checkReferences(t *testing.T, metrics map[string]*exportedMetric, refs []reference) {
	t.Helper()
	missing := map[string][]string{}
	for _, r := range refs {
		family, problem := resolve(metrics, r.name)
		switch problem {
		case "":
		case "missing":
			if !slices.Contains(missing[r.name], r.where) {
				missing[r.name] = append(missing[r.name], r.where)
			}
			continue
		default:
			t.Errorf("%s: %s %s", r.where, r.name, problem)
			continue
		}
		for _, l := range r.labels {
			if !metrics[family].labels[l] && !targetLabels[l] {
				t.Errorf("%s: %s has no label %q (labels: %v)", r.where, r.name, l, sortedKeys(metrics[family].labels))
			}
		}
	}
	if len(missing) > 0 {
		var b strings.Builder
		for _, name := range sortedKeys(missing) {
			fmt.Fprintf(&b, "\n  %s  (used in %s)", name, strings.Join(missing[name], "; "))
		}
		t.Errorf("metrics referenced by the examples but not registered by the plugin:%s", b.String())
	}
}

// checkGrouping checks that by/without clauses and legend templates name
// labels that the metrics of the expression have.
func checkGrouping(t *testing.T, metrics map[string]*exportedMetric, expr, legend, where string) {
	t.Helper()
	available := map[string]bool{}
	for _, name := range metricNameRe.FindAllString(expr, -1) {
		if family, problem := resolve(metrics, name); problem == "" {
			for l := range metrics[family].labels {
				available[l] = true
			}
		}
	}
	var used []string
	for _, g := range groupingRe.FindAllStringSubmatch(expr, -1) {
		for l := range strings.SplitSeq(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				used = append(used, l)
			}
		}
	}
	for _, m := range legendRe.FindAllStringSubmatch(legend, -1) {
		used = append(used, m[1])
	}
	for _, l := range used {
		if !available[l] && !targetLabels[l] {
			t.Errorf("%s: label %q is not a label of the metrics in %q", where, l, expr)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// alertRules is the Prometheus rule file format.
type alertRules struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert         string            `yaml:"alert"`
			Record        string            `yaml:"record"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for"`
			KeepFiringFor string            `yaml:"keep_firing_for"`
			Labels        map[string]string `yaml:"labels"`
			Annotations   map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestMetricNamesAlerts(t *testing.T) {
	metrics := pluginMetrics(t)
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var rules alertRules
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("%s is not a valid rule file: %v", alertsFile, err)
	}
	if len(rules.Groups) == 0 {
		t.Fatalf("%s has no rule groups", alertsFile)
	}
	groups := map[string]bool{}
	alerts := map[string]bool{}
	var refs []reference
	for _, g := range rules.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("group name %q empty or repeated", g.Name)
		}
		groups[g.Name] = true
		for i, r := range g.Rules {
			where := fmt.Sprintf("%s: %s rule %d %s", alertsFile, g.Name, i, r.Alert+r.Record)
			if (r.Alert == "") == (r.Record == "") || strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: needs exactly one of alert/record, and an expr", where)
			}
			if r.For != "" && !durationRe.MatchString(r.For) {
				t.Errorf("%s: for %q is not a duration", where, r.For)
			}
			if r.Alert != "" {
				severity := r.Labels["severity"]
				if severity != "critical" && severity != "warning" && severity != "info" {
					t.Errorf("%s: severity %q, want critical, warning or info", where, severity)
				}
				if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Errorf("%s: needs summary and description annotations", where)
				}
				key := r.Alert + "/" + severity
				if alerts[key] {
					t.Errorf("%s: alert repeated with the same severity", where)
				}
				alerts[key] = true
			}
			refs = append(refs, references(r.Expr, where)...)
			checkGrouping(t, metrics, r.Expr, "", where)
		}
	}
	// The alerts the runbooks promise.
	for _, name := range []string{
		"FhirPepNTNManifestOld/warning", "FhirPepNTNManifestOld/critical", "FhirPepNTNRefreshFailing/warning",
		"FhirPepIntrospectionErrors/warning", "FhirPepPCMTokenRefreshFailing/warning",
		"FhirPepFailClosedSpike/critical", "FhirPepDenySpike/warning", "FhirPepAuditDropped/critical",
	} {
		if !alerts[name] {
			t.Errorf("%s: alert %s is missing", alertsFile, name)
		}
	}

	// The promtool unit tests feed series that must exist too.
	tests, err := os.ReadFile(alertTestsFile)
	if err != nil {
		t.Fatal(err)
	}
	var parsed map[string]any
	if err := yaml.Unmarshal(tests, &parsed); err != nil {
		t.Fatalf("%s is not valid YAML: %v", alertTestsFile, err)
	}
	refs = append(refs, references(string(tests), alertTestsFile)...)
	checkReferences(t, metrics, refs)
}

func TestMetricNamesDashboard(t *testing.T) {
	metrics := pluginMetrics(t)
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Inputs []struct {
			Name     string `json:"name"`
			PluginID string `json:"pluginId"`
		} `json:"__inputs"`
		UID        string      `json:"uid"`
		Title      string      `json:"title"`
		Panels     []dashPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string         `json:"name"`
				Datasource map[string]any `json:"datasource"`
				Definition string         `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("dashboard needs a uid and a title")
	}
	if len(dash.Inputs) != 1 || dash.Inputs[0].Name != "DS_PROMETHEUS" || dash.Inputs[0].PluginID != "prometheus" {
		t.Errorf("dashboard __inputs must declare exactly DS_PROMETHEUS (prometheus): %+v", dash.Inputs)
	}
	const ds = "${DS_PROMETHEUS}"

	var refs []reference
	ids := map[int]string{}
	var walk func([]dashPanel)
	walk = func(panels []dashPanel) {
		for _, p := range panels {
			where := fmt.Sprintf("%s: panel %d %q", dashboardFile, p.ID, p.Title)
			if p.ID <= 0 {
				t.Errorf("%s: panel id must be a positive integer", where)
			} else if other, dup := ids[p.ID]; dup {
				t.Errorf("%s: id also used by %q", where, other)
			}
			ids[p.ID] = p.Title
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource.UID != ds {
				t.Errorf("%s: datasource uid %q, want %s", where, p.Datasource.UID, ds)
			}
			if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%s: bad gridPos %+v", where, p.GridPos)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no targets", where)
			}
			refIDs := map[string]bool{}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" || refIDs[tg.RefID] {
					t.Errorf("%s: target %q needs an expr and a unique refId", where, tg.RefID)
				}
				refIDs[tg.RefID] = true
				if tg.Datasource.UID != "" && tg.Datasource.UID != ds {
					t.Errorf("%s: target datasource uid %q, want %s", where, tg.Datasource.UID, ds)
				}
				refs = append(refs, references(tg.Expr, where)...)
				checkGrouping(t, metrics, tg.Expr, tg.LegendFormat, where)
			}
		}
	}
	walk(dash.Panels)
	if len(ids) == 0 {
		t.Fatalf("%s has no panels", dashboardFile)
	}
	for _, v := range dash.Templating.List {
		if v.Datasource != nil && v.Datasource["uid"] != ds {
			t.Errorf("%s: variable %s datasource %v, want %s", dashboardFile, v.Name, v.Datasource["uid"], ds)
		}
		refs = append(refs, references(v.Definition, dashboardFile+": variable "+v.Name)...)
	}
	// Names in descriptions and anywhere else in the file must exist too.
	refs = append(refs, references(string(raw), dashboardFile)...)
	checkReferences(t, metrics, refs)

	// Every family the plugin exports has a panel.
	shown := map[string]bool{}
	for _, r := range refs {
		if family, problem := resolve(metrics, r.name); problem == "" {
			shown[family] = true
		}
	}
	for _, name := range sortedKeys(metrics) {
		if !shown[name] {
			t.Errorf("%s: metric %s is on no panel", dashboardFile, name)
		}
	}
}

type dashPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	} `json:"gridPos"`
	Targets []struct {
		RefID        string `json:"refId"`
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
		Datasource   struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

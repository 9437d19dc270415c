package monitoring

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// monitoringDir holds the dashboard and the rules, relative to this package.
const monitoringDir = "../../deploy/monitoring"

// ruleGroups reads the groups of a rules file.
type ruleGroups struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// queries returns the PromQL expressions of alerts.yaml and dashboard.json,
// each with where it comes from.
func queries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	raw, err := os.ReadFile(filepath.Join(monitoringDir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules ruleGroups
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out[r.Expr] = "alert " + r.Alert
		}
	}
	raw, err = os.ReadFile(filepath.Join(monitoringDir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	// Every "expr" of a panel target and the first argument of a
	// templating label_values() query.
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*\w+\)$`)
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch v := v.(type) {
		case map[string]any:
			if title, ok := v["title"].(string); ok {
				where = "panel " + title
			}
			for k, e := range v {
				s, isString := e.(string)
				switch {
				case k == "expr" && isString:
					out[s] = where
				case k == "definition" && isString:
					if m := labelValues.FindStringSubmatch(s); m != nil {
						out[m[1]] = "variable query"
					}
				default:
					walk(e, where)
				}
			}
		case []any:
			for _, e := range v {
				walk(e, where)
			}
		}
	}
	walk(dash, "dashboard")
	if len(out) < 20 {
		t.Fatalf("found %d queries in the dashboard and rules; the reader lost some", len(out))
	}
	return out
}

// TestDashboardAndRulesMatchScrape: every metric the dashboard and the
// alert rules query is exposed by the frontend or the record service.
func TestDashboardAndRulesMatchScrape(t *testing.T) {
	r := startWithTraffic(t)
	// The names the dashboard and rules may query that no scrape of a
	// binary shows, and why.
	notScraped := map[string]string{
		"up": "made by Prometheus for every target",
		// Its children are made on the first refusal, which needs mutual
		// TLS and a policy (test/hardening provokes it); a plaintext
		// loopback record service trusts every caller.
		"clusterdns_recordsvc_denied_total": "made on the first PERMISSION_DENIED",
	}
	exposed := map[string]bool{}
	for _, m := range []map[string]float64{r.frontend, r.recordsvc} {
		for sample := range m {
			name, _, _ := strings.Cut(sample, "{")
			exposed[name] = true
		}
	}
	used := map[string]bool{}
	for expr, where := range queries(t) {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, name := range names {
			used[name] = true
			if !exposed[name] && notScraped[name] == "" {
				t.Errorf("%s queries %s, which neither binary exposes (in %q)", where, name, expr)
			}
		}
	}
	for name := range notScraped {
		if !used[name] {
			t.Errorf("notScraped lists %s, which nothing queries", name)
		}
	}
	t.Logf("%d metric names queried, all exposed", len(used))
}

// TestPrometheusRuleMatchesAlerts: the operator's PrometheusRule carries
// the groups of alerts.yaml unchanged.
func TestPrometheusRuleMatchesAlerts(t *testing.T) {
	read := func(name string) map[string]any {
		raw, err := os.ReadFile(filepath.Join(monitoringDir, name))
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yaml.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}
	plain := read("alerts.yaml")
	rule := read("operator/prometheusrule.yaml")
	spec, _ := rule["spec"].(map[string]any)
	if plain["groups"] == nil || !reflect.DeepEqual(plain["groups"], spec["groups"]) {
		t.Error("operator/prometheusrule.yaml's spec.groups differ from alerts.yaml's groups: edit both together")
	}
}

// TestAlertRulesPromtool checks alerts.yaml and runs its unit tests with
// promtool (Debian's prometheus package). Without promtool it fails under
// CI=true and is skipped elsewhere.
func TestAlertRulesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (apt-get install prometheus); CI must run the rule tests")
		}
		t.Skip("promtool is not installed (apt-get install prometheus): rule checks skipped")
	}
	for _, args := range [][]string{
		{"check", "rules", "alerts.yaml"},
		{"test", "rules", "alerts_test.yaml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = monitoringDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		t.Logf("promtool %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
	}
	// Every alert of alerts.yaml is exercised by alerts_test.yaml.
	raw, err := os.ReadFile(filepath.Join(monitoringDir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules ruleGroups
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(monitoringDir, "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if !slices.Contains(strings.Fields(string(tests)), r.Alert) {
				t.Errorf("alert %s has no case in alerts_test.yaml", r.Alert)
			}
		}
	}
}

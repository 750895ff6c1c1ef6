package integration

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
)

// After an autonomous payment, an approved one and one the gate denies,
// the worker's /metrics carries our KPIs with the right values beside the
// Temporal SDK's own series.
func TestMetricsEndpoint(t *testing.T) {
	s := stack.Start(t, stack.Options{Metrics: true})
	if s.MetricsURL == "" {
		t.Fatal("stack started with Metrics has no MetricsURL")
	}

	// Autonomous: below the threshold, nobody is asked.
	if res := result(t, s, start(t, s, sandbox.InvoiceHappyPath)); res.Outcome != vendorpayment.OutcomePaid {
		t.Fatalf("%s: outcome %s (%s)", sandbox.InvoiceHappyPath, res.Outcome, res.Reason)
	}

	// With a person: the gate asks for a finance manager, maria approves.
	maria := s.PersonKey(t, "maria")
	run := start(t, s, sandbox.InvoiceMedium)
	st := awaiting(t, s, run.GetID(), "maria")
	if err := client.Approve(context.Background(), s.Temporal, run.GetID(), vendorpayment.ApprovalRequest{
		Decision: "approve", Approver: "maria", ActionDigest: st.ActionDigest,
		Proof: stack.Sign(t, maria, proof.MethodKey, "maria", "approve", approvalsOf(t, s, run.GetID()))}); err != nil {
		t.Fatal(err)
	}
	if res := result(t, s, run); res.Outcome != vendorpayment.OutcomePaid {
		t.Fatalf("%s: outcome %s (%s)", sandbox.InvoiceMedium, res.Outcome, res.Reason)
	}

	// Denied: a policy no approval lifts, added to the live policy folder.
	freeze := `@id("test.freeze")
@message("payments frozen for the test")
forbid (principal, action == Action::"vendor_payment.release", resource);
`
	if err := os.WriteFile(filepath.Join(s.PolicyDir, "freeze.cedar"), []byte(freeze), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := result(t, s, start(t, s, sandbox.InvoiceLarge)); res.Outcome != vendorpayment.OutcomeDenied {
		t.Fatalf("%s: outcome %s (%s), want denied", sandbox.InvoiceLarge, res.Outcome, res.Reason)
	}

	// The SDK counts a completed workflow after answering its last task,
	// which can be just after the client saw the result: scrape until the
	// three completions are counted (or give up and let the checks say).
	series := scrape(t, s.MetricsURL)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if series.sum("temporal_workflow_completed_total", map[string]string{"workflow_type": vendorpayment.VendorPaymentWorkflow}) >= 3 {
			break
		}
		series = scrape(t, s.MetricsURL)
	}
	vp := map[string]string{"process": vendorpayment.ProcessName}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range vp {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"autonomous payment", "eo_actions_completed_total", with(map[string]string{"outcome": "paid", "autonomous": "true"}), 1},
		{"approved payment", "eo_actions_completed_total", with(map[string]string{"outcome": "paid", "autonomous": "false"}), 1},
		{"denied without people", "eo_actions_completed_total", with(map[string]string{"outcome": "denied", "autonomous": "true"}), 1},
		{"released", "eo_payments_released_total", vp, 2},
		{"verified", "eo_payments_verified_total", vp, 2},
		{"one approval waited for", "eo_time_to_approval_seconds_count", with(map[string]string{"decision": "approve"}), 1},
		{"approval asked for by the threshold", "eo_gate_denials_total", map[string]string{"policy": "autonomy.threshold", "needs_approval": "true"}, 2},
		{"hard denial by policy", "eo_gate_denials_total", map[string]string{"policy": "test.freeze", "needs_approval": "false"}, 1},
		{"no exceptions", "eo_exceptions_total", nil, 0},
		{"no verification failures", "eo_verification_failures_total", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := series.sum(tc.metric, tc.labels); got != tc.want {
				t.Errorf("%s%v = %v, want %v\n%s", tc.metric, tc.labels, got, tc.want, series.lines("eo_"))
			}
		})
	}
	// The Temporal SDK's own metrics come through the same pipeline.
	for _, name := range []string{"temporal_workflow_completed_total", "temporal_activity_execution_latency_seconds_count", "temporal_request_total"} {
		if series.sum(name, map[string]string{"workflow_type": vendorpayment.VendorPaymentWorkflow}) == 0 && series.sum(name, nil) == 0 {
			t.Errorf("no %s series:\n%s", name, series.lines("temporal_"))
		}
	}
	if got := series.sum("temporal_workflow_completed_total", map[string]string{"workflow_type": vendorpayment.VendorPaymentWorkflow}); got != 3 {
		t.Errorf("temporal_workflow_completed_total{workflow_type=VendorPayment} = %v, want 3", got)
	}
	// Bounded labels: no invoice, payment or workflow id in any eo_ series.
	for _, line := range strings.Split(series.lines("eo_"), "\n") {
		if strings.Contains(line, "INV-") || strings.Contains(line, "PAY-") || strings.Contains(line, "vendor-payment-") {
			t.Errorf("unbounded label value in %s", line)
		}
	}
}

// exposition is a scraped Prometheus text page.
type exposition []sample

type sample struct {
	name   string
	labels map[string]string
	value  float64
	line   string
}

var (
	sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)`)
	labelRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

func scrape(t *testing.T, url string) exposition {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	var out exposition
	for _, line := range strings.Split(string(body), "\n") {
		m := sampleRE.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("bad sample %q: %v", line, err)
		}
		labels := map[string]string{}
		for _, l := range labelRE.FindAllStringSubmatch(m[2], -1) {
			labels[l[1]] = l[2]
		}
		out = append(out, sample{name: m[1], labels: labels, value: v, line: line})
	}
	return out
}

// sum adds the samples of name whose labels include labels.
func (e exposition) sum(name string, labels map[string]string) float64 {
	var total float64
	for _, s := range e {
		if s.name != name {
			continue
		}
		ok := true
		for k, v := range labels {
			if s.labels[k] != v {
				ok = false
			}
		}
		if ok {
			total += s.value
		}
	}
	return total
}

func (e exposition) lines(prefix string) string {
	var out []string
	for _, s := range e {
		if strings.HasPrefix(s.name, prefix) {
			out = append(out, s.line)
		}
	}
	return strings.Join(out, "\n")
}

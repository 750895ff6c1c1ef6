package process_test

import (
	"testing"
	"time"

	tclient "go.temporal.io/sdk/client"

	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/telemetry/metricstest"
)

// Each helper records one series under its name with exactly the bounded
// labels the docs and alert rules use.
func TestRecordHelpers(t *testing.T) {
	tests := []struct {
		name   string
		record func(h tclient.MetricsHandler)
		metric string
		labels map[string]string
		timer  bool
	}{
		{"completed autonomously", func(h tclient.MetricsHandler) { process.RecordCompleted(h, "vendor-payment", "paid", true) },
			process.MetricActionsCompleted, map[string]string{"process": "vendor-payment", "outcome": "paid", "autonomous": "true"}, false},
		{"completed with people", func(h tclient.MetricsHandler) { process.RecordCompleted(h, "vendor-payment", "rejected", false) },
			process.MetricActionsCompleted, map[string]string{"process": "vendor-payment", "outcome": "rejected", "autonomous": "false"}, false},
		{"time to approval", func(h tclient.MetricsHandler) {
			process.RecordTimeToApproval(h, "vendor-payment", "approve", time.Hour)
		}, process.MetricTimeToApproval, map[string]string{"process": "vendor-payment", "decision": "approve"}, true},
		{"exception", func(h tclient.MetricsHandler) {
			process.RecordException(h, "vendor-payment", process.ExceptionNotSettled)
		},
			process.MetricExceptions, map[string]string{"process": "vendor-payment", "reason": "not_settled"}, false},
		{"gate denial", func(h tclient.MetricsHandler) { process.RecordGateDenial(h, "payment.window", false) },
			process.MetricGateDenials, map[string]string{"policy": "payment.window", "needs_approval": "false"}, false},
		{"verification failure", func(h tclient.MetricsHandler) {
			process.RecordVerificationFailure(h, "vendor-payment", process.VerificationDelivery)
		}, process.MetricVerificationFailures, map[string]string{"process": "vendor-payment", "kind": "delivery"}, false},
		{"released", func(h tclient.MetricsHandler) { process.RecordPaymentReleased(h, "vendor-payment") },
			process.MetricPaymentsReleased, map[string]string{"process": "vendor-payment"}, false},
		{"verified", func(h tclient.MetricsHandler) { process.RecordPaymentVerified(h, "vendor-payment") },
			process.MetricPaymentsVerified, map[string]string{"process": "vendor-payment"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := metricstest.New(t)
			tc.record(rec.Handler())
			if tc.timer {
				if n, sum := rec.Histogram(t, tc.metric, tc.labels); n != 1 || sum != 3600 {
					t.Errorf("%s%v: count %d sum %v, want 1 and 3600", tc.metric, tc.labels, n, sum)
				}
			} else if got := rec.Counter(t, tc.metric, tc.labels); got != 1 {
				t.Errorf("%s%v = %d, want 1", tc.metric, tc.labels, got)
			}
			sets := rec.Labels(t, tc.metric)
			if len(sets) != 1 || len(sets[0]) != len(tc.labels) {
				t.Errorf("%s label sets %v, want exactly %v", tc.metric, sets, tc.labels)
			}
		})
	}
}

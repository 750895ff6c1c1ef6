package vendorpayment

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/telemetry/metricstest"
)

// The workflow records what it knows at the point it knows it: released,
// settled, what could not be verified, what it escalated, and how the
// action ended with or without people. Every counter not listed in want
// must stay zero.
func TestWorkflowMetrics(t *testing.T) {
	inv := bigInvoice()
	type series struct {
		metric string
		labels map[string]string
	}
	completed := func(outcome string, autonomous bool) series {
		a := "false"
		if autonomous {
			a = "true"
		}
		return series{process.MetricActionsCompleted, map[string]string{"process": ProcessName, "outcome": outcome, "autonomous": a}}
	}
	exception := func(reason string) series {
		return series{process.MetricExceptions, map[string]string{"process": ProcessName, "reason": reason}}
	}
	verification := func(kind string) series {
		return series{process.MetricVerificationFailures, map[string]string{"process": ProcessName, "kind": kind}}
	}
	released := series{process.MetricPaymentsReleased, map[string]string{"process": ProcessName}}
	verified := series{process.MetricPaymentsVerified, map[string]string{"process": ProcessName}}
	all := []series{
		completed(OutcomePaid, true), completed(OutcomePaid, false), completed(OutcomeFailed, false), completed(OutcomeFailed, true),
		completed(OutcomeDenied, true), completed(OutcomeRejected, false),
		exception(process.ExceptionNotSettled), exception(process.ExceptionVendorNotNotified), exception(process.ExceptionGateUndecidable),
		exception(process.ExceptionReleaseFailed), exception(process.ExceptionReleaseDenied),
		verification(process.VerificationSettlement), verification(process.VerificationDelivery), released, verified,
	}
	tests := []struct {
		name   string
		modify func(f *fakeActivities)
		in     VendorPaymentInput
		// decide approves (or rejects) as maria after an hour.
		decide string
		want   []series
	}{
		{name: "autonomous payment", want: []series{completed(OutcomePaid, true), released, verified}},
		{name: "approved payment is not autonomous", in: personInput, decide: DecisionApprove,
			modify: func(f *fakeActivities) { f.invoices, f.plan = []erp.Invoice{inv}, fmPlan },
			want:   []series{completed(OutcomePaid, false), released, verified}},
		{name: "rejected payment", in: personInput, decide: DecisionReject,
			modify: func(f *fakeActivities) { f.invoices, f.plan = []erp.Invoice{inv}, fmPlan },
			want:   []series{completed(OutcomeRejected, false)}},
		{name: "never settles", modify: func(f *fakeActivities) { f.settleAfter = -1 },
			want: []series{completed(OutcomeFailed, false), released, verification(process.VerificationSettlement), exception(process.ExceptionNotSettled)}},
		{name: "vendor email undelivered", modify: func(f *fakeActivities) { f.undelivered = true },
			want: []series{completed(OutcomeFailed, false), released, verified, verification(process.VerificationDelivery), exception(process.ExceptionVendorNotNotified)}},
		{name: "gate undecidable", modify: func(f *fakeActivities) {
			f.gateErr = temporal.NewNonRetryableApplicationError("undecidable", ErrTypeGateUndecidable, nil)
		}, want: []series{completed(OutcomeFailed, false), exception(process.ExceptionGateUndecidable)}},
		{name: "release refused by the gate at the side effect", modify: func(f *fakeActivities) {
			f.releaseErr = temporal.NewNonRetryableApplicationError("gate denies", ErrTypeGateDenied, nil)
		}, want: []series{completed(OutcomeFailed, false), exception(process.ExceptionReleaseDenied)}},
		{name: "release fails", modify: func(f *fakeActivities) {
			f.releaseErr = temporal.NewNonRetryableApplicationError("treasury refused", "Conflict", nil)
		}, want: []series{completed(OutcomeFailed, false), exception(process.ExceptionReleaseFailed)}},
		{name: "hard gate deny ends without people", modify: func(f *fakeActivities) {
			f.gateDeny = []gate.Reason{{PolicyID: "payment.window"}}
		}, want: []series{completed(OutcomeDenied, true)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			if tc.modify != nil {
				tc.modify(f)
			}
			in := tc.in
			if in.InvoiceID == "" {
				in = validInput
			}
			rec := metricstest.New(t)
			_, _, err := runVPMetrics(t, f, in, rec.Handler(), func(env *testsuite.TestWorkflowEnvironment) {
				if tc.decide != "" {
					d := digestOf(t, inv, testVendor)
					schedule(t, env, f, []decision{{at: time.Hour, req: ApprovalRequest{Decision: tc.decide, Approver: "maria", ActionDigest: d}}})
				}
			})
			require.NoError(t, err)
			for _, s := range all {
				want := int64(0)
				for _, w := range tc.want {
					if w.metric == s.metric && assert.ObjectsAreEqual(w.labels, s.labels) {
						want = 1
					}
				}
				assert.Equal(t, want, rec.Counter(t, s.metric, s.labels), "%s%v", s.metric, s.labels)
			}
			n, _ := rec.Histogram(t, process.MetricTimeToApproval, map[string]string{"process": ProcessName})
			wantN := uint64(0)
			if tc.decide != "" {
				wantN = 1
			}
			assert.Equal(t, wantN, n, "time to approval")
		})
	}
}

// admit counts each deny reason by policy id, marking the ones approvals
// lift; a permit counts nothing.
func TestGateDenialMetrics(t *testing.T) {
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		modify func(g *gateFixture)
		want   map[string]int64 // policy id -> denials (all needs_approval)
	}{
		{name: "big payment", want: map[string]int64{"autonomy.threshold": 1, "vendor.daily-cap": 1}},
		{name: "small payment is permitted", modify: func(g *gateFixture) {
			g.erp.invoice.AmountMinor, g.pay.AmountMinor = 120000, 120000
			d, err := action.Digest(g.pay)
			require.NoError(t, err)
			g.digest = d
		}, want: map[string]int64{"autonomy.threshold": 0, "vendor.daily-cap": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateFixture(t, now)
			if tc.modify != nil {
				tc.modify(g)
			}
			rec := metricstest.New(t)
			var suite testsuite.WorkflowTestSuite
			suite.SetMetricsHandler(rec.Handler())
			env := suite.NewTestActivityEnvironment()
			env.RegisterActivity(g.a.EvaluateGate)
			_, err := env.ExecuteActivity(g.a.EvaluateGate, GateRequest{Action: g.pay, ActionDigest: g.digest, RequestedBy: "ana"})
			require.NoError(t, err)
			for policy, want := range tc.want {
				assert.Equal(t, want, rec.Counter(t, process.MetricGateDenials, map[string]string{"policy": policy, "needs_approval": "true"}), policy)
			}
			var total int64
			for _, labels := range rec.Labels(t, process.MetricGateDenials) {
				total += rec.Counter(t, process.MetricGateDenials, labels)
			}
			var wantTotal int64
			for _, n := range tc.want {
				wantTotal += n
			}
			assert.Equal(t, wantTotal, total, "no other denials")
		})
	}
}

package web

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/audit"
)

func TestComputeKPIs(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	to := from.Add(3 * day)
	at := func(d int, h int) time.Time { return from.Add(time.Duration(d)*day + time.Duration(h)*time.Hour) }
	e := func(seq int64, kind audit.Kind, when time.Time, data any) audit.Entry {
		return entry(t, seq, kind, when, "system", string(kind), data)
	}
	outcome := func(seq int64, when time.Time, autonomous bool) audit.Entry {
		return e(seq, audit.KindOutcome, when, audit.OutcomeData{Outcome: "paid", Autonomous: autonomous})
	}
	approval := func(seq int64, when time.Time, waited float64) audit.Entry {
		return e(seq, audit.KindApproval, when, audit.ApprovalData{Decision: "approve", WaitedSeconds: waited})
	}
	exception := func(seq int64, when time.Time, reason string) audit.Entry {
		return e(seq, audit.KindException, when, audit.ExceptionData{Reason: reason})
	}
	gate := func(seq int64, when time.Time, permit bool, reasons ...audit.GateReason) audit.Entry {
		return e(seq, audit.KindGate, when, audit.GateData{Permit: permit, Reasons: reasons})
	}
	verification := func(seq int64, when time.Time, what string, ok bool) audit.Entry {
		return e(seq, audit.KindVerification, when, audit.VerificationData{What: what, Verified: ok})
	}
	sideEffect := func(seq int64, when time.Time, system, op string) audit.Entry {
		return e(seq, audit.KindSideEffect, when, audit.SideEffectData{System: system, Operation: op})
	}
	threshold := audit.GateReason{Policy: "autonomy.threshold", Approval: true}
	window := audit.GateReason{Policy: "payment.window"}

	tests := []struct {
		name    string
		entries []audit.Entry
		check   func(t *testing.T, r KPIReport)
	}{
		{"empty window", nil, func(t *testing.T, r KPIReport) {
			require.Len(t, r.Buckets, 3)
			for _, b := range r.Buckets {
				_, ok := b.AutonomyRate()
				assert.False(t, ok, "no outcomes, no rate")
				assert.Zero(t, b.SLABreaches)
			}
			assert.Empty(t, r.Recent)
		}},
		{"autonomy rate per bucket", []audit.Entry{
			outcome(1, at(0, 1), true), outcome(2, at(0, 2), false), outcome(3, at(0, 3), true), outcome(4, at(0, 4), true),
			outcome(5, at(2, 1), false),
		}, func(t *testing.T, r KPIReport) {
			rate, ok := r.Buckets[0].AutonomyRate()
			require.True(t, ok)
			assert.InDelta(t, 0.75, rate, 1e-9)
			_, ok = r.Buckets[1].AutonomyRate()
			assert.False(t, ok)
			rate, _ = r.Buckets[2].AutonomyRate()
			assert.Zero(t, rate)
			rate, _ = r.Total.AutonomyRate()
			assert.InDelta(t, 0.6, rate, 1e-9)
			assert.Equal(t, 5, r.Total.Outcomes)
			assert.Equal(t, 3, r.Total.Autonomous)
		}},
		{"time to approval: median and p90, nearest rank", []audit.Entry{
			approval(1, at(1, 0), 60), approval(2, at(1, 1), 600), approval(3, at(1, 2), 120), approval(4, at(1, 3), 3600),
			approval(5, at(1, 4), 30), approval(6, at(1, 5), 300), approval(7, at(1, 6), 240), approval(8, at(1, 7), 180),
			approval(9, at(1, 8), 90), approval(10, at(1, 9), 7200),
		}, func(t *testing.T, r KPIReport) {
			b := r.Buckets[1]
			assert.Equal(t, 10, b.Approvals)
			// sorted: 30 60 90 120 180 240 300 600 3600 7200
			assert.Equal(t, 180*time.Second, b.MedianWait)
			assert.Equal(t, 3600*time.Second, b.P90Wait)
			assert.Zero(t, r.Buckets[0].MedianWait)
		}},
		{"one approval", []audit.Entry{approval(1, at(0, 0), 42)}, func(t *testing.T, r KPIReport) {
			assert.Equal(t, 42*time.Second, r.Total.MedianWait)
			assert.Equal(t, 42*time.Second, r.Total.P90Wait)
		}},
		{"exceptions by reason; SLA breaches are exceptions too", []audit.Entry{
			exception(1, at(0, 1), "not_settled"), exception(2, at(0, 2), "not_settled"), exception(3, at(1, 1), "release_failed"),
			exception(4, at(2, 1), "sla_approval"), exception(5, at(2, 2), ""),
		}, func(t *testing.T, r KPIReport) {
			assert.Equal(t, map[string]int{"not_settled": 2}, r.Buckets[0].Exceptions)
			assert.Equal(t, 5, r.Total.ExceptionsTotal())
			assert.Equal(t, []string{"not_settled", "release_failed", "sla_approval", "unknown"}, r.Reasons)
			assert.Equal(t, 1, r.Total.SLABreaches)
			assert.Equal(t, 1, r.Buckets[2].SLABreaches)
			// Newest first.
			require.Len(t, r.Recent, 5)
			assert.Equal(t, int64(5), r.Recent[0].Seq)
			assert.Equal(t, int64(1), r.Recent[4].Seq)
		}},
		{"gate denials by policy, needs-approval and hard; permits count nothing", []audit.Entry{
			gate(1, at(0, 1), false, threshold), gate(2, at(0, 2), false, threshold, window), gate(3, at(0, 3), true),
			gate(4, at(1, 1), false, audit.GateReason{Policy: "evaluation_error"}),
		}, func(t *testing.T, r KPIReport) {
			assert.Equal(t, 2, r.Buckets[0].Denials[DenialKey{"autonomy.threshold", true}])
			assert.Equal(t, 1, r.Buckets[0].Denials[DenialKey{"payment.window", false}])
			assert.Equal(t, 2, r.Total.DenialsNeedApproval)
			assert.Equal(t, 2, r.Total.DenialsHard)
			assert.Equal(t, []DenialKey{{"autonomy.threshold", true}, {"evaluation_error", false}, {"payment.window", false}}, r.Policies)
			assert.Equal(t, "autonomy.threshold (needs approval)", r.Policies[0].Label())
			assert.Equal(t, "payment.window (hard)", r.Policies[2].Label())
		}},
		{"payments released and verified; verification failures", []audit.Entry{
			sideEffect(1, at(0, 1), "treasury", "release"), sideEffect(2, at(0, 2), "email", "send"), sideEffect(3, at(0, 3), "erp", "mark_paid"),
			verification(4, at(0, 4), "settlement", true), verification(5, at(0, 5), "delivery", true),
			verification(6, at(1, 1), "settlement", false), verification(7, at(1, 2), "delivery", false),
		}, func(t *testing.T, r KPIReport) {
			assert.Equal(t, 1, r.Buckets[0].PaymentsReleased)
			assert.Equal(t, 1, r.Buckets[0].PaymentsVerified)
			assert.Zero(t, r.Buckets[0].VerificationFailures)
			assert.Equal(t, 2, r.Buckets[1].VerificationFailures)
			assert.Zero(t, r.Buckets[1].PaymentsVerified)
		}},
		{"entries outside the window, and unreadable ones, count in nothing", func() []audit.Entry {
			bad := outcome(3, at(0, 1), true)
			bad.Event.Data = json.RawMessage(`{"autonomous":"yes"}`)
			none := outcome(4, at(0, 2), true)
			none.Event.Data = nil
			return []audit.Entry{outcome(1, from.Add(-time.Second), true), outcome(2, to, true), bad, none, outcome(5, to.Add(-time.Nanosecond), true)}
		}(), func(t *testing.T, r KPIReport) {
			assert.Equal(t, 1, r.Total.Outcomes)
			assert.Equal(t, 1, r.Buckets[2].Outcomes)
			assert.Equal(t, 2, r.Unreadable)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, ComputeKPIs(tt.entries, from, to, day))
		})
	}
}

func TestRecentExceptionsAreCapped(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var es []audit.Entry
	for i := range 30 {
		es = append(es, entry(t, int64(i+1), audit.KindException, from.Add(time.Duration(i)*time.Minute), "system", "x", audit.ExceptionData{Reason: "not_settled"}))
	}
	r := ComputeKPIs(es, from, from.Add(time.Hour), time.Hour)
	require.Len(t, r.Recent, recentExceptions)
	assert.Equal(t, int64(30), r.Recent[0].Seq)
	assert.Equal(t, 30, r.Total.Exceptions["not_settled"])
}

func TestKPIRange(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 12, 0, 0, time.UTC)
	from, to := kpiRange(now, 7*24*time.Hour, 24*time.Hour)
	assert.Equal(t, time.Date(2026, 2, 24, 0, 0, 0, 0, time.UTC), from)
	assert.Equal(t, time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC), to)
	from, to = kpiRange(now, 24*time.Hour, time.Hour)
	assert.Equal(t, time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC), from)
	assert.Equal(t, time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC), to)
	assert.Len(t, ComputeKPIs(nil, from, to, time.Hour).Buckets, 24)
}

func TestChartData(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	es := []audit.Entry{
		entry(t, 1, audit.KindOutcome, from.Add(time.Hour), "system", "o", audit.OutcomeData{Autonomous: true}),
		entry(t, 2, audit.KindOutcome, from.Add(2*time.Hour), "system", "o", audit.OutcomeData{}),
		entry(t, 3, audit.KindOutcome, from.Add(3*time.Hour), "system", "o", audit.OutcomeData{}),
		entry(t, 4, audit.KindApproval, from.Add(time.Hour), "maria", "a", audit.ApprovalData{WaitedSeconds: 90}),
	}
	c := chartDataOf(ComputeKPIs(es, from, from.Add(48*time.Hour), 24*time.Hour), 24*time.Hour)
	assert.Equal(t, []string{"Sun Mar 1", "Mon Mar 2"}, c.Labels)
	require.NotNil(t, c.Autonomy[0])
	assert.InDelta(t, 33.3, *c.Autonomy[0], 1e-9)
	assert.Nil(t, c.Autonomy[1], "no outcomes: a gap, not 0%")
	assert.InDelta(t, 1.5, *c.ApprovalMedian[0], 1e-9)
	assert.Nil(t, c.ApprovalP90[1])
	assert.Equal(t, 0.0, *c.SLABreaches[1], "SLA breaches: an empty series of zeros")
	raw, err := json.Marshal(c)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"exceptions":[]`)
}

package integration

import (
	"context"
	"testing"
	"time"

	tclient "go.temporal.io/sdk/client"

	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
)

// The overdue-invoice detector Schedule, created twice (setup is
// idempotent) and triggered, starts a VendorPayment for every overdue
// invoice; a second run starts nothing new and pays nothing twice.
func TestDetectorScheduleStartsPayments(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for range 2 {
		if err := vendorpayment.EnsureDetectorSchedule(ctx, s.Temporal, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	h := s.Temporal.ScheduleClient().GetHandle(ctx, vendorpayment.OverdueDetectorScheduleID)
	desc, err := h.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.Schedule.Spec.Intervals; len(got) != 1 || got[0].Every != time.Hour {
		t.Fatalf("schedule intervals = %+v", got)
	}

	trigger := func() vendorpayment.DetectorResult {
		t.Helper()
		before := desc.Info.NumActions
		if err := h.Trigger(ctx, tclient.ScheduleTriggerOptions{}); err != nil {
			t.Fatal(err)
		}
		for {
			d, err := h.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d.Info.NumActions > before && len(d.Info.RecentActions) > 0 {
				desc = d
				last := d.Info.RecentActions[len(d.Info.RecentActions)-1].StartWorkflowResult
				var res vendorpayment.DetectorResult
				if err := s.Temporal.GetWorkflow(ctx, last.WorkflowID, last.FirstExecutionRunID).Get(ctx, &res); err != nil {
					t.Fatal(err)
				}
				return res
			}
			select {
			case <-ctx.Done():
				t.Fatal("schedule never ran")
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	first := trigger()
	overdue := []string{sandbox.InvoiceHappyPath, sandbox.InvoiceLarge, sandbox.InvoiceMedium, sandbox.InvoiceBankMismatch, sandbox.InvoiceUnscheduled}
	if len(first.Overdue) != len(overdue) || len(first.Started) != len(overdue) {
		t.Fatalf("first run = %+v, want all of %v started", first, overdue)
	}
	paid, err := vendorpayment.GetResult(ctx, s.Temporal, vendorpayment.VendorPaymentID(sandbox.InvoiceHappyPath))
	if err != nil {
		t.Fatal(err)
	}
	paidChecks(t, s, sandbox.InvoiceHappyPath, paid)
	// The Schedule's starts carry the worker's proof: the requester is
	// verified, not claimed.
	if st, err := vendorpayment.QueryStatus(ctx, s.Temporal, vendorpayment.VendorPaymentID(sandbox.InvoiceHappyPath)); err != nil || !st.RequesterVerified {
		t.Errorf("detector-started payment: requesterVerified = %v (%v), want true", st.RequesterVerified, err)
	}
	mismatch, err := vendorpayment.GetResult(ctx, s.Temporal, vendorpayment.VendorPaymentID(sandbox.InvoiceBankMismatch))
	if err != nil || mismatch.Outcome != vendorpayment.OutcomeBankDetailsMismatch {
		t.Fatalf("bank mismatch invoice: %+v %v", mismatch, err)
	}

	// INV-1042 is paid now, so no longer overdue; finished ones are not
	// restarted; the waiting ones are joined, not duplicated.
	second := trigger()
	for _, id := range second.Started {
		if id == vendorpayment.VendorPaymentID(sandbox.InvoiceHappyPath) {
			t.Errorf("second run restarted the paid invoice: %+v", second)
		}
	}
	if len(second.Finished) == 0 {
		t.Errorf("second run saw no finished payments: %+v", second)
	}
	onePayment(t, s, sandbox.InvoiceHappyPath)
}

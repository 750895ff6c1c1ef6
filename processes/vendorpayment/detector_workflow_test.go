package vendorpayment

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

func TestOverdueInvoiceDetector(t *testing.T) {
	tests := []struct {
		name         string
		overdue      []string
		finished     map[string]bool // invoices whose payment already completed
		badID        string
		wantStarted  []string
		wantFinished []string
		wantSkipped  []string
	}{
		{name: "nothing overdue"},
		{name: "starts each overdue invoice", overdue: []string{"INV-1", "INV-2"},
			wantStarted: []string{"vendor-payment-INV-1", "vendor-payment-INV-2"}},
		{name: "skips completed payments", overdue: []string{"INV-1", "INV-2"}, finished: map[string]bool{"INV-1": true},
			wantStarted: []string{"vendor-payment-INV-2"}, wantFinished: []string{"INV-1"}},
		{name: "a bad invoice is skipped once, not retried, and does not stop the others", overdue: []string{"bad id", "INV-2"},
			badID: "bad id", wantStarted: []string{"vendor-payment-INV-2"}, wantSkipped: []string{"bad id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.SetStartTime(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
			var asOf string
			starts := map[string]int{}
			env.RegisterActivityWithOptions(func(_ context.Context, day string) ([]string, error) {
				asOf = day
				return tt.overdue, nil
			}, activity.RegisterOptions{Name: ListOverdueInvoicesActivity})
			env.RegisterActivityWithOptions(func(_ context.Context, in VendorPaymentInput) (StartPaymentOutcome, error) {
				starts[in.InvoiceID]++
				if in.RequestedBy != DetectorRequester {
					return StartPaymentOutcome{}, errors.New("wrong requester " + in.RequestedBy)
				}
				if in.InvoiceID == tt.badID {
					return StartPaymentOutcome{}, temporal.NewNonRetryableApplicationError("invoiceId: bad", "InvalidInput", nil)
				}
				return StartPaymentOutcome{WorkflowID: VendorPaymentID(in.InvoiceID), AlreadyCompleted: tt.finished[in.InvoiceID]}, nil
			}, activity.RegisterOptions{Name: StartVendorPaymentActivity})
			env.ExecuteWorkflow(OverdueInvoiceDetector)
			if !env.IsWorkflowCompleted() {
				t.Fatal("detector did not complete")
			}
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if tt.badID != "" && starts[tt.badID] != 1 {
				t.Errorf("bad invoice started %d times, want 1 (non-retryable)", starts[tt.badID])
			}
			var res DetectorResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if asOf != "2026-11-21" || res.AsOf != asOf {
				t.Errorf("asOf = %q / %q, want the workflow clock's date", asOf, res.AsOf)
			}
			if !slices.Equal(res.Started, tt.wantStarted) || !slices.Equal(res.Finished, tt.wantFinished) {
				t.Errorf("started %v finished %v, want %v %v", res.Started, res.Finished, tt.wantStarted, tt.wantFinished)
			}
			var skipped []string
			for _, sk := range res.Skipped {
				if sk.Reason == "" {
					t.Errorf("skipped %s without a reason", sk.InvoiceID)
				}
				skipped = append(skipped, sk.InvoiceID)
			}
			if !slices.Equal(skipped, tt.wantSkipped) {
				t.Errorf("skipped %v, want %v", skipped, tt.wantSkipped)
			}
		})
	}
}

package workflows

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
		startErr     error
		wantStarted  []string
		wantFinished []string
		wantErr      bool
	}{
		{name: "nothing overdue"},
		{name: "starts each overdue invoice", overdue: []string{"INV-1", "INV-2"},
			wantStarted: []string{"vendor-payment-INV-1", "vendor-payment-INV-2"}},
		{name: "skips completed payments", overdue: []string{"INV-1", "INV-2"}, finished: map[string]bool{"INV-1": true},
			wantStarted: []string{"vendor-payment-INV-2"}, wantFinished: []string{"INV-1"}},
		{name: "bad input is not retried", overdue: []string{"bad id"},
			startErr: temporal.NewNonRetryableApplicationError("invoiceId: bad", "InvalidInput", nil), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.SetStartTime(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
			var asOf string
			starts := 0
			env.RegisterActivityWithOptions(func(_ context.Context, day string) ([]string, error) {
				asOf = day
				return tt.overdue, nil
			}, activity.RegisterOptions{Name: ListOverdueInvoicesActivity})
			env.RegisterActivityWithOptions(func(_ context.Context, in VendorPaymentInput) (StartPaymentOutcome, error) {
				starts++
				if in.RequestedBy != DetectorRequester {
					return StartPaymentOutcome{}, errors.New("wrong requester " + in.RequestedBy)
				}
				if tt.startErr != nil {
					return StartPaymentOutcome{}, tt.startErr
				}
				return StartPaymentOutcome{WorkflowID: VendorPaymentID(in.InvoiceID), AlreadyCompleted: tt.finished[in.InvoiceID]}, nil
			}, activity.RegisterOptions{Name: StartVendorPaymentActivity})
			env.ExecuteWorkflow(OverdueInvoiceDetector)
			if !env.IsWorkflowCompleted() {
				t.Fatal("detector did not complete")
			}
			err := env.GetWorkflowError()
			if tt.wantErr {
				if err == nil || starts != 1 {
					t.Fatalf("err = %v after %d starts, want one non-retried failure", err, starts)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
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
		})
	}
}

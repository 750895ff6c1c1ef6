package vendorpayment

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// OverdueDetectorWorkflow is the type a Temporal Schedule runs periodically:
// it lists overdue invoices in the ERP and starts (or joins) a VendorPayment
// for each. It is the "signal" half of signal-to-resolution.
const OverdueDetectorWorkflow = "OverdueInvoiceDetector"

// OverdueDetectorScheduleID is the id of the Schedule that runs the detector.
const OverdueDetectorScheduleID = "overdue-invoice-detector"

// DetectorRequester is the requestedBy of payments the detector starts.
const DetectorRequester = "schedule:overdue-invoice-detector"

// Activity names the detector calls.
const (
	ListOverdueInvoicesActivity = "ListOverdueInvoices"
	StartVendorPaymentActivity  = "StartVendorPayment"
)

// DetectorResult reports what one detector run did.
type DetectorResult struct {
	AsOf     string   `json:"asOf"`
	Overdue  []string `json:"overdue"`
	Started  []string `json:"started"`  // workflow ids started or joined
	Finished []string `json:"finished"` // invoices whose payment workflow already completed
	// Skipped lists invoices that could not be started, with why; one bad
	// invoice never stops the others.
	Skipped []SkippedInvoice `json:"skipped,omitempty"`
}

// SkippedInvoice is an overdue invoice the detector could not start.
type SkippedInvoice struct {
	InvoiceID string `json:"invoiceId"`
	Reason    string `json:"reason"`
}

// StartPaymentOutcome is what StartVendorPaymentActivity reports.
type StartPaymentOutcome struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId,omitempty"`
	// AlreadyCompleted is true when the invoice's payment workflow finished
	// before; the detector does not start it again.
	AlreadyCompleted bool `json:"alreadyCompleted"`
}

// OverdueInvoiceDetector lists overdue invoices as of the workflow's clock
// and starts a VendorPayment for each.
func OverdueInvoiceDetector(ctx workflow.Context) (DetectorResult, error) {
	asOf := workflow.Now(ctx).UTC().Format(time.DateOnly)
	res := DetectorResult{AsOf: asOf}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10,
		},
	})
	if err := workflow.ExecuteActivity(ctx, ListOverdueInvoicesActivity, asOf).Get(ctx, &res.Overdue); err != nil {
		return res, fmt.Errorf("list overdue invoices as of %s: %w", asOf, err)
	}
	for _, id := range res.Overdue {
		var out StartPaymentOutcome
		in := VendorPaymentInput{InvoiceID: id, RequestedBy: DetectorRequester}
		if err := workflow.ExecuteActivity(ctx, StartVendorPaymentActivity, in).Get(ctx, &out); err != nil {
			// Retries are spent (or it can never succeed): report it and go
			// on, so the next invoices are not held hostage on every run.
			workflow.GetLogger(ctx).Warn("Could not start vendor payment", "invoiceId", id, "error", err)
			res.Skipped = append(res.Skipped, SkippedInvoice{InvoiceID: id, Reason: err.Error()})
			continue
		}
		if out.AlreadyCompleted {
			res.Finished = append(res.Finished, id)
		} else {
			res.Started = append(res.Started, out.WorkflowID)
		}
	}
	return res, nil
}

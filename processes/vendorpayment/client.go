package vendorpayment

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/process"
)

var invoiceIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Start starts the VendorPayment for an invoice, or joins the
// one already running for it: the workflow id is derived from the invoice,
// so a second start can never pay twice.
func Start(ctx context.Context, c tclient.Client, in VendorPaymentInput) (tclient.WorkflowRun, error) {
	if !invoiceIDRE.MatchString(in.InvoiceID) {
		return nil, fmt.Errorf("invoiceId: %q is not an invoice id: %w", in.InvoiceID, client.ErrInvalidInput)
	}
	if in.RequestedBy == "" {
		return nil, fmt.Errorf("requestedBy: required: %w", client.ErrInvalidInput)
	}
	opts := tclient.StartWorkflowOptions{
		ID:        VendorPaymentID(in.InvoiceID),
		TaskQueue: process.TaskQueue,
		// A running payment is joined; a finished one that failed may be
		// retried; a completed one (paid, or a clear business outcome) is
		// not started again.
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		// Without this the SDK silently hands back the finished run; callers
		// must know the payment already happened.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            fmt.Sprintf("Vendor payment for invoice **%s**, requested by %s", in.InvoiceID, in.RequestedBy),
		StaticDetails: "Loads the invoice and vendor from the ERP, checks schedule, bank details and " +
			"approval tier, releases the payment from treasury, verifies settlement, emails the vendor and marks the invoice paid.",
		TypedSearchAttributes: temporal.NewSearchAttributes(
			process.SAProcess.ValueSet(ProcessName),
			process.SABusinessKey.ValueSet(in.InvoiceID),
		),
	}
	run, err := c.ExecuteWorkflow(ctx, opts, VendorPaymentWorkflow, in)
	if err != nil {
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &already) {
			return nil, fmt.Errorf("invoice %s already has a completed vendor payment (%s): %w", in.InvoiceID, opts.ID, err)
		}
		return nil, fmt.Errorf("start vendor payment for %s: %w", in.InvoiceID, err)
	}
	return run, nil
}

// QueryStatus runs the "status" query.
func QueryStatus(ctx context.Context, c tclient.Client, workflowID string) (VendorPaymentStatus, error) {
	var st VendorPaymentStatus
	v, err := c.QueryWorkflow(ctx, workflowID, "", StatusQuery)
	if err != nil {
		return st, fmt.Errorf("query status of %s: %w", workflowID, err)
	}
	if err := v.Get(&st); err != nil {
		return st, fmt.Errorf("decode status of %s: %w", workflowID, err)
	}
	return st, nil
}

// GetResult waits for the workflow to finish and returns its result.
func GetResult(ctx context.Context, c tclient.Client, workflowID string) (VendorPaymentResult, error) {
	var res VendorPaymentResult
	if err := c.GetWorkflow(ctx, workflowID, "").Get(ctx, &res); err != nil {
		return res, fmt.Errorf("result of %s: %w", workflowID, err)
	}
	return res, nil
}

// Package client holds typed helpers for services and tools that talk to
// ExecutionOrchestrator through Temporal: dial with Temporal's standard
// environment configuration, start a vendor payment, read its status and
// result, approve. Every helper uses only the public contract in
// workflows/contract.go, so a service in another language can do the same
// with its own Temporal SDK.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/telemetry"
	"github.com/execution-orchestrator/orchestrator/workflows"
)

// Dial connects using Temporal's environment configuration (TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE and
// the temporal.toml profiles), so the same binary reaches a dev server, a
// self-hosted cluster or Temporal Cloud. Calls are traced with OpenTelemetry
// (see package telemetry; a no-op unless an exporter is configured).
func Dial(ctx context.Context, logger *slog.Logger) (tclient.Client, error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return nil, fmt.Errorf("load Temporal client configuration: %w", err)
	}
	if logger != nil {
		opts.Logger = sdklog.NewStructuredLogger(logger)
	}
	tracing, err := telemetry.TemporalInterceptor(nil)
	if err != nil {
		return nil, err
	}
	opts.Interceptors = append(opts.Interceptors, tracing)
	c, err := tclient.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("dial Temporal at %q: %w", opts.HostPort, err)
	}
	return c, nil
}

// ErrInvalidInput marks input that can never succeed; callers (activities)
// turn it into a non-retryable error.
var ErrInvalidInput = errors.New("invalid input")

var invoiceIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// StartVendorPayment starts the VendorPayment for an invoice, or joins the
// one already running for it: the workflow id is derived from the invoice,
// so a second start can never pay twice.
func StartVendorPayment(ctx context.Context, c tclient.Client, in workflows.VendorPaymentInput) (tclient.WorkflowRun, error) {
	if !invoiceIDRE.MatchString(in.InvoiceID) {
		return nil, fmt.Errorf("invoiceId: %q is not an invoice id: %w", in.InvoiceID, ErrInvalidInput)
	}
	if in.RequestedBy == "" {
		return nil, fmt.Errorf("requestedBy: required: %w", ErrInvalidInput)
	}
	opts := tclient.StartWorkflowOptions{
		ID:        workflows.VendorPaymentID(in.InvoiceID),
		TaskQueue: workflows.TaskQueue,
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
			workflows.SAProcess.ValueSet(workflows.ProcessVendorPayment),
			workflows.SABusinessKey.ValueSet(in.InvoiceID),
		),
	}
	run, err := c.ExecuteWorkflow(ctx, opts, workflows.VendorPaymentWorkflow, in)
	if err != nil {
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &already) {
			return nil, fmt.Errorf("invoice %s already has a completed vendor payment (%s): %w", in.InvoiceID, opts.ID, err)
		}
		return nil, fmt.Errorf("start vendor payment for %s: %w", in.InvoiceID, err)
	}
	return run, nil
}

// VendorPaymentStatus runs the "status" query.
func VendorPaymentStatus(ctx context.Context, c tclient.Client, workflowID string) (workflows.VendorPaymentStatus, error) {
	var st workflows.VendorPaymentStatus
	v, err := c.QueryWorkflow(ctx, workflowID, "", workflows.StatusQuery)
	if err != nil {
		return st, fmt.Errorf("query status of %s: %w", workflowID, err)
	}
	if err := v.Get(&st); err != nil {
		return st, fmt.Errorf("decode status of %s: %w", workflowID, err)
	}
	return st, nil
}

// VendorPaymentResult waits for the workflow to finish and returns its result.
func VendorPaymentResult(ctx context.Context, c tclient.Client, workflowID string) (workflows.VendorPaymentResult, error) {
	var res workflows.VendorPaymentResult
	if err := c.GetWorkflow(ctx, workflowID, "").Get(ctx, &res); err != nil {
		return res, fmt.Errorf("result of %s: %w", workflowID, err)
	}
	return res, nil
}

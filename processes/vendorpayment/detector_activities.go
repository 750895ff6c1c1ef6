package vendorpayment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// OverdueLister lists open invoices whose due date is before asOf.
type OverdueLister interface {
	ListOverdueInvoices(ctx context.Context, asOf time.Time) ([]erp.Invoice, error)
}

// Detector holds the activities of the overdue-invoice detector.
type Detector struct {
	ERP      OverdueLister
	Temporal tclient.Client
	// Signer is the worker's key: the detector's starts carry a proof that
	// the Schedule, not a claim, requested them. Nil starts without one.
	Signer *proof.Signer
	// Now is the clock of those proofs; nil means time.Now.
	Now func() time.Time
}

// ListOverdueInvoices returns the ids of invoices overdue as of asOf (YYYY-MM-DD).
func (d *Detector) ListOverdueInvoices(ctx context.Context, asOf string) ([]string, error) {
	day, err := time.Parse(time.DateOnly, asOf)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("asOf: %q is not a YYYY-MM-DD date", asOf), "InvalidInput", err)
	}
	invoices, err := d.ERP.ListOverdueInvoices(ctx, day)
	if err != nil {
		return nil, fmt.Errorf("list overdue invoices: %w", err)
	}
	ids := make([]string, 0, len(invoices))
	for _, inv := range invoices {
		ids = append(ids, inv.ID)
	}
	return ids, nil
}

// StartVendorPayment starts the invoice's VendorPayment, or joins the running
// one; the workflow id makes it idempotent.
func (d *Detector) StartVendorPayment(ctx context.Context, in VendorPaymentInput) (StartPaymentOutcome, error) {
	if d.Signer != nil && in.RequestedBy == DetectorRequester && in.RequesterProof == "" {
		now := time.Now
		if d.Now != nil {
			now = d.Now
		}
		var err error
		if in.RequesterProof, err = SignStart(d.Signer, in, proof.MethodService, now()); err != nil {
			return StartPaymentOutcome{}, temporal.NewNonRetryableApplicationError("sign start: "+err.Error(), ErrTypeNotConfigured, nil)
		}
	}
	run, err := Start(ctx, d.Temporal, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &already):
		return StartPaymentOutcome{WorkflowID: VendorPaymentID(in.InvoiceID), AlreadyCompleted: true}, nil
	case errors.Is(err, client.ErrInvalidInput):
		return StartPaymentOutcome{}, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", err)
	case err != nil:
		return StartPaymentOutcome{}, err
	}
	return StartPaymentOutcome{WorkflowID: run.GetID(), RunID: run.GetRunID()}, nil
}

// SignStart signs the proof that in.RequestedBy requested the payment of
// in.InvoiceID, for VendorPaymentInput.RequesterProof.
func SignStart(s *proof.Signer, in VendorPaymentInput, method string, now time.Time) (string, error) {
	return s.Sign(proof.Assertion{
		Kind: proof.KindStart, WorkflowID: VendorPaymentID(in.InvoiceID), Subject: in.RequestedBy,
		Method: method, IssuedAt: now.UTC(), ExpiresAt: now.UTC().Add(10 * time.Minute),
	})
}

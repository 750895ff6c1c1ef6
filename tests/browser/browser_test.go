package browser

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
)

// TestApprovalInBrowser: a medium invoice waits for a finance-manager; in
// Debian's Chromium, maria signs in, finds it in her inbox, approves it and
// watches it end paid — on the real dev server, worker and sandbox.
func TestApprovalInBrowser(t *testing.T) {
	if why := Unavailable(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatal("browser test cannot run in CI: " + why)
		}
		t.Skip("browser test skipped: " + why + " (make test installs it)")
	}
	s := stack.Start(t, stack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run, err := vendorpayment.Start(ctx, s.Temporal,
		vendorpayment.VendorPaymentInput{InvoiceID: sandbox.InvoiceMedium, RequestedBy: "agent:payables-bot"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := RunApproval(ctx, s.WebURL, run.GetID(), "maria", vendorpayment.OutcomePaid)
	t.Logf("node output:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	var res vendorpayment.VendorPaymentResult
	if err := run.Get(ctx, &res); err != nil || res.Outcome != vendorpayment.OutcomePaid {
		t.Fatalf("result %+v, %v", res, err)
	}
	payments, err := treasury.New(s.Sandbox.HTTPURL()).ListPaymentsForInvoice(ctx, sandbox.InvoiceMedium)
	if err != nil || len(payments) != 1 {
		t.Fatalf("payments %v, %v; want exactly one", payments, err)
	}
}

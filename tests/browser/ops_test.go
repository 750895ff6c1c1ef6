package browser

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
)

// TestOperationsChartsDraw: one invoice is paid with no person, another
// waits for a finance-manager's approval; in Chromium, ana (a controller)
// opens the operations view, sees the waiting approval and every KPI chart
// drawn by the vendored Chart.js under the page's CSP — no console error,
// no violation, nothing fetched from another host; maria (no operations
// role) is refused — on the real dev server, worker, ledger and sandbox.
func TestOperationsChartsDraw(t *testing.T) {
	if why := Unavailable(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatal("browser test cannot run in CI: " + why)
		}
		t.Skip("browser test skipped: " + why + " (make test installs it)")
	}
	s := stack.Start(t, stack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Autonomous: paid without people, so the autonomy rate has a point.
	paid, err := vendorpayment.Start(ctx, s.Temporal,
		vendorpayment.VendorPaymentInput{InvoiceID: sandbox.InvoiceHappyPath, RequestedBy: "agent:payables-bot"})
	if err != nil {
		t.Fatal(err)
	}
	var res vendorpayment.VendorPaymentResult
	if err := paid.Get(ctx, &res); err != nil || res.Outcome != vendorpayment.OutcomePaid {
		t.Fatalf("autonomous payment: result %+v, %v; want paid", res, err)
	}
	// Waits for maria: left waiting, so the queue has an item.
	waiting, err := vendorpayment.Start(ctx, s.Temporal,
		vendorpayment.VendorPaymentInput{InvoiceID: sandbox.InvoiceMedium, RequestedBy: "agent:payables-bot"})
	if err != nil {
		t.Fatal(err)
	}
	awaitApprover(ctx, t, s, waiting.GetID(), "maria")
	awaitOutcome(ctx, t, s, paid.GetID())

	out, err := RunOperations(ctx, s.WebURL, waiting.GetID(), "ana", "maria")
	t.Logf("node output:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
}

// awaitApprover waits until workflow id waits for person's approval.
func awaitApprover(ctx context.Context, t *testing.T, s *stack.Stack, id, person string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := vendorpayment.QueryStatus(ctx, s.Temporal, id)
		if err == nil && st.Stage == vendorpayment.StageAwaitingApproval && slices.Contains(st.PendingApprovers, person) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never awaited %s: %+v (%v)", id, person, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// awaitOutcome waits until the ledger holds workflow id's outcome, which
// the KPIs (and the autonomy chart) are computed from.
func awaitOutcome(ctx context.Context, t *testing.T, s *stack.Stack, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, err := s.Ledger.Entries(ctx, audit.Filter{WorkflowIDs: []string{id}, Kinds: []audit.Kind{audit.KindOutcome}})
		if err == nil && len(entries) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ledger never recorded the outcome of %s (%v)", id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

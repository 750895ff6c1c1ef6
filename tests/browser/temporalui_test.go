package browser

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
	"github.com/execution-orchestrator/orchestrator/totp"
)

// TestTemporalUISignalWithOneTimeCode: a medium invoice waits for a
// finance-manager; in Debian's Chromium, maria opens it in the Temporal Web
// UI, reads the digest on the Queries tab and sends the approval Signal
// (More Actions → Send a Signal, json/plain) with the code her authenticator
// app shows. The worker checks the code and the payment is released — on the
// real dev server (with its UI), worker and sandbox.
func TestTemporalUISignalWithOneTimeCode(t *testing.T) {
	if why := Unavailable(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatal("browser test cannot run in CI: " + why)
		}
		t.Skip("browser test skipped: " + why + " (make test installs it)")
	}
	s := stack.Start(t, stack.Options{UI: true})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	enrolment, err := s.Codes.Enroll(ctx, "maria", "ExecutionOrchestrator")
	if err != nil {
		t.Fatal(err)
	}
	run, err := vendorpayment.Start(ctx, s.Temporal,
		vendorpayment.VendorPaymentInput{InvoiceID: sandbox.InvoiceMedium, RequestedBy: "agent:payables-bot"})
	if err != nil {
		t.Fatal(err)
	}
	st := awaitingApprover(t, ctx, s, run.GetID(), "maria")

	// maria's authenticator app: the code of this moment, read only when
	// the browser is about to type it.
	code := func() (string, error) { return totp.Code(enrolment.Secret, time.Now()) }
	out, err := RunTemporalUISignal(ctx, s.UIURL, s.WebURL, run.GetID(), "maria", st.ActionDigest, code, vendorpayment.OutcomePaid)
	t.Logf("node output:\n%s", out)
	if err != nil {
		if now, qerr := client.ApprovalStatus(ctx, s.Temporal, run.GetID()); qerr == nil {
			t.Logf("approvals query: stage %s, approvals %+v, refused %+v", now.Stage, now.Approvals, now.RejectedMessages)
		}
		t.Fatal(err)
	}

	var res vendorpayment.VendorPaymentResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != vendorpayment.OutcomePaid || len(res.Approvals) != 1 ||
		res.Approvals[0].Approver != "maria" || res.Approvals[0].Proof == nil || res.Approvals[0].Proof.Method != proof.MethodTOTP {
		t.Fatalf("result %+v, want paid with maria's one totp-proven approval", res)
	}
	payments, err := treasury.New(s.Sandbox.HTTPURL()).ListPaymentsForInvoice(ctx, sandbox.InvoiceMedium)
	if err != nil || len(payments) != 1 {
		t.Fatalf("payments %v, %v; want exactly one", payments, err)
	}
}

// awaitingApprover waits until workflow id awaits a decision person may make.
func awaitingApprover(t *testing.T, ctx context.Context, s *stack.Stack, id, person string) approvals.Status {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := client.ApprovalStatus(ctx, s.Temporal, id)
		if err == nil && st.AwaitingSlot != "" && st.ActionDigest != "" && slices.Contains(st.PendingApprovers, person) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never awaited %s: %+v (%v)", id, person, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

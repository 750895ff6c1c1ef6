package integration

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/audit/audittest"
	"github.com/execution-orchestrator/orchestrator/codec"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
)

// entriesOf returns the data of the entries of kind k, decoded into T.
func entriesOf[T any](t *testing.T, entries []audit.Entry, k audit.Kind) ([]audit.Entry, []T) {
	t.Helper()
	var es []audit.Entry
	var out []T
	for _, e := range entries {
		if e.Event.Kind != k {
			continue
		}
		var d T
		if err := json.Unmarshal(e.Event.Data, &d); err != nil {
			t.Fatalf("entry %d (%s): %v", e.Seq, k, err)
		}
		es, out = append(es, e), append(out, d)
	}
	return es, out
}

// A payment that needs a finance manager: its audit shows the request, the
// gate's decisions before approval and at the side effect (with the
// policy-set hash), maria's approval with its verified proof, the release
// and the verified settlement; the ledger verifies, and agrees with what
// Temporal's histories recorded.
func TestPaymentAuditTrail(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx := context.Background()
	maria := s.PersonKey(t, "maria")
	run := start(t, s, sandbox.InvoiceMedium)
	st := awaiting(t, s, run.GetID(), "maria")
	ap := approvalsOf(t, s, run.GetID())
	signal(t, s, run.GetID(), vendorpayment.ApprovalRequest{Decision: "approve", Approver: "maria", Comment: "matches the PO",
		ActionDigest: st.ActionDigest, Proof: stack.Sign(t, maria, proof.MethodKey, "maria", "approve", ap)})
	res := result(t, s, run)
	if res.Outcome != vendorpayment.OutcomePaid {
		t.Fatalf("outcome = %s (%s)", res.Outcome, res.Reason)
	}

	entries, err := s.Ledger.History(ctx, sandbox.InvoiceMedium)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []audit.Kind
	for _, e := range entries {
		kinds = append(kinds, e.Event.Kind)
	}
	t.Logf("kinds: %v", kinds)

	if _, p := entriesOf[audit.ProposedData](t, entries, audit.KindProposed); len(p) != 1 || p[0].RequestedBy == "" {
		t.Errorf("proposed = %+v, want one request", p)
	}
	_, gates := entriesOf[audit.GateData](t, entries, audit.KindGate)
	var plannedDeny, sideEffectPermit bool
	for _, g := range gates {
		if g.PolicySetHash == "" || g.ActionDigest != st.ActionDigest {
			t.Errorf("gate entry without policy-set hash or with another digest: %+v", g)
		}
		if g.Where == "plan" && !g.Permit && slices.ContainsFunc(g.Reasons, func(r audit.GateReason) bool { return r.Policy == "autonomy.threshold" && r.Approval }) {
			plannedDeny = true
		}
		if g.Where == "side_effect" && g.Permit {
			sideEffectPermit = true
		}
	}
	if !plannedDeny || !sideEffectPermit {
		t.Errorf("gates = %+v, want a deny on autonomy.threshold before approval and a permit at the side effect", gates)
	}
	aes, aps := entriesOf[audit.ApprovalData](t, entries, audit.KindApproval)
	if len(aps) != 1 || aes[0].Event.Actor != "maria" || aps[0].Decision != "approve" || aps[0].Slot != "finance-manager" ||
		!aps[0].Proof.Verified || aps[0].Proof.Method != proof.MethodKey || aps[0].Proof.Token == "" {
		t.Fatalf("approvals = %+v, want maria's, with her verified proof", aps)
	}
	// The proof in the ledger verifies again against the trusted keys, for
	// exactly this run, slot, digest and person.
	trust, err := proof.LoadTrustDir(s.KeysDir)
	if err != nil {
		t.Fatal(err)
	}
	trust = trust.Merge(mustTrust(t, s))
	if _, err := proof.VerifyAsIssued(aps[0].Proof.Token, trust, proof.Expect{Kind: proof.KindApproval, WorkflowID: run.GetID(),
		RunID: run.GetRunID(), Slot: "finance-manager", ActionDigest: st.ActionDigest, Decision: "approve", Subject: "maria"}); err != nil {
		t.Errorf("the ledger's proof does not verify: %v", err)
	}
	if _, se := entriesOf[audit.SideEffectData](t, entries, audit.KindSideEffect); len(se) != 1 || se[0].System != "treasury" || se[0].Reference != res.PaymentID {
		t.Errorf("side effects = %+v, want one treasury release %s", se, res.PaymentID)
	}
	_, vs := entriesOf[audit.VerificationData](t, entries, audit.KindVerification)
	if !slices.ContainsFunc(vs, func(v audit.VerificationData) bool { return v.What == "settlement" && v.Verified }) {
		t.Errorf("verifications = %+v, want settlement verified", vs)
	}
	if _, out := entriesOf[audit.OutcomeData](t, entries, audit.KindOutcome); len(out) != 1 || out[0].Outcome != vendorpayment.OutcomePaid || out[0].Autonomous {
		t.Errorf("outcome = %+v, want paid with a person involved", out)
	}
	if last := entries[len(entries)-1].Event.Kind; last != audit.KindOutcome {
		t.Errorf("last entry is %s, want the outcome", last)
	}
	var screen strings.Builder
	if err := audit.RenderText(&screen, entries); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"maria", "finance-manager", "verified", res.PaymentID, "paid"} {
		if !strings.Contains(screen.String(), want) {
			t.Errorf("audit show lacks %q:\n%s", want, screen.String())
		}
	}

	// The whole ledger verifies, signed checkpoints included, and every
	// entry the workflow recorded is in its history with the same hash.
	keys, err := audit.LoadPublicKeys(s.KeysDir)
	if err != nil {
		t.Fatal(err)
	}
	histories := audit.TemporalHistories{Client: s.Temporal, DataConverter: codec.DataConverter(s.Keyring)}
	rep, err := audit.Verify(ctx, s.Ledger, audit.VerifyOptions{PublicKeys: keys, Histories: histories, Sample: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Checkpoints == 0 {
		t.Fatalf("fresh ledger: %+v", rep)
	}
	checked := 0
	for _, hc := range rep.HistoryChecks {
		if hc.Status == audit.HistoryOK {
			checked++
		}
	}
	if checked < 5 {
		t.Fatalf("history checks = %+v, want the workflow's entries found in its history", rep.HistoryChecks)
	}

	// Changed directly in the database, past the application's triggers:
	// verification names the entry.
	target := aes[0].Seq
	audittest.UpdateSummary(t, s.DatabaseURL, s.SQLitePath, target, "Approved by chen (cfo)")
	rep, err = audit.Verify(ctx, s.Ledger, audit.VerifyOptions{PublicKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Problems[0].Seq != target {
		t.Fatalf("after an UPDATE of entry %d: %+v", target, rep.Problems)
	}
	// And a deleted entry before it is named first.
	audittest.DeleteEntry(t, s.DatabaseURL, s.SQLitePath, 2)
	rep, err = audit.Verify(ctx, s.Ledger, audit.VerifyOptions{PublicKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Problems[0].Seq != 2 {
		t.Fatalf("after a DELETE of entry 2: %+v", rep.Problems)
	}
}

func mustTrust(t *testing.T, s *stack.Stack) proof.Trust {
	t.Helper()
	people, err := s.Dir.TrustedKeys()
	if err != nil {
		t.Fatal(err)
	}
	return people
}

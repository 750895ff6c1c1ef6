package audit_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/audit"
)

func entryOf(seq int64, kind audit.Kind, actor, summary string, data any) audit.Entry {
	raw, _ := json.Marshal(data)
	return audit.Entry{Seq: seq, Event: audit.Event{
		ID: "e", Process: "vendor-payment", BusinessKey: "INV-1042", WorkflowID: "vendor-payment-INV-1042",
		Kind: kind, Actor: actor, Summary: summary, At: time.Date(2025, 3, 1, 9, 0, int(seq), 0, time.UTC), Data: raw,
	}}
}

func TestAuditRenderTimeline(t *testing.T) {
	entries := []audit.Entry{
		entryOf(1, audit.KindProposed, "agent:payables", "Pay invoice INV-1042", audit.ProposedData{ActionKind: "vendor_payment", Target: "INV-1042", RequestedBy: "agent:payables", RequesterVerified: true}),
		entryOf(2, audit.KindGate, "system:gate", "Gate: deny", audit.GateData{Where: "plan", Permit: false, PolicySetHash: "9f86d081884c7d659a2feaa0c55ad015", Reasons: []audit.GateReason{{Policy: "amount-over-10k", Approval: true}, {Policy: "new-vendor"}}}),
		entryOf(3, audit.KindApproval, "maria", "Approved by maria (finance-manager)", audit.ApprovalData{Decision: "approve", Slot: "finance-manager", WaitedSeconds: 3720, Proof: audit.ProofData{Verified: true, Method: "oidc", KeyID: "ed25519-0123456789abcdef"}}),
		entryOf(6, audit.KindOutcome, "system", "Outcome: paid", audit.OutcomeData{Outcome: "paid", Autonomous: false}),
		entryOf(4, audit.KindSideEffect, "system", "Released payment", audit.SideEffectData{System: "treasury", Operation: "release", Reference: "PAY-77", AmountMinor: 1250050, Currency: "EUR"}),
		entryOf(5, audit.KindApproval, "joao", "Rejected by joao\nforged line", audit.ApprovalData{Decision: "reject", Slot: "controller"}),
	}
	tl := audit.NewTimeline("INV-1042", entries)
	var kinds []string
	for _, l := range tl.Lines {
		kinds = append(kinds, string(l.Kind))
	}
	if got := strings.Join(kinds, ","); got != "proposed,gate,approval,side_effect,approval,outcome" {
		t.Errorf("order = %s, want by seq with the outcome last", got)
	}
	var b strings.Builder
	if err := tl.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"History of INV-1042: 6 entries",
		"2025-03-01 09:00:03Z  approval      maria",
		"approve by maria · slot finance-manager · proof verified (method oidc, key ed25519-0123456789abcdef) · after 1h2m0s",
		"DENY at plan · denied by amount-over-10k (approval may lift), new-vendor · policy set 9f86d081884c",
		"treasury/release · ref PAY-77 · 12500.50 EUR",
		"! Rejected by joao forged line",
		"reject by joao · slot controller · proof NOT verified",
		"outcome paid · ",
	} {
		if !strings.Contains(out, want) && !(want == "outcome paid · " && strings.Contains(out, "outcome paid\n")) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "outcome paid") {
		t.Errorf("last line %q, want the outcome", last)
	}
	var plain strings.Builder
	if err := audit.RenderText(&plain, entries); err != nil || !strings.Contains(plain.String(), "Pay invoice INV-1042") {
		t.Errorf("RenderText: %v\n%s", err, plain.String())
	}
}

// TestAuditRenderNeutralizesTerminalControls: summaries and actors come
// from workflow inputs a requester or an agent controls (a task title). An
// escape sequence or a carriage return printed as is by `audit show` moves
// the cursor and overwrites what an auditor reads.
func TestAuditRenderNeutralizesTerminalControls(t *testing.T) {
	entries := []audit.Entry{
		entryOf(1, audit.KindProposed, "agent:x\x1b[2K", "Task \"a\x1b[1A\x1b[2K\rApproved by cfo\u202e\" requested", audit.ProposedData{RequestedBy: "agent:x\x08\x08"}),
	}
	var b strings.Builder
	if err := audit.NewTimeline("K", entries).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if i := strings.IndexFunc(out, func(r rune) bool { return (r < 0x20 && r != '\n') || r == 0x7f || r == 0x1b || r == 0x202e }); i >= 0 {
		t.Errorf("control character %q at %d in\n%q", out[i], i, out)
	}
}

package vendorpayment

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/proof"
)

var (
	fmSlot = ApprovalSlot{Role: "finance-manager", Candidates: []ApprovalCandidate{
		{ID: "maria", Name: "Maria Rossi", Email: "maria@example.com", Manager: "chen"},
		{ID: "omar", Name: "Omar Haddad", Email: "omar@example.com", Manager: "chen", Delegate: "lena"}, // absent
	}}
	cfoSlot = ApprovalSlot{Role: "cfo", Candidates: []ApprovalCandidate{
		{ID: "chen", Name: "Chen Wei", Email: "chen@example.com", Manager: "sofia"},
	}}
	fmPlan = ApprovalPlan{
		Tier: "finance-manager", Reason: "EUR 12 000.00 is above the autonomous limit: finance-manager",
		Slots: []ApprovalSlot{fmSlot}, ReminderAfter: 4 * time.Hour, EscalateAfter: 24 * time.Hour, ExpireAfter: 72 * time.Hour, Validity: 72 * time.Hour,
	}
	cfoPlan = ApprovalPlan{
		Tier: "cfo", Reason: "EUR 48 000.00 is above the finance-manager limit: finance-manager then cfo",
		Slots: []ApprovalSlot{fmSlot, cfoSlot}, ReminderAfter: 4 * time.Hour, EscalateAfter: 24 * time.Hour, ExpireAfter: 96 * time.Hour, Validity: 72 * time.Hour,
	}
	personInput = VendorPaymentInput{InvoiceID: "INV-1042", RequestedBy: "ana"}
)

// proofFunc makes the proof a decision carries from the workflow's
// "approvals" status at the moment the decision is sent (which run, which
// slot is awaited, which nonces were used).
type proofFunc func(t *testing.T, f *fakeActivities, env *testsuite.TestWorkflowEnvironment, st approvals.Status, req ApprovalRequest) string

// signedBy signs req as made by its approver for the awaited slot of this
// run, with s (nil: the web app's key, as after sign-in); tamper, if set,
// edits the assertion before it is signed.
func signedBy(s *proof.Signer, tamper func(*proof.Assertion)) proofFunc {
	return func(t *testing.T, f *fakeActivities, env *testsuite.TestWorkflowEnvironment, st approvals.Status, req ApprovalRequest) string {
		t.Helper()
		signer := s
		if signer == nil {
			signer = f.web
		}
		slot := st.AwaitingSlot
		if slot == "" {
			slot = "none" // nothing is awaited: the rules refuse before the proof
		}
		now := env.Now().UTC()
		a := proof.Assertion{
			Kind: proof.KindApproval, WorkflowID: st.WorkflowID, RunID: st.RunID, Slot: slot,
			ActionDigest: req.ActionDigest, Decision: req.Decision, Subject: req.Approver, Method: proof.MethodOIDC,
			IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		}
		if tamper != nil {
			tamper(&a)
		}
		token, err := signer.Sign(a)
		if err != nil {
			// A request the rules refuse before its proof (no approver, an
			// unknown decision) cannot be signed; it goes without one.
			t.Logf("no proof for %s by %q: %v", req.Decision, req.Approver, err)
			return ""
		}
		return token
	}
}

// webProof is a valid proof from the web app.
var webProof = signedBy(nil, nil)

// rawProof sends p as it is: "" for none, a one-time code, or a token.
func rawProof(p string) proofFunc {
	return func(*testing.T, *fakeActivities, *testsuite.TestWorkflowEnvironment, approvals.Status, ApprovalRequest) string {
		return p
	}
}

// decision is an approval sent at a point in (mocked) workflow time.
type decision struct {
	at     time.Duration
	signal bool // send as Signal instead of Update
	req    ApprovalRequest
	// proof makes req.Proof when it is sent; nil = webProof.
	proof proofFunc
	// wantRefused is a substring of the validator's refusal; "" = accepted.
	wantRefused string
	// wantFailed is a substring of the error of an Update the validator
	// accepted but the handler failed (a one-time code the activity refused).
	wantFailed string
}

// queryApprovals runs the kernel's "approvals" query.
func queryApprovals(t *testing.T, env *testsuite.TestWorkflowEnvironment) approvals.Status {
	t.Helper()
	v, err := env.QueryWorkflow(ApprovalsQuery)
	require.NoError(t, err)
	var st approvals.Status
	require.NoError(t, v.Get(&st))
	return st
}

// schedule registers the decisions, each with its proof made when it is
// sent, and returns a func that asserts, after the run, that each Update
// was accepted, refused or failed as expected.
func schedule(t *testing.T, env *testsuite.TestWorkflowEnvironment, f *fakeActivities, decisions []decision) func() {
	t.Helper()
	outcomes := make([]string, len(decisions))
	seen := make([]bool, len(decisions))
	for i, d := range decisions {
		env.RegisterDelayedCallback(func() {
			mk := d.proof
			if mk == nil {
				mk = webProof
			}
			req := d.req
			req.Proof = mk(t, f, env, queryApprovals(t, env), req)
			if d.signal {
				env.SignalWorkflow(ApprovalSignal, req)
				seen[i] = true
				return
			}
			env.UpdateWorkflow(ApprovalUpdate, fmt.Sprintf("u%d", i), &testsuite.TestUpdateCallback{
				OnAccept: func() { seen[i] = true },
				OnReject: func(err error) { seen[i], outcomes[i] = true, "refused: "+err.Error() },
				OnComplete: func(_ any, err error) {
					if err != nil {
						outcomes[i] = "failed: " + err.Error()
					}
				},
			}, req)
		}, d.at)
	}
	return func() {
		t.Helper()
		for i, d := range decisions {
			if d.signal {
				continue
			}
			require.True(t, seen[i], "decision %d (%s by %s) never reached the workflow", i, d.req.Decision, d.req.Approver)
			switch {
			case d.wantRefused != "":
				assert.Contains(t, outcomes[i], "refused: ", "decision %d by %s should be refused", i, d.req.Approver)
				assert.Contains(t, outcomes[i], d.wantRefused, "decision %d by %s", i, d.req.Approver)
			case d.wantFailed != "":
				assert.Contains(t, outcomes[i], "failed: ", "decision %d by %s should fail", i, d.req.Approver)
				assert.Contains(t, outcomes[i], d.wantFailed, "decision %d by %s", i, d.req.Approver)
			default:
				assert.Empty(t, outcomes[i], "decision %d by %s", i, d.req.Approver)
			}
		}
	}
}

func approve(who, digest string) ApprovalRequest {
	return ApprovalRequest{Decision: DecisionApprove, Approver: who, ActionDigest: digest, Comment: "ok"}
}

func bigInvoice() erp.Invoice { return testInvoice(1_200_000) }

func TestApprovalTiersAndStandIns(t *testing.T) {
	inv := bigInvoice()
	d := digestOf(t, inv, testVendor)
	tests := []struct {
		name      string
		plan      ApprovalPlan
		decisions []decision
		want      []Approval // Slot, Approver, OnBehalfOf compared
	}{
		{"finance manager approves", fmPlan,
			[]decision{{at: time.Hour, req: approve("maria", d)}},
			[]Approval{{Slot: "finance-manager", Approver: "maria"}}},
		{"finance manager then cfo", cfoPlan,
			[]decision{{at: time.Hour, req: approve("maria", d)}, {at: 2 * time.Hour, req: approve("chen", d)}},
			[]Approval{{Slot: "finance-manager", Approver: "maria"}, {Slot: "cfo", Approver: "chen"}}},
		{"delegate approves for absent candidate", fmPlan,
			[]decision{{at: time.Hour, req: approve("lena", d)}},
			[]Approval{{Slot: "finance-manager", Approver: "lena", OnBehalfOf: "omar"}}},
		{"manager approves after escalation", fmPlan,
			[]decision{{at: time.Hour, req: approve("chen", d), wantRefused: "may not decide"}, {at: 25 * time.Hour, req: approve("chen", d)}},
			[]Approval{{Slot: "finance-manager", Approver: "chen", OnBehalfOf: "maria"}}},
		{"signal approval counts like an update", fmPlan,
			[]decision{{at: time.Hour, signal: true, req: approve("maria", d)}},
			[]Approval{{Slot: "finance-manager", Approver: "maria"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.invoices, f.plan = []erp.Invoice{inv}, tc.plan
			var check func()
			var waiting VendorPaymentStatus
			env, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) {
				check = schedule(t, env, f, tc.decisions)
				env.RegisterDelayedCallback(func() { waiting = queryStatus(t, env) }, 30*time.Minute)
			})
			require.NoError(t, err)
			check()
			assert.Equal(t, OutcomePaid, res.Outcome, res.Reason)
			require.Len(t, res.Approvals, len(tc.want))
			for i, w := range tc.want {
				got := res.Approvals[i]
				assert.Equal(t, w.Slot, got.Slot)
				assert.Equal(t, w.Approver, got.Approver)
				assert.Equal(t, w.OnBehalfOf, got.OnBehalfOf)
				assert.Equal(t, d, got.ActionDigest)
				require.NotNil(t, got.Proof, "an accepted decision keeps its proof")
				assert.Equal(t, proof.MethodOIDC, got.Proof.Method)
				assert.Equal(t, f.web.KeyID(), got.Proof.KeyID)
				assert.NotEmpty(t, got.Proof.Nonce)
			}
			require.Len(t, f.releases, 1)
			assert.Equal(t, d, f.releases[0].ActionDigest)
			// The release gets what its own gate verifies again.
			assert.Equal(t, personInput.RequestedBy, f.releases[0].RequestedBy)
			assert.Equal(t, res.Approvals, f.releases[0].Approvals)
			assert.Equal(t, len(tc.plan.Slots), f.count(ActivityLoadTrust), "trusted keys are loaded for every slot")

			// While waiting, the status shows who, since when, what and why.
			assert.Equal(t, StageAwaitingApproval, waiting.Stage)
			assert.Equal(t, "finance-manager", waiting.AwaitingSlot)
			assert.Equal(t, []string{"maria", "omar", "lena"}, waiting.PendingApprovers)
			require.NotNil(t, waiting.AwaitingSince)
			assert.True(t, waiting.AwaitingSince.Equal(testStart))
			assert.Equal(t, tc.plan.Reason, waiting.ApprovalReason)
			require.NotNil(t, waiting.Action)
			assert.Equal(t, inv.AmountMinor, waiting.Action.AmountMinor)
			assert.Equal(t, d, waiting.ActionDigest)
			assert.True(t, waiting.ProofRequired)
			require.NotNil(t, waiting.Gate)
			assert.True(t, waiting.Gate.NeedsApprovalOnly(), "the gate asked for people: %s", waiting.Gate)

			st := queryStatus(t, env)
			assert.Empty(t, st.PendingApprovers)
			assert.Nil(t, st.AwaitingSince)
			require.NotNil(t, st.Gate)
			assert.True(t, st.Gate.Permit, "released on a permit")
		})
	}
}

func TestApprovalReminderEscalationExpiry(t *testing.T) {
	f := newFake()
	f.invoices, f.plan = []erp.Invoice{bigInvoice()}, fmPlan
	var escalatedStatus VendorPaymentStatus
	env, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(func() { escalatedStatus = queryStatus(t, env) }, 30*time.Hour)
	})
	require.NoError(t, err)

	assert.Equal(t, OutcomeExpired, res.Outcome)
	assert.Contains(t, res.Reason, "finance-manager")
	assert.Empty(t, f.releases, "an expired request never pays")
	assert.Empty(t, res.Approvals, "expiry is not recorded as a decision")
	assert.True(t, env.Now().Sub(testStart) >= 72*time.Hour, "expired at %s", env.Now())

	notified := f.snapshotNotified()
	require.Len(t, notified, 3)
	assert.Equal(t, NotifyRequest, notified[0].Kind)
	assert.Equal(t, []string{"maria", "lena"}, notified[0].Approvers, "the absent candidate's delegate is asked instead")
	assert.True(t, notified[0].Deadline.Equal(testStart.Add(72*time.Hour)))
	assert.Equal(t, NotifyReminder, notified[1].Kind)
	assert.Equal(t, []string{"maria", "lena"}, notified[1].Approvers)
	assert.Equal(t, NotifyEscalation, notified[2].Kind)
	assert.Equal(t, []string{"chen"}, notified[2].Approvers)

	assert.True(t, escalatedStatus.Escalated)
	assert.Equal(t, []string{"maria", "omar", "lena", "chen"}, escalatedStatus.PendingApprovers)

	require.Len(t, f.requester, 1)
	assert.Equal(t, OutcomeExpired, f.requester[0].Outcome)
	require.Len(t, f.notes, 1)
	assert.Contains(t, f.notes[0].Text, "expired")
}

// Every refusal names what was wrong, and a refused Update enters nothing:
// the awaited person can still decide afterwards. The proof rows are the
// forgeries proven approvals exist for: a decision is only what its signed
// assertion says, for this run, slot, action, decision and person.
func TestApprovalUpdateValidatorRefusals(t *testing.T) {
	inv := bigInvoice()
	d := digestOf(t, inv, testVendor)
	stranger := newTestSigner()
	tamper := func(edit func(a *proof.Assertion)) proofFunc { return signedBy(nil, edit) }
	tests := []struct {
		name        string
		plan        ApprovalPlan
		refused     ApprovalRequest
		proof       proofFunc
		wantReason  string
		before      []decision // accepted decisions before the refused one
		thenApprove []string   // approvers who finish the run afterwards
	}{
		{name: "requester", plan: fmPlan, refused: approve("ana", d), wantReason: "requested this action", thenApprove: []string{"maria"}},
		{name: "agent", plan: fmPlan, refused: approve("agent:payables-bot", d), wantReason: "is an agent", thenApprove: []string{"maria"}},
		{name: "stranger", plan: fmPlan, refused: approve("sofia", d), wantReason: "may not decide", thenApprove: []string{"maria"}},
		{name: "wrong digest", plan: fmPlan, refused: approve("maria", "sha256:0000"), wantReason: "actionDigest", thenApprove: []string{"maria"}},
		{name: "unknown decision", plan: fmPlan, refused: ApprovalRequest{Decision: "maybe", Approver: "maria", ActionDigest: d}, wantReason: "decision", thenApprove: []string{"maria"}},
		{name: "missing approver", plan: fmPlan, refused: ApprovalRequest{Decision: DecisionApprove, ActionDigest: d}, wantReason: "approver: required", thenApprove: []string{"maria"}},
		{name: "same person for two slots", plan: cfoPlan, before: []decision{{at: time.Hour, req: approve("maria", d)}},
			refused: approve("maria", d), wantReason: "one person cannot fill two slots", thenApprove: []string{"chen"}},
		{name: "oversized comment", plan: fmPlan, refused: ApprovalRequest{Decision: DecisionApprove, Approver: "maria", ActionDigest: d, Comment: strings.Repeat("x", approvals.MaxCommentLen+1)},
			wantReason: "comment: longer than", thenApprove: []string{"maria"}},

		{name: "forged: no proof", plan: fmPlan, refused: approve("maria", d), proof: rawProof(""), wantReason: "proof: required", thenApprove: []string{"maria"}},
		{name: "forged: not a token", plan: fmPlan, refused: approve("maria", d), proof: rawProof("eo1.e30.AAAA"), wantReason: "proof.", thenApprove: []string{"maria"}},
		{name: "signed by an untrusted key", plan: fmPlan, refused: approve("maria", d), proof: signedBy(stranger, nil), wantReason: "proof.kid: unknown key", thenApprove: []string{"maria"}},
		{name: "proof for another run", plan: fmPlan, refused: approve("maria", d), proof: tamper(func(a *proof.Assertion) { a.RunID = "another-run" }),
			wantReason: "proof.runId", thenApprove: []string{"maria"}},
		{name: "proof for another workflow", plan: fmPlan, refused: approve("maria", d), proof: tamper(func(a *proof.Assertion) { a.WorkflowID = "vendor-payment-INV-9" }),
			wantReason: "proof.workflowId", thenApprove: []string{"maria"}},
		{name: "proof for another action", plan: fmPlan, refused: approve("maria", d), proof: tamper(func(a *proof.Assertion) { a.ActionDigest = "sha256:0000" }),
			wantReason: "proof.actionDigest", thenApprove: []string{"maria"}},
		{name: "proof for another slot", plan: fmPlan, refused: approve("maria", d), proof: tamper(func(a *proof.Assertion) { a.Slot = "cfo" }),
			wantReason: "proof.slot", thenApprove: []string{"maria"}},
		{name: "proof of a rejection sent as approval", plan: fmPlan, refused: approve("maria", d), proof: tamper(func(a *proof.Assertion) { a.Decision = proof.DecisionReject }),
			wantReason: "proof.decision", thenApprove: []string{"maria"}},
		{name: "proof of another approver", plan: fmPlan, refused: approve("maria", d), proof: tamper(func(a *proof.Assertion) { a.Subject = "omar" }),
			wantReason: "proof.sub", thenApprove: []string{"maria"}},
		{name: "expired proof", plan: fmPlan, refused: approve("maria", d), proof: tamper(func(a *proof.Assertion) {
			a.IssuedAt, a.ExpiresAt = a.IssuedAt.Add(-2*time.Hour), a.IssuedAt.Add(-time.Hour)
		}), wantReason: "proof.exp", thenApprove: []string{"maria"}},
		{name: "web key claiming a one-time code", plan: fmPlan, refused: approve("maria", d), proof: tamper(func(a *proof.Assertion) { a.Method = proof.MethodTOTP }),
			wantReason: "proof.method", thenApprove: []string{"maria"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.invoices, f.plan = []erp.Invoice{inv}, tc.plan
			decisions := append([]decision{}, tc.before...)
			decisions = append(decisions, decision{at: 2 * time.Hour, req: tc.refused, proof: tc.proof, wantRefused: tc.wantReason})
			for i, who := range tc.thenApprove {
				decisions = append(decisions, decision{at: time.Duration(3+i) * time.Hour, req: approve(who, d)})
			}
			var check func()
			_, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) { check = schedule(t, env, f, decisions) })
			require.NoError(t, err)
			check()
			assert.Equal(t, OutcomePaid, res.Outcome, res.Reason)
			assert.Len(t, res.Approvals, len(tc.plan.Slots), "the refused decision was not counted")
		})
	}
}

func TestInvalidSignalIsIgnoredAndRecorded(t *testing.T) {
	inv := bigInvoice()
	d := digestOf(t, inv, testVendor)
	f := newFake()
	f.invoices, f.plan = []erp.Invoice{inv}, fmPlan
	env, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) {
		schedule(t, env, f, []decision{
			{at: time.Hour, signal: true, req: approve("agent:payables-bot", d)},
			{at: 2 * time.Hour, signal: true, req: approve("maria", d)},
		})
	})
	require.NoError(t, err)
	assert.Equal(t, OutcomePaid, res.Outcome, res.Reason)
	require.Len(t, res.Approvals, 1)
	assert.Equal(t, "maria", res.Approvals[0].Approver)

	st := queryStatus(t, env)
	require.Len(t, st.RejectedMessages, 1)
	assert.Equal(t, "agent:payables-bot", st.RejectedMessages[0].Approver)
	assert.Contains(t, st.RejectedMessages[0].Reason, "is an agent")
	assert.True(t, st.RejectedMessages[0].At.Equal(testStart.Add(time.Hour)))
}

// Anyone who can signal the workflow can type "maria" into a payload. Such
// a signal is recorded as refused and admits nothing: the request expires.
func TestForgedSignalIsRecordedAndPaysNothing(t *testing.T) {
	inv := bigInvoice()
	d := digestOf(t, inv, testVendor)
	tests := []struct {
		name       string
		proof      proofFunc
		wantReason string
	}{
		{"no proof", rawProof(""), "proof: required"},
		{"untrusted key", signedBy(newTestSigner(), nil), "proof.kid: unknown key"},
		{"another run", signedBy(nil, func(a *proof.Assertion) { a.RunID = "another-run" }), "proof.runId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.invoices, f.plan = []erp.Invoice{inv}, fmPlan
			var afterForgery VendorPaymentStatus
			env, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) {
				schedule(t, env, f, []decision{{at: time.Hour, signal: true, req: approve("maria", d), proof: tc.proof}})
				env.RegisterDelayedCallback(func() { afterForgery = queryStatus(t, env) }, 2*time.Hour)
			})
			require.NoError(t, err)

			assert.Equal(t, StageAwaitingApproval, afterForgery.Stage, "the forgery decided nothing")
			assert.Equal(t, "finance-manager", afterForgery.AwaitingSlot)
			assert.Contains(t, afterForgery.PendingApprovers, "maria", "maria may still decide herself")
			assert.Empty(t, afterForgery.Approvals)

			assert.Equal(t, OutcomeExpired, res.Outcome, res.Reason)
			assert.Empty(t, res.Approvals)
			assert.Empty(t, f.releases, "nothing is released on a forged approval")
			st := queryStatus(t, env)
			require.Len(t, st.RejectedMessages, 1)
			assert.Equal(t, "maria", st.RejectedMessages[0].Approver)
			assert.Equal(t, d, st.RejectedMessages[0].ActionDigest)
			assert.Contains(t, st.RejectedMessages[0].Reason, tc.wantReason)
		})
	}
}

// A proof admits one decision in a run: its nonce is remembered, even after
// the approval it admitted was dropped, and a token with a used nonce is
// refused whatever else it says.
func TestProofIsUsedOnce(t *testing.T) {
	inv := bigInvoice()
	d := digestOf(t, inv, testVendor)
	// keep remembers the proof it makes, so a later decision can reuse it.
	var kept string
	keep := func(t *testing.T, f *fakeActivities, env *testsuite.TestWorkflowEnvironment, st approvals.Status, req ApprovalRequest) string {
		kept = webProof(t, f, env, st, req)
		return kept
	}
	reuse := func(*testing.T, *fakeActivities, *testsuite.TestWorkflowEnvironment, approvals.Status, ApprovalRequest) string {
		return kept
	}
	// sameNonce signs a proof that is right in every field but reuses the
	// nonce of the approval already accepted.
	sameNonce := func(t *testing.T, f *fakeActivities, env *testsuite.TestWorkflowEnvironment, st approvals.Status, req ApprovalRequest) string {
		require.NotEmpty(t, st.Approvals, "an approval with a proof is recorded")
		require.NotNil(t, st.Approvals[0].Proof)
		nonce := st.Approvals[0].Proof.Nonce
		return signedBy(nil, func(a *proof.Assertion) { a.Nonce = nonce })(t, f, env, st, req)
	}
	tests := []struct {
		name      string
		plan      ApprovalPlan
		invalid   []ApproverProblem
		decisions []decision
		want      []string // approvers in the final approvals
	}{
		{name: "cfo tier: maria's proof reused by chen for the cfo slot", plan: cfoPlan, decisions: []decision{
			{at: time.Hour, req: approve("maria", d), proof: keep},
			{at: 2 * time.Hour, req: approve("chen", d), proof: reuse, wantRefused: "proof.slot"},
			{at: 3 * time.Hour, req: approve("chen", d), proof: sameNonce, wantRefused: "proof.nonce"},
			{at: 4 * time.Hour, req: approve("chen", d)},
		}, want: []string{"maria", "chen"}},
		{name: "proof replayed after its approval was dropped", plan: fmPlan,
			invalid: []ApproverProblem{{Approver: "maria", Slot: "finance-manager", Reason: "maria no longer holds role finance-manager"}},
			decisions: []decision{
				{at: time.Hour, req: approve("maria", d), proof: keep},
				// Within the token's hour of life, so only its nonce is wrong.
				{at: 90 * time.Minute, req: approve("maria", d), proof: reuse, wantRefused: "proof.nonce"},
				{at: 3 * time.Hour, req: approve("lena", d)},
			}, want: []string{"lena"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kept = ""
			f := newFake()
			f.invoices, f.plan, f.invalidApprovers = []erp.Invoice{inv}, tc.plan, tc.invalid
			var check func()
			_, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) { check = schedule(t, env, f, tc.decisions) })
			require.NoError(t, err)
			check()
			assert.Equal(t, OutcomePaid, res.Outcome, res.Reason)
			var got []string
			nonces := map[string]bool{}
			for _, a := range res.Approvals {
				got = append(got, a.Approver)
				require.NotNil(t, a.Proof)
				assert.False(t, nonces[a.Proof.Nonce], "nonce %s admitted two decisions", a.Proof.Nonce)
				nonces[a.Proof.Nonce] = true
			}
			assert.Equal(t, tc.want, got)
			require.Len(t, f.releases, 1)
		})
	}
}

// A person without the web app types the six-digit code from their
// authenticator app; a worker activity checks it and signs an assertion
// (method totp), which is what the recorded approval carries.
func TestApprovalByOneTimeCode(t *testing.T) {
	inv := bigInvoice()
	d := digestOf(t, inv, testVendor)
	tests := []struct {
		name        string
		decisions   []decision
		wantCodes   int
		wantRefused string // substring of the one recorded refused signal
	}{
		{name: "signal with the right code", decisions: []decision{
			{at: time.Hour, signal: true, req: approve("maria", d), proof: rawProof(testCode)},
		}, wantCodes: 1},
		{name: "update with the right code", decisions: []decision{
			{at: time.Hour, req: approve("maria", d), proof: rawProof(" " + testCode + "\n")},
		}, wantCodes: 1},
		{name: "signal with a wrong code is recorded as refused", decisions: []decision{
			{at: time.Hour, signal: true, req: approve("maria", d), proof: rawProof("654321")},
			{at: 2 * time.Hour, signal: true, req: approve("maria", d), proof: rawProof(testCode)},
		}, wantCodes: 2, wantRefused: "proof: one-time code refused: proof.totp: invalid code"},
		{name: "update with a wrong code fails and decides nothing", decisions: []decision{
			{at: time.Hour, req: approve("maria", d), proof: rawProof("654321"), wantFailed: "one-time code refused"},
			{at: 2 * time.Hour, req: approve("maria", d), proof: rawProof(testCode)},
		}, wantCodes: 2},
		{name: "a code is checked only after the rules", decisions: []decision{
			{at: time.Hour, req: approve("sofia", d), proof: rawProof(testCode), wantRefused: "may not decide"},
			{at: 2 * time.Hour, req: approve("maria", d), proof: rawProof(testCode)},
		}, wantCodes: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.invoices, f.plan = []erp.Invoice{inv}, fmPlan
			var check func()
			var runID string
			env, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) {
				check = schedule(t, env, f, tc.decisions)
				env.RegisterDelayedCallback(func() { runID = queryApprovals(t, env).RunID }, 30*time.Minute)
			})
			require.NoError(t, err)
			check()
			assert.Equal(t, OutcomePaid, res.Outcome, res.Reason)
			require.Len(t, res.Approvals, 1)
			a := res.Approvals[0]
			assert.Equal(t, "maria", a.Approver)
			require.NotNil(t, a.Proof)
			assert.Equal(t, proof.MethodTOTP, a.Proof.Method)
			assert.Equal(t, f.worker.KeyID(), a.Proof.KeyID, "signed by the worker, not the web app")
			assert.True(t, strings.HasPrefix(a.Proof.Token, "eo1."), "the code is replaced by the signed assertion")
			require.Len(t, f.releases, 1)

			require.Len(t, f.codeReqs, tc.wantCodes)
			last := f.codeReqs[len(f.codeReqs)-1]
			assert.Equal(t, approvals.CodeCheck{
				WorkflowID: testWorkflowID, RunID: runID, Slot: "finance-manager", ActionDigest: d,
				Decision: DecisionApprove, Approver: "maria", Code: testCode,
			}, last)

			rejected := queryStatus(t, env).RejectedMessages
			if tc.wantRefused == "" {
				assert.Empty(t, rejected)
				return
			}
			require.Len(t, rejected, 1)
			assert.Equal(t, "maria", rejected[0].Approver)
			assert.Contains(t, rejected[0].Reason, tc.wantRefused)
		})
	}
}

// A deny for a reason no approval lifts (the treasury cut-off) ends the run
// "denied" before anyone is asked, and nothing is released.
func TestGateHardDenyEndsDenied(t *testing.T) {
	window := gate.Reason{PolicyID: "payment.window", Message: "treasury end-of-day cut-off"}
	tests := []struct {
		name   string
		amount int64
	}{
		{"small payment", 120000},
		{"payment that also needs approval", 1_200_000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.invoices, f.plan, f.gateDeny = []erp.Invoice{testInvoice(tc.amount)}, fmPlan, []gate.Reason{window}
			if tc.amount <= 500000 {
				f.plan = testPlanAuto
			}
			env, res, err := runVP(t, f, personInput, nil)
			require.NoError(t, err)
			assert.Equal(t, OutcomeDenied, res.Outcome)
			assert.Contains(t, res.Reason, "payment.window")
			assert.Contains(t, res.Reason, "treasury end-of-day cut-off")
			assert.Zero(t, f.count(ActivityReleasePayment), "a denied payment is never released")
			assert.Zero(t, f.count(ActivityNotifyApprovers), "nobody is asked to approve what is denied anyway")
			assert.Equal(t, 1, f.count(ActivityEvaluateGate))

			st := queryStatus(t, env)
			assert.Equal(t, OutcomeDenied, st.Outcome)
			require.NotNil(t, st.Gate)
			assert.False(t, st.Gate.Permit)
			assert.False(t, st.Gate.NeedsApprovalOnly())
		})
	}
}

// A gate that cannot decide fails closed: nothing is paid and finance
// operations are told.
func TestGateUndecidableFailsClosed(t *testing.T) {
	f := newFake()
	f.gateErr = temporal.NewNonRetryableApplicationError("gate: undecidable: policies in dir: no *.cedar files", ErrTypeGateUndecidable, nil)
	_, res, err := runVP(t, f, validInput, nil)
	require.NoError(t, err)
	assert.Equal(t, OutcomeFailed, res.Outcome)
	assert.Contains(t, res.Reason, "gate: gate: undecidable")
	assert.Contains(t, res.Reason, "(escalated)")
	assert.Zero(t, f.count(ActivityReleasePayment))
	require.Len(t, f.escalated, 1)
	assert.Contains(t, f.escalated[0].Body, "Nothing was paid")
}

// The directory's tier may need nobody while the gate still wants someone:
// splitting payments to one vendor hits the daily cap. The workflow then
// plans for the roles the gate names and pays once they approved.
func TestGateApprovalOnlyDenyAsksForRoles(t *testing.T) {
	inv := testInvoice(120000)
	d := digestOf(t, inv, testVendor)
	f := newFake()
	f.invoices, f.plan, f.rolesPlan = []erp.Invoice{inv}, testPlanAuto, fmPlan
	f.releasedToday = 450000 // + 1 200.00 today exceeds the 5 000.00 cap
	var check func()
	var waiting VendorPaymentStatus
	_, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) {
		check = schedule(t, env, f, []decision{{at: time.Hour, req: approve("maria", d)}})
		env.RegisterDelayedCallback(func() { waiting = queryStatus(t, env) }, 30*time.Minute)
	})
	require.NoError(t, err)
	check()
	assert.Equal(t, OutcomePaid, res.Outcome, res.Reason)
	require.Len(t, res.Approvals, 1)
	assert.Equal(t, "maria", res.Approvals[0].Approver)
	require.Len(t, f.releases, 1)
	assert.Equal(t, res.Approvals, f.releases[0].Approvals)

	require.GreaterOrEqual(t, len(f.planReqs), 2)
	assert.Empty(t, f.planReqs[0].Roles, "the first plan is the tier's")
	assert.Equal(t, []string{"finance-manager"}, f.planReqs[1].Roles, "then the roles the gate asks for")

	assert.Equal(t, StageAwaitingApproval, waiting.Stage)
	assert.Equal(t, "finance-manager", waiting.AwaitingSlot)
	assert.Equal(t, fmPlan.Tier, waiting.Tier)
	require.NotNil(t, waiting.Gate)
	assert.Equal(t, []string{"finance-manager"}, waiting.Gate.ApprovalRoles())
	assert.Equal(t, "vendor.daily-cap", waiting.Gate.Reasons[0].PolicyID)
}

func TestPayloadChangedAfterApprovalIsReapproved(t *testing.T) {
	before := bigInvoice()
	after := bigInvoice()
	after.AmountMinor = 1_250_000 // the ERP amount changed after maria approved
	dBefore, dAfter := digestOf(t, before, testVendor), digestOf(t, after, testVendor)
	f := newFake()
	f.invoices, f.plan = []erp.Invoice{before, after}, fmPlan

	var check func()
	env, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) {
		check = schedule(t, env, f, []decision{
			{at: time.Hour, req: approve("maria", dBefore)},
			{at: 2 * time.Hour, req: approve("maria", dBefore), wantRefused: "actionDigest"},
			{at: 3 * time.Hour, req: approve("maria", dAfter)},
		})
	})
	require.NoError(t, err)
	check()
	assert.Equal(t, OutcomePaid, res.Outcome, res.Reason)
	require.Len(t, f.releases, 1)
	assert.Equal(t, dAfter, f.releases[0].ActionDigest, "releases exactly the re-approved action")
	assert.Equal(t, int64(1_250_000), f.releases[0].Action.AmountMinor)
	require.Len(t, res.Approvals, 1)
	assert.Equal(t, dAfter, res.Approvals[0].ActionDigest)

	notified := f.snapshotNotified()
	require.Len(t, notified, 2)
	assert.Equal(t, dBefore, notified[0].ActionDigest)
	assert.Equal(t, dAfter, notified[1].ActionDigest)
	assert.Equal(t, NotifyRequest, notified[1].Kind)
	assert.Equal(t, 2, queryStatus(t, env).ApprovalRounds)
	assert.Equal(t, 3, f.loads, "the release follows a fresh read")
}

func TestGateReRequestsStaleOrUnauthorisedApprovals(t *testing.T) {
	inv := bigInvoice()
	d := digestOf(t, inv, testVendor)
	tests := []struct {
		name      string
		plan      ApprovalPlan
		invalid   []ApproverProblem
		decisions []decision
		want      []string // approvers in the final approvals
	}{
		{name: "approval older than validity", plan: cfoPlan, decisions: []decision{
			{at: time.Hour, req: approve("maria", d)},
			{at: 80 * time.Hour, req: approve("chen", d)}, // maria's is now 79h old > 72h
			{at: 81 * time.Hour, req: approve("maria", d)},
		}, want: []string{"chen", "maria"}},
		{name: "approver lost the role", plan: fmPlan,
			invalid: []ApproverProblem{{Approver: "maria", Slot: "finance-manager", Reason: "maria no longer holds role finance-manager"}},
			decisions: []decision{
				{at: time.Hour, req: approve("maria", d)},
				{at: 2 * time.Hour, req: approve("lena", d)},
			}, want: []string{"lena"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.invoices, f.plan, f.invalidApprovers = []erp.Invoice{inv}, tc.plan, tc.invalid
			var check func()
			_, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) { check = schedule(t, env, f, tc.decisions) })
			require.NoError(t, err)
			check()
			assert.Equal(t, OutcomePaid, res.Outcome, res.Reason)
			var got []string
			for _, a := range res.Approvals {
				got = append(got, a.Approver)
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, 2, f.count(ActivityCheckApprovers), "approvers are re-checked at every gate")
			require.Len(t, f.releases, 1)
		})
	}
}

func TestRejectionEndsWithoutPaying(t *testing.T) {
	inv := bigInvoice()
	d := digestOf(t, inv, testVendor)
	tests := []struct {
		requester     string
		wantRequester int
	}{
		{"ana", 1},
		{"agent:payables-bot", 0}, // agents are not emailed
	}
	for _, tc := range tests {
		t.Run(tc.requester, func(t *testing.T) {
			f := newFake()
			f.invoices, f.plan = []erp.Invoice{inv}, fmPlan
			var check func()
			_, res, err := runVP(t, f, VendorPaymentInput{InvoiceID: "INV-1042", RequestedBy: tc.requester}, func(env *testsuite.TestWorkflowEnvironment) {
				check = schedule(t, env, f, []decision{{at: time.Hour, req: ApprovalRequest{
					Decision: DecisionReject, Approver: "maria", ActionDigest: d, Comment: "vendor disputes the amount",
				}}})
			})
			require.NoError(t, err)
			check()
			assert.Equal(t, OutcomeRejected, res.Outcome)
			assert.Contains(t, res.Reason, "rejected by maria")
			assert.Contains(t, res.Reason, "vendor disputes the amount")
			assert.Empty(t, f.releases)
			assert.Len(t, f.requester, tc.wantRequester)
			require.Len(t, f.notes, 1)
			assert.Contains(t, f.notes[0].Text, "rejected")
			require.Len(t, res.Approvals, 1)
			assert.Equal(t, DecisionReject, res.Approvals[0].Decision)
			require.NotNil(t, res.Approvals[0].Proof, "a rejection is proven too")
		})
	}
}

// A new execution whose requester is "cli:Maria" does not await, email or
// accept maria; another finance manager decides.
func TestRequesterCannotApproveUnderAnotherSpelling(t *testing.T) {
	inv := bigInvoice()
	d := digestOf(t, inv, testVendor)
	for _, requester := range []string{"cli:Maria", "Maria", "user:maria"} {
		t.Run(requester, func(t *testing.T) {
			f := newFake()
			f.invoices, f.plan = []erp.Invoice{inv}, fmPlan
			var check func()
			var waiting VendorPaymentStatus
			_, res, err := runVP(t, f, VendorPaymentInput{InvoiceID: "INV-1042", RequestedBy: requester}, func(env *testsuite.TestWorkflowEnvironment) {
				check = schedule(t, env, f, []decision{
					{at: time.Hour, req: approve("maria", d), wantRefused: "requested this action"},
					{at: 2 * time.Hour, req: approve("lena", d)},
				})
				env.RegisterDelayedCallback(func() { waiting = queryStatus(t, env) }, 30*time.Minute)
			})
			require.NoError(t, err)
			check()
			assert.Equal(t, OutcomePaid, res.Outcome, res.Reason)
			require.Len(t, res.Approvals, 1)
			assert.Equal(t, "lena", res.Approvals[0].Approver)
			assert.Equal(t, []string{"omar", "lena"}, waiting.PendingApprovers, "the requester is not awaited")
			notified := f.snapshotNotified()
			require.NotEmpty(t, notified)
			assert.NotContains(t, notified[0].Approvers, "maria", "the requester is not asked")
		})
	}
}

// Executions that started before changeStrictApprovals (and so before
// changeProvenApprovals) keep the exact comparison, as their histories
// recorded it.
func TestRequesterIdentityBeforeStrictApprovals(t *testing.T) {
	inv := bigInvoice()
	d := digestOf(t, inv, testVendor)
	f := newFake()
	f.invoices, f.plan = []erp.Invoice{inv}, fmPlan
	var check func()
	_, res, err := runVP(t, f, VendorPaymentInput{InvoiceID: "INV-1042", RequestedBy: "cli:Maria"}, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnGetVersion(changeStrictApprovals, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		env.OnGetVersion(changeProvenApprovals, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		check = schedule(t, env, f, []decision{{at: time.Hour, req: approve("maria", d)}})
	})
	require.NoError(t, err)
	check()
	assert.Equal(t, OutcomePaid, res.Outcome, res.Reason)
	require.Len(t, res.Approvals, 1)
	assert.Equal(t, "maria", res.Approvals[0].Approver)
}

// Executions that started before changeProvenApprovals keep their rules: a
// decision counts without a proof, the plan alone decides whether people
// are needed, and the release is not sent the approvals to verify.
func TestBeforeProvenApprovals(t *testing.T) {
	inv := bigInvoice()
	d := digestOf(t, inv, testVendor)
	f := newFake()
	f.invoices, f.plan = []erp.Invoice{inv}, fmPlan
	var check func()
	var waiting approvals.Status
	_, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnGetVersion(changeProvenApprovals, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		check = schedule(t, env, f, []decision{{at: time.Hour, req: approve("maria", d), proof: rawProof("")}})
		env.RegisterDelayedCallback(func() { waiting = queryApprovals(t, env) }, 30*time.Minute)
	})
	require.NoError(t, err)
	check()
	assert.Equal(t, OutcomePaid, res.Outcome, res.Reason)
	require.Len(t, res.Approvals, 1)
	assert.Nil(t, res.Approvals[0].Proof)
	assert.False(t, waiting.ProofRequired)
	assert.Zero(t, f.count(ActivityEvaluateGate))
	assert.Zero(t, f.count(ActivityLoadTrust))
	require.Len(t, f.releases, 1)
	assert.Empty(t, f.releases[0].Approvals)
	assert.Empty(t, f.releases[0].RequestedBy)
}

// A decision that arrives in the same workflow task as a deadline's timer is
// counted once and not lost: the deadline's action (reminder, escalation)
// runs, then the decision ends the wait. This pins the behaviour the
// `ok || w.decided` guard in awaitSlot protects; it passes without the guard
// too, because AwaitWithOptions checks the condition before the timer.
func TestDecisionAtADeadline(t *testing.T) {
	inv := bigInvoice()
	d := digestOf(t, inv, testVendor)
	tests := []struct {
		name       string
		at         time.Duration
		signal     bool
		wantNotify int // approver emails: the request and the deadline's
	}{
		{"update at the reminder", fmPlan.ReminderAfter, false, 2},
		{"signal at the reminder", fmPlan.ReminderAfter, true, 2},
		{"update at the escalation", fmPlan.EscalateAfter, false, 3},
		{"signal at the escalation", fmPlan.EscalateAfter, true, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.invoices, f.plan = []erp.Invoice{inv}, fmPlan
			var check func()
			env, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) {
				check = schedule(t, env, f, []decision{{at: tc.at, signal: tc.signal, req: approve("maria", d)}})
			})
			require.NoError(t, err)
			check()
			assert.Equal(t, OutcomePaid, res.Outcome, res.Reason)
			require.Len(t, res.Approvals, 1)
			assert.Equal(t, "maria", res.Approvals[0].Approver)
			assert.Len(t, f.releases, 1)
			assert.Equal(t, tc.wantNotify, len(f.snapshotNotified()))
			assert.Empty(t, queryStatus(t, env).RejectedMessages)
		})
	}
}

// A signal the SDK could not decode into ApprovalRequest is recorded as
// ignored, naming the bad field, and the workflow keeps waiting.
func TestMalformedSignalIsRecorded(t *testing.T) {
	inv := bigInvoice()
	d := digestOf(t, inv, testVendor)
	f := newFake()
	f.invoices, f.plan = []erp.Invoice{inv}, fmPlan
	var afterBad VendorPaymentStatus
	var check func()
	env, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(ApprovalSignal, map[string]any{"decision": 5, "approver": "maria", "actionDigest": d})
		}, time.Hour)
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(ApprovalSignal, "approve") }, 90*time.Minute)
		env.RegisterDelayedCallback(func() { afterBad = queryStatus(t, env) }, 2*time.Hour)
		check = schedule(t, env, f, []decision{{at: 3 * time.Hour, req: approve("maria", d)}})
	})
	require.NoError(t, err)
	check()

	assert.Equal(t, StageAwaitingApproval, afterBad.Stage, "a malformed signal decides nothing")
	assert.Equal(t, "finance-manager", afterBad.AwaitingSlot)
	assert.Empty(t, afterBad.Approvals)
	require.Len(t, afterBad.RejectedMessages, 2)
	bad := afterBad.RejectedMessages[0]
	assert.Equal(t, "maria", bad.Approver, "the fields that decoded say who sent it")
	assert.Contains(t, bad.Reason, "decision: must be a string")
	assert.True(t, bad.At.Equal(testStart.Add(time.Hour)))
	assert.Contains(t, afterBad.RejectedMessages[1].Reason, "payload: must be a JSON object")

	assert.Equal(t, OutcomePaid, res.Outcome, res.Reason)
	require.Len(t, res.Approvals, 1)
	assert.Equal(t, "maria", res.Approvals[0].Approver)
	assert.Len(t, queryStatus(t, env).RejectedMessages, 2)
}

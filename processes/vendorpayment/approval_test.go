package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/connectors/erp"
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

// decision is an approval sent at a point in (mocked) workflow time.
type decision struct {
	at     time.Duration
	signal bool // send as Signal instead of Update
	req    ApprovalRequest
	// wantRefused is a substring of the validator's refusal; "" = accepted.
	wantRefused string
}

// schedule registers the decisions and returns a func that asserts, after
// the run, that each Update was accepted or refused as expected.
func schedule(t *testing.T, env *testsuite.TestWorkflowEnvironment, decisions []decision) func() {
	t.Helper()
	outcomes := make([]string, len(decisions))
	seen := make([]bool, len(decisions))
	for i, d := range decisions {
		env.RegisterDelayedCallback(func() {
			if d.signal {
				env.SignalWorkflow(ApprovalSignal, d.req)
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
			}, d.req)
		}, d.at)
	}
	return func() {
		t.Helper()
		for i, d := range decisions {
			if d.signal {
				continue
			}
			require.True(t, seen[i], "decision %d (%s by %s) never reached the workflow", i, d.req.Decision, d.req.Approver)
			if d.wantRefused == "" {
				assert.Empty(t, outcomes[i], "decision %d by %s", i, d.req.Approver)
			} else {
				assert.Contains(t, outcomes[i], "refused: ", "decision %d by %s should be refused", i, d.req.Approver)
				assert.Contains(t, outcomes[i], d.wantRefused, "decision %d by %s", i, d.req.Approver)
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
				check = schedule(t, env, tc.decisions)
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
			}
			require.Len(t, f.releases, 1)
			assert.Equal(t, d, f.releases[0].ActionDigest)

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

			st := queryStatus(t, env)
			assert.Empty(t, st.PendingApprovers)
			assert.Nil(t, st.AwaitingSince)
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

func TestApprovalUpdateValidatorRefusals(t *testing.T) {
	inv := bigInvoice()
	d := digestOf(t, inv, testVendor)
	tests := []struct {
		name        string
		plan        ApprovalPlan
		refused     ApprovalRequest
		wantReason  string
		before      []decision // accepted decisions before the refused one
		thenApprove []string   // approvers who finish the run afterwards
	}{
		{name: "requester", plan: fmPlan, refused: approve("ana", d), wantReason: "requested this payment", thenApprove: []string{"maria"}},
		{name: "agent", plan: fmPlan, refused: approve("agent:payables-bot", d), wantReason: "is an agent", thenApprove: []string{"maria"}},
		{name: "stranger", plan: fmPlan, refused: approve("sofia", d), wantReason: "may not decide", thenApprove: []string{"maria"}},
		{name: "wrong digest", plan: fmPlan, refused: approve("maria", "sha256:0000"), wantReason: "actionDigest", thenApprove: []string{"maria"}},
		{name: "unknown decision", plan: fmPlan, refused: ApprovalRequest{Decision: "maybe", Approver: "maria", ActionDigest: d}, wantReason: "decision", thenApprove: []string{"maria"}},
		{name: "missing approver", plan: fmPlan, refused: ApprovalRequest{Decision: DecisionApprove, ActionDigest: d}, wantReason: "approver: required", thenApprove: []string{"maria"}},
		{name: "same person for two slots", plan: cfoPlan, before: []decision{{at: time.Hour, req: approve("maria", d)}},
			refused: approve("maria", d), wantReason: "one person cannot fill two slots", thenApprove: []string{"chen"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.invoices, f.plan = []erp.Invoice{inv}, tc.plan
			decisions := append([]decision{}, tc.before...)
			decisions = append(decisions, decision{at: 2 * time.Hour, req: tc.refused, wantRefused: tc.wantReason})
			for i, who := range tc.thenApprove {
				decisions = append(decisions, decision{at: time.Duration(3+i) * time.Hour, req: approve(who, d)})
			}
			var check func()
			_, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) { check = schedule(t, env, decisions) })
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
		schedule(t, env, []decision{
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

func TestPayloadChangedAfterApprovalIsReapproved(t *testing.T) {
	before := bigInvoice()
	after := bigInvoice()
	after.AmountMinor = 1_250_000 // the ERP amount changed after maria approved
	dBefore, dAfter := digestOf(t, before, testVendor), digestOf(t, after, testVendor)
	f := newFake()
	f.invoices, f.plan = []erp.Invoice{before, after}, fmPlan

	var check func()
	env, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) {
		check = schedule(t, env, []decision{
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
			_, res, err := runVP(t, f, personInput, func(env *testsuite.TestWorkflowEnvironment) { check = schedule(t, env, tc.decisions) })
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
				check = schedule(t, env, []decision{{at: time.Hour, req: ApprovalRequest{
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
		})
	}
}

func TestCheckApprovalRules(t *testing.T) {
	v := approvalView{
		Stage: StageAwaitingApproval, Slot: "cfo", RequestedBy: "ana", ActionDigest: "sha256:aa",
		Awaited:   []awaitee{{ID: "chen"}, {ID: "sofia", OnBehalfOf: "chen"}},
		Approvals: []Approval{{Slot: "finance-manager", Approver: "maria", Decision: DecisionApprove}},
	}
	idle := v
	idle.Slot, idle.Awaited, idle.Stage = "", nil, StageReleasing
	tests := []struct {
		name      string
		view      approvalView
		req       ApprovalRequest
		wantErr   string
		wantBehal string
	}{
		{"candidate", v, approve("chen", "sha256:aa"), "", ""},
		{"escalation target", v, approve("sofia", "sha256:aa"), "", "chen"},
		{"reject by candidate", v, ApprovalRequest{Decision: DecisionReject, Approver: "chen", ActionDigest: "sha256:aa"}, "", ""},
		{"requester", v, approve("ana", "sha256:aa"), "requested this payment", ""},
		{"agent, any case", v, approve("Agent:bot", "sha256:aa"), "is an agent", ""},
		{"stranger", v, approve("omar", "sha256:aa"), "may not decide", ""},
		{"second slot", v, approve("maria", "sha256:aa"), "one person cannot fill two slots", ""},
		{"wrong digest", v, approve("chen", "sha256:bb"), "actionDigest", ""},
		{"nothing awaited", idle, approve("chen", "sha256:aa"), "no decision is awaited", ""},
		{"bad decision", v, ApprovalRequest{Decision: "yes", Approver: "chen", ActionDigest: "sha256:aa"}, "decision", ""},
	}
	for _, tc := range tests {
		for _, strict := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/strict=%v", tc.name, strict), func(t *testing.T) {
				view := tc.view
				view.Strict = strict
				behalf, err := checkApproval(tc.req, view)
				if tc.wantErr == "" {
					require.NoError(t, err)
					assert.Equal(t, tc.wantBehal, behalf)
					return
				}
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
			})
		}
	}
}

// The requester may not approve under another spelling of their identity.
// Under the rules of executions started before changeStrictApprovals the
// comparison stays exact, so their histories replay unchanged.
func TestCheckApprovalRequesterIdentity(t *testing.T) {
	view := func(requester string, strict bool) approvalView {
		return approvalView{
			Stage: StageAwaitingApproval, Slot: "finance-manager", RequestedBy: requester, ActionDigest: "sha256:aa",
			Awaited: []awaitee{{ID: "maria"}, {ID: "omar"}}, Strict: strict,
		}
	}
	tests := []struct {
		name      string
		requester string
		approver  string
		strict    bool
		wantErr   string // "" = accepted
	}{
		{"cli prefix and case", "cli:Maria", "maria", true, "requested this payment"},
		{"case only", "Maria", "maria", true, "requested this payment"},
		{"user prefix", "user:maria", "maria", true, "requested this payment"},
		{"person prefix and spaces", " person:MARIA ", "maria", true, "requested this payment"},
		{"nested prefixes", "web:user:maria", "maria", true, "requested this payment"},
		{"exact match", "maria", "maria", true, "requested this payment"},
		{"agent of the same name is not maria", "agent:maria", "maria", true, ""},
		{"someone else", "cli:omar", "maria", true, ""},
		{"approver prefixed agent", "ana", "user:agent:bot", true, "is an agent"},
		{"before the change: exact only", "cli:Maria", "maria", false, ""},
		{"before the change: exact match", "maria", "maria", false, "requested this payment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkApproval(approve(tc.approver, "sha256:aa"), view(tc.requester, tc.strict))
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestPersonKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"maria", "maria"},
		{"Maria", "maria"},
		{"cli:Maria", "maria"},
		{"user: maria", "maria"},
		{"agent:Payables-Bot", "agent:payables-bot"},
		{"cli:agent:bot", "agent:bot"},
		{"1x:maria", "1x:maria"}, // not a scheme
		{"", ""},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, personKey(tc.in), "personKey(%q)", tc.in)
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
				check = schedule(t, env, []decision{
					{at: time.Hour, req: approve("maria", d), wantRefused: "requested this payment"},
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

// Executions that started before changeStrictApprovals keep the exact
// comparison, as their histories recorded it.
func TestRequesterIdentityBeforeStrictApprovals(t *testing.T) {
	inv := bigInvoice()
	d := digestOf(t, inv, testVendor)
	f := newFake()
	f.invoices, f.plan = []erp.Invoice{inv}, fmPlan
	var check func()
	_, res, err := runVP(t, f, VendorPaymentInput{InvoiceID: "INV-1042", RequestedBy: "cli:Maria"}, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnGetVersion(changeStrictApprovals, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		check = schedule(t, env, []decision{{at: time.Hour, req: approve("maria", d)}})
	})
	require.NoError(t, err)
	check()
	assert.Equal(t, OutcomePaid, res.Outcome, res.Reason)
	require.Len(t, res.Approvals, 1)
	assert.Equal(t, "maria", res.Approvals[0].Approver)
}

func TestAwaitedFor(t *testing.T) {
	ids := func(ws []awaitee) []string {
		var out []string
		for _, w := range ws {
			out = append(out, w.ID+"/"+w.OnBehalfOf)
		}
		return out
	}
	tests := []struct {
		name      string
		slot      ApprovalSlot
		escalated bool
		requester string
		approvals []Approval
		strict    bool
		want      []string
	}{
		{"candidates and delegates", fmSlot, false, "ana", nil, true, []string{"maria/", "omar/", "lena/omar"}},
		{"escalated adds managers once", fmSlot, true, "ana", nil, true, []string{"maria/", "omar/", "lena/omar", "chen/maria"}},
		{"requester excluded", fmSlot, false, "maria", nil, true, []string{"omar/", "lena/omar"}},
		{"requester excluded under another spelling", fmSlot, false, "cli:Maria", nil, true, []string{"omar/", "lena/omar"}},
		{"before strict approvals: exact only", fmSlot, false, "cli:Maria", nil, false, []string{"maria/", "omar/", "lena/omar"}},
		{"slot filler excluded", cfoSlot, false, "ana", []Approval{{Approver: "chen", Slot: "finance-manager"}}, true, nil},
		{"escalation after exclusion", cfoSlot, true, "ana", []Approval{{Approver: "chen", Slot: "finance-manager"}}, true, []string{"sofia/chen"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ids(awaitedFor(tc.slot, tc.escalated, tc.requester, tc.approvals, tc.strict)))
		})
	}
}

// A decision that arrives in the same workflow task as a deadline's timer is
// counted once and not lost: the deadline's action (reminder, escalation)
// runs, then the decision ends the wait. This pins the behaviour the
// `ok || r.decided` guard in awaitSlot protects; it passes without the guard
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
				check = schedule(t, env, []decision{{at: tc.at, signal: tc.signal, req: approve("maria", d)}})
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

func TestDecodeApprovalSignal(t *testing.T) {
	tests := []struct {
		name         string
		raw          string
		strict       bool
		wantErr      string // prefix; "" = decodes
		wantApprover string
	}{
		{"valid", `{"decision":"approve","approver":"maria","actionDigest":"sha256:aa","comment":"ok"}`, true, "", "maria"},
		{"number for decision", `{"decision":5,"approver":"maria","actionDigest":"sha256:aa"}`, true, "decision: must be a string, got a JSON number", "maria"},
		{"object for approver", `{"decision":"approve","approver":{"id":"maria"}}`, true, "approver: must be a string, got a JSON object", ""},
		{"not an object", `"approve"`, true, "payload: must be a JSON object, got a JSON string", ""},
		{"not JSON", `{"decision":`, true, "payload: not valid JSON", ""},
		{"trailing data", `{"decision":"approve"} {}`, true, "payload: unexpected data after the JSON object", ""},
		{"empty", ``, true, "payload: empty", ""},
		{"unknown field", `{"decision":"approve","aprover":"maria"}`, true, "aprover: unknown field", ""},
		{"unknown field before strict approvals", `{"decision":"approve","approver":"maria","extra":1}`, false, "", "maria"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := decodeApprovalSignal(json.RawMessage(tc.raw), tc.strict)
			assert.Equal(t, tc.wantApprover, req.Approver)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), tc.wantErr), "error %q, want prefix %q", err, tc.wantErr)
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
		check = schedule(t, env, []decision{{at: 3 * time.Hour, req: approve("maria", d)}})
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

package approvals

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/telemetry/metricstest"
)

// fakeHost is a process as the kernel sees it. Its methods run in the test
// workflow, which never replays, so they may record, sign and fail freely.
type fakeHost struct {
	web, worker *proof.Signer
	trustErr    error
	notified    []string // kind:people
	ended       []string // outcome
	codes       []CodeCheck
	trustLoads  int
}

func newFakeHost(t *testing.T) *fakeHost {
	return &fakeHost{web: newSigner(t), worker: newSigner(t)}
}

func (h *fakeHost) SetStage(workflow.Context, string, string) {}

func (h *fakeHost) NotifyApprovers(_ workflow.Context, kind string, _ Slot, people []string, _ time.Time) {
	h.notified = append(h.notified, kind+":"+strings.Join(people, ","))
}

func (h *fakeHost) CheckApprovers(workflow.Context, []Approval) ([]Problem, error) { return nil, nil }

func (h *fakeHost) Ended(_ workflow.Context, outcome, _ string) { h.ended = append(h.ended, outcome) }

func (h *fakeHost) LoadTrust(workflow.Context) (proof.Trust, error) {
	h.trustLoads++
	if h.trustErr != nil {
		return proof.Trust{}, h.trustErr
	}
	return proof.Trust{Keys: []proof.TrustedKey{trusted(h.web, proof.IssuerWeb), trusted(h.worker, proof.IssuerWorker)}}, nil
}

// CheckCode accepts "123456" and signs it with the worker key, as the
// worker activity does.
func (h *fakeHost) CheckCode(ctx workflow.Context, req CodeCheck) (string, error) {
	h.codes = append(h.codes, req)
	if req.Code != "123456" {
		return "", errors.New("proof.totp: invalid code")
	}
	now := workflow.Now(ctx)
	return h.worker.Sign(proof.Assertion{
		Kind: proof.KindApproval, WorkflowID: req.WorkflowID, RunID: req.RunID, Slot: req.Slot, ActionDigest: req.ActionDigest,
		Decision: req.Decision, Subject: req.Approver, Method: proof.MethodTOTP, IssuedAt: now, ExpiresAt: now.Add(time.Minute),
	})
}

const waitDigest = "sha256:aa"

// waitResult is what the test workflow returns.
type waitResult struct {
	Ending *Ending
	Status Status
}

// runWait runs a workflow that collects plan's approvals under rules, with
// requester asking; setup may schedule decisions. The Waiter is returned
// for the status the query would show.
func runWait(t *testing.T, h *fakeHost, rules Rules, requester string, plan Plan, setup func(env *testsuite.TestWorkflowEnvironment)) waitResult {
	t.Helper()
	return runWaitMetrics(t, h, rules, requester, plan, nil, setup)
}

// runWaitMetrics is runWait recording metrics with metrics (nil: none).
func runWaitMetrics(t *testing.T, h *fakeHost, rules Rules, requester string, plan Plan, metrics client.MetricsHandler, setup func(env *testsuite.TestWorkflowEnvironment)) waitResult {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	if metrics != nil {
		suite.SetMetricsHandler(metrics)
	}
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(testNow)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "wait-1"})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) (waitResult, error) {
		w, err := New(ctx, Config{
			Host: h, Rules: rules, RequestedBy: requester,
			ActionDigest: func() string { return waitDigest },
			Stage:        func() string { return StageAwaitingApproval },
			Process:      "test-process",
		})
		if err != nil {
			return waitResult{}, err
		}
		if err := workflow.SetQueryHandler(ctx, QueryName, func() (Status, error) {
			var st Status
			w.Fill(&st)
			return st, nil
		}); err != nil {
			return waitResult{}, err
		}
		end, err := w.Collect(ctx, plan)
		if err != nil {
			return waitResult{}, err
		}
		var st Status
		w.Fill(&st)
		return waitResult{Ending: end, Status: st}, nil
	}, workflow.RegisterOptions{Name: "Wait"})
	if setup != nil {
		setup(env)
	}
	env.ExecuteWorkflow("Wait")
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res waitResult
	require.NoError(t, env.GetWorkflowResult(&res))
	return res
}

// webToken signs who's decision on the slot the "approvals" query says is
// awaited, for the run it names.
func webToken(t *testing.T, h *fakeHost, env *testsuite.TestWorkflowEnvironment, who, decision string) string {
	t.Helper()
	v, err := env.QueryWorkflow(QueryName)
	require.NoError(t, err)
	var st Status
	require.NoError(t, v.Get(&st))
	now := env.Now()
	token, err := h.web.Sign(proof.Assertion{
		Kind: proof.KindApproval, WorkflowID: "wait-1", RunID: st.RunID, Slot: st.AwaitingSlot, ActionDigest: waitDigest,
		Decision: decision, Subject: who, Method: proof.MethodOIDC, IssuedAt: now, ExpiresAt: now.Add(time.Hour),
	})
	require.NoError(t, err)
	return token
}

func TestCollectProvenApprovals(t *testing.T) {
	h := newFakeHost(t)
	plan := Plan{Slots: []Slot{fmSlot, cfoSlot}, ReminderAfter: 4 * time.Hour, EscalateAfter: 24 * time.Hour, ExpireAfter: 72 * time.Hour}
	var receipts []Receipt
	var updateErrs []string
	update := func(env *testsuite.TestWorkflowEnvironment, id string, req Request) {
		env.UpdateWorkflow(UpdateName, id, &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { updateErrs = append(updateErrs, id+": "+err.Error()) },
			OnComplete: func(v any, err error) {
				if err != nil {
					updateErrs = append(updateErrs, id+": "+err.Error())
					return
				}
				receipts = append(receipts, v.(Receipt))
			},
		}, req)
	}
	res := runWait(t, h, Rules{Strict: true, RequireProof: true}, "ana", plan, func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(func() {
			req := approve("maria", waitDigest)
			req.Proof = webToken(t, h, env, "maria", DecisionApprove)
			update(env, "maria", req)
		}, time.Hour)
		env.RegisterDelayedCallback(func() {
			// chen by code, as a signal: the worker signs it.
			req := approve("chen", waitDigest)
			req.Proof = "123456"
			env.SignalWorkflow(SignalName, req)
		}, 2*time.Hour)
	})
	assert.Empty(t, updateErrs)
	assert.Nil(t, res.Ending, "all slots filled")
	require.Len(t, receipts, 1)
	assert.Equal(t, Receipt{Slot: "finance-manager", Decision: DecisionApprove, Remaining: []string{"cfo"}}, receipts[0])

	st := res.Status
	assert.True(t, st.ProofRequired)
	assert.NotEmpty(t, st.RunID, "the run a proof must be made for")
	require.Len(t, st.Approvals, 2)
	assert.Equal(t, proof.MethodOIDC, st.Approvals[0].Proof.Method)
	assert.Equal(t, proof.MethodTOTP, st.Approvals[1].Proof.Method)
	assert.Equal(t, h.worker.KeyID(), st.Approvals[1].Proof.KeyID)
	assert.NotEqual(t, st.Approvals[0].Proof.Nonce, st.Approvals[1].Proof.Nonce)
	require.Len(t, h.codes, 1)
	assert.Equal(t, CodeCheck{WorkflowID: "wait-1", RunID: st.RunID, Slot: "cfo", ActionDigest: waitDigest,
		Decision: DecisionApprove, Approver: "chen", Code: "123456"}, h.codes[0])
	assert.Equal(t, 2, h.trustLoads, "trusted keys are loaded for every slot")
	assert.Empty(t, st.AwaitingSlot)
	assert.Empty(t, st.PendingApprovers)
}

func TestCollectEndsWithoutApproval(t *testing.T) {
	plan := Plan{Slots: []Slot{fmSlot}, ReminderAfter: 4 * time.Hour, EscalateAfter: 24 * time.Hour, ExpireAfter: 72 * time.Hour}
	onlyMaria := Plan{Slots: []Slot{{Role: "finance-manager", Candidates: []Candidate{{ID: "maria"}}}}, ExpireAfter: time.Hour}
	tests := []struct {
		name         string
		trustErr     error
		requester    string
		plan         Plan
		wantOutcome  string
		wantReason   string
		wantNotified int
		wantEnded    []string
	}{
		{name: "trusted keys cannot be loaded", trustErr: errors.New("keys dir unreadable"), requester: "ana", plan: plan,
			wantOutcome: OutcomeFailed, wantReason: "load trusted keys: keys dir unreadable"},
		{name: "nobody may decide", requester: "maria", plan: onlyMaria,
			wantOutcome: OutcomeFailed, wantReason: `nobody may approve slot "finance-manager"`},
		{name: "nobody decides in time", requester: "ana", plan: plan,
			wantOutcome: OutcomeExpired, wantReason: "within 72h0m0s", wantNotified: 3, wantEnded: []string{OutcomeExpired}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost(t)
			h.trustErr = tc.trustErr
			res := runWait(t, h, Rules{Strict: true, RequireProof: true}, tc.requester, tc.plan, nil)
			require.NotNil(t, res.Ending)
			assert.Equal(t, tc.wantOutcome, res.Ending.Outcome)
			assert.Contains(t, res.Ending.Reason, tc.wantReason)
			assert.Len(t, h.notified, tc.wantNotified)
			assert.Equal(t, tc.wantEnded, h.ended)
			assert.Empty(t, res.Status.Approvals)
		})
	}
}

// A refused signal is kept in the status with its reason; a flood of them
// keeps only the latest, and a real digest is kept whole.
func TestRefusedSignalsAreRecordedAndBounded(t *testing.T) {
	h := newFakeHost(t)
	plan := Plan{Slots: []Slot{fmSlot}, ExpireAfter: 72 * time.Hour}
	digest := "sha256:" + strings.Repeat("ab", 32)
	n := maxRejectedMessages + 5
	res := runWait(t, h, Rules{Strict: true, RequireProof: true}, "ana", plan, func(env *testsuite.TestWorkflowEnvironment) {
		for i := range n {
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflow(SignalName, Request{Decision: DecisionApprove, Approver: fmt.Sprintf("p%d", i), ActionDigest: digest})
			}, time.Duration(i+1)*time.Minute)
		}
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(SignalName, Request{Decision: DecisionApprove, Approver: "maria", ActionDigest: waitDigest, Proof: "000000"})
		}, 2*time.Hour)
		env.RegisterDelayedCallback(func() {
			req := approve("maria", waitDigest)
			req.Proof = webToken(t, h, env, "maria", DecisionApprove)
			env.SignalWorkflow(SignalName, req)
		}, 3*time.Hour)
	})
	assert.Nil(t, res.Ending)
	require.Len(t, res.Status.Approvals, 1)
	rm := res.Status.RejectedMessages
	require.Len(t, rm, maxRejectedMessages)
	assert.Equal(t, fmt.Sprintf("p%d", n-maxRejectedMessages+1), rm[0].Approver, "the oldest are dropped")
	assert.Equal(t, digest, rm[0].ActionDigest, "a sha256 digest is not clipped")
	last := rm[len(rm)-1]
	assert.Equal(t, "maria", last.Approver)
	assert.Contains(t, last.Reason, "proof: one-time code refused")
}

// The wait records how long each slot waited for its decision, by
// decision; an expired slot had no decision and records nothing.
func TestTimeToApprovalIsRecorded(t *testing.T) {
	two := Plan{Slots: []Slot{fmSlot, cfoSlot}, ReminderAfter: 4 * time.Hour, EscalateAfter: 24 * time.Hour, ExpireAfter: 72 * time.Hour}
	one := Plan{Slots: []Slot{fmSlot}, ReminderAfter: 4 * time.Hour, EscalateAfter: 24 * time.Hour, ExpireAfter: 72 * time.Hour}
	decide := func(who, decision string, after time.Duration) func(*testing.T, *fakeHost, *testsuite.TestWorkflowEnvironment) {
		return func(t *testing.T, h *fakeHost, env *testsuite.TestWorkflowEnvironment) {
			env.RegisterDelayedCallback(func() {
				req := Request{Decision: decision, Approver: who, ActionDigest: waitDigest}
				req.Proof = webToken(t, h, env, who, decision)
				env.SignalWorkflow(SignalName, req)
			}, after)
		}
	}
	tests := []struct {
		name      string
		plan      Plan
		decisions []func(*testing.T, *fakeHost, *testsuite.TestWorkflowEnvironment)
		// per decision label: count and total seconds
		want map[string][2]float64
	}{
		{name: "two slots approved after 1h and 2h more", plan: two,
			decisions: []func(*testing.T, *fakeHost, *testsuite.TestWorkflowEnvironment){decide("maria", DecisionApprove, time.Hour), decide("chen", DecisionApprove, 3*time.Hour)},
			want:      map[string][2]float64{DecisionApprove: {2, 3 * 3600}, DecisionReject: {0, 0}}},
		{name: "rejected after 30m", plan: one,
			decisions: []func(*testing.T, *fakeHost, *testsuite.TestWorkflowEnvironment){decide("maria", DecisionReject, 30*time.Minute)},
			want:      map[string][2]float64{DecisionApprove: {0, 0}, DecisionReject: {1, 1800}}},
		{name: "expired records nothing", plan: one,
			want: map[string][2]float64{DecisionApprove: {0, 0}, DecisionReject: {0, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost(t)
			rec := metricstest.New(t)
			runWaitMetrics(t, h, Rules{Strict: true, RequireProof: true}, "ana", tc.plan, rec.Handler(), func(env *testsuite.TestWorkflowEnvironment) {
				for _, d := range tc.decisions {
					d(t, h, env)
				}
			})
			for decision, want := range tc.want {
				n, sum := rec.Histogram(t, process.MetricTimeToApproval, map[string]string{"process": "test-process", "decision": decision})
				assert.Equal(t, uint64(want[0]), n, decision)
				assert.InDelta(t, want[1], sum, 1, decision)
			}
		})
	}
}

package agentaction

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// wfStart is when the test runs start: Saturday 03:00 UTC.
var wfStart = time.Date(2026, 3, 7, 3, 0, 0, 0, time.UTC)

var (
	permit = gate.Decision{Permit: true, PolicySetHash: "sha256:policies"}
	// needsReleaseManager is the gate's answer to a production release
	// without approval.
	needsReleaseManager = gate.Decision{PolicySetHash: "sha256:policies", Reasons: []gate.Reason{{
		PolicyID: "deploy.production.approval", Approval: "release-manager", Message: "a production release needs a release-manager approval",
	}}}
	outsideWindow = gate.Decision{PolicySetHash: "sha256:policies", Reasons: []gate.Reason{{
		PolicyID: "deploy.maintenance-window", Message: "production releases only inside the maintenance window",
	}}}
)

// wfFixture answers AgentAction's activities through env.OnActivity mocks,
// recording what the workflow asked.
type wfFixture struct {
	keys keys
	dir  *policy.Directory

	// decide is the gate's answer to a request (default: permit).
	decide func(req GateRequest) gate.Decision
	// verifyErr, when set, is what Verify fails with.
	verifyErr error

	mu       sync.Mutex
	calls    map[string]int
	gateReqs []GateRequest
	execReqs []ExecuteRequest
	planReqs []PlanRequest
	notified []NotifyApproversRequest
}

func newWFFixture(t *testing.T) *wfFixture {
	t.Helper()
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	return &wfFixture{keys: newKeys(t), dir: dir, calls: map[string]int{},
		decide: func(GateRequest) gate.Decision { return permit }}
}

func (f *wfFixture) enter(name string) func() {
	f.mu.Lock()
	f.calls[name]++
	return f.mu.Unlock
}

func (f *wfFixture) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

// mockAll answers every activity the workflow may schedule.
func (f *wfFixture) mockAll(env *testsuite.TestWorkflowEnvironment) {
	RegisterActivities(env, &Activities{})
	env.OnActivity(ActivityLoadTrust, mock.Anything).Return(func(context.Context) (proof.Trust, error) {
		defer f.enter(ActivityLoadTrust)()
		return f.keys.trust, nil
	})
	env.OnActivity(ActivityResolve, mock.Anything, mock.Anything).Return(func(_ context.Context, req ResolveRequest) (json.RawMessage, error) {
		defer f.enter(ActivityResolve)()
		d, err := DecodeDeploy(Proposal{Kind: req.Kind, Target: req.Target, Params: req.Params})
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
		}
		b, err := json.Marshal(DeployAction{Kind: KindDeploy, Target: req.Target, Service: d.Service, Version: d.Version, ArtifactDigest: digestA, RequestedBy: req.RequestedBy})
		return b, err
	})
	env.OnActivity(ActivityPlanApprovals, mock.Anything, mock.Anything).Return(func(_ context.Context, req PlanRequest) (approvals.Plan, error) {
		defer f.enter(ActivityPlanApprovals)()
		f.planReqs = append(f.planReqs, req)
		return f.dir.PlanForRoles(req.Roles, req.Reason)
	})
	env.OnActivity(ActivityCheckApprovers, mock.Anything, mock.Anything).Return(func(ctx context.Context, aps []approvals.Approval) ([]approvals.Problem, error) {
		defer f.enter(ActivityCheckApprovers)()
		return (&Activities{Directory: f.dir}).AgentCheckApprovers(ctx, aps)
	})
	env.OnActivity(ActivityNotifyApprovers, mock.Anything, mock.Anything).Return(func(_ context.Context, req NotifyApproversRequest) error {
		defer f.enter(ActivityNotifyApprovers)()
		f.notified = append(f.notified, req)
		return nil
	})
	env.OnActivity(ActivityEvaluateGate, mock.Anything, mock.Anything).Return(func(_ context.Context, req GateRequest) (gate.Decision, error) {
		defer f.enter(ActivityEvaluateGate)()
		f.gateReqs = append(f.gateReqs, req)
		return f.decide(req), nil
	})
	env.OnActivity(ActivityExecute, mock.Anything, mock.Anything).Return(func(_ context.Context, req ExecuteRequest) (ExecuteResult, error) {
		defer f.enter(ActivityExecute)()
		f.execReqs = append(f.execReqs, req)
		d := f.decide(req.GateRequest)
		if !d.Permit {
			return ExecuteResult{}, temporal.NewNonRetryableApplicationError("the gate denies at the side effect: "+d.String(), ErrTypeGateDenied, nil, d)
		}
		return ExecuteResult{Ref: "rel-1", Decision: d}, nil
	})
	env.OnActivity(ActivityVerify, mock.Anything, mock.Anything).Return(func(_ context.Context, req VerifyRequest) (VerifyResult, error) {
		defer f.enter(ActivityVerify)()
		if f.verifyErr != nil {
			return VerifyResult{}, f.verifyErr
		}
		return VerifyResult{State: "healthy", Detail: "checkout 1.4.2 healthy", At: wfStart.Add(time.Hour)}, nil
	})
}

// deployInput is agent bot's proposal to release checkout 1.4.2 to target,
// with the gateway's start proof for its action id.
func (f *wfFixture) deployInput(t *testing.T, target string, confidence float64) Input {
	t.Helper()
	p := Proposal{
		Kind: KindDeploy, Target: target, Params: json.RawMessage(`{"service":"checkout","version":"1.4.2"}`),
		Justification: "fixes the checkout timeout", Confidence: confidence, IdempotencyKey: "key-1",
	}
	return Input{Proposal: p, RequestedBy: "agent:bot", RequesterProof: f.keys.startProof(t, WorkflowID("bot", "key-1"), "bot", wfStart.Add(-time.Minute), p)}
}

// run runs AgentAction with id wfID (default: the id bot's key-1 determines)
// in a time-skipping test environment; setup may schedule callbacks.
func (f *wfFixture) run(t *testing.T, in Input, wfID string, setup func(env *testsuite.TestWorkflowEnvironment)) (*testsuite.TestWorkflowEnvironment, Result, error) {
	t.Helper()
	if wfID == "" {
		wfID = WorkflowID("bot", "key-1")
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(wfStart)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: wfID})
	RegisterWorkflows(env, Config{})
	f.mockAll(env)
	if setup != nil {
		setup(env)
	}
	env.ExecuteWorkflow(Workflow, in)
	require.True(t, env.IsWorkflowCompleted(), "workflow did not complete")
	var res Result
	err := env.GetWorkflowError()
	if err == nil {
		require.NoError(t, env.GetWorkflowResult(&res))
	}
	return env, res, err
}

func queryStatus(t *testing.T, env *testsuite.TestWorkflowEnvironment) Status {
	t.Helper()
	v, err := env.QueryWorkflow(StatusQuery)
	require.NoError(t, err)
	var st Status
	require.NoError(t, v.Get(&st))
	return st
}

func queryApprovals(t *testing.T, env *testsuite.TestWorkflowEnvironment) approvals.Status {
	t.Helper()
	v, err := env.QueryWorkflow(ApprovalsQuery)
	require.NoError(t, err)
	var st approvals.Status
	require.NoError(t, v.Get(&st))
	return st
}

func gatePoints(checks []GateCheck) []string {
	var out []string
	for _, c := range checks {
		out = append(out, c.Point)
	}
	return out
}

func TestStagingDeployRunsAutonomously(t *testing.T) {
	f := newWFFixture(t)
	in := f.deployInput(t, TargetStaging, 0.9)
	env, res, err := f.run(t, in, "", nil)
	require.NoError(t, err)

	assert.Equal(t, OutcomeSucceeded, res.Outcome, res.Reason)
	assert.Equal(t, StageDone, res.Stage)
	assert.Empty(t, res.Reason)
	assert.True(t, res.RequesterVerified)
	assert.Equal(t, []string{GateBeforeApproval, GateAtSideEffect}, gatePoints(res.Gate))
	require.NotNil(t, res.Execution)
	assert.Equal(t, "rel-1", res.Execution.Ref)
	require.NotNil(t, res.Verification)
	assert.True(t, res.Verification.Verified)
	assert.Equal(t, "healthy", res.Verification.State)
	assert.Zero(t, res.ApprovalRounds)
	assert.Empty(t, res.Approvals)

	var act DeployAction
	require.NoError(t, json.Unmarshal(res.Action, &act))
	assert.Equal(t, digestA, act.ArtifactDigest)
	assert.NotEmpty(t, res.ActionDigest)

	require.Len(t, f.execReqs, 1)
	x := f.execReqs[0]
	assert.Equal(t, IdempotencyKey(res.ID, res.ActionDigest), x.IdempotencyKey)
	assert.Equal(t, res.ActionDigest, x.ActionDigest)
	assert.Equal(t, int64(90), x.ConfidencePercent)
	assert.Equal(t, in.RequesterProof, x.RequesterProof, "the side effect verifies the requester again")
	assert.Equal(t, 0, f.count(ActivityNotifyApprovers), "an autonomous action asks nobody")
	assert.Equal(t, 1, f.count(ActivityVerify))

	st := queryStatus(t, env)
	assert.Equal(t, OutcomeSucceeded, st.Outcome)
	assert.Equal(t, WorkflowID("bot", "key-1"), st.ID)
}

func TestGateDenialEndsTheAction(t *testing.T) {
	f := newWFFixture(t)
	f.decide = func(GateRequest) gate.Decision { return outsideWindow }
	_, res, err := f.run(t, f.deployInput(t, TargetProduction, 0.9), "", nil)
	require.NoError(t, err)
	assert.Equal(t, OutcomeDenied, res.Outcome)
	assert.Contains(t, res.Reason, "deploy.maintenance-window")
	assert.Equal(t, []string{GateBeforeApproval}, gatePoints(res.Gate))
	assert.Zero(t, f.count(ActivityExecute), "nothing executes")
	assert.Zero(t, f.count(ActivityNotifyApprovers), "no approval lifts this deny: nobody is asked")
	assert.Nil(t, res.Execution)
}

func TestInvalidInputFailsTheWorkflow(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(t *testing.T, f *wfFixture, in *Input)
		wfID      string
		wantField string
		wantTrust bool // the trusted keys were loaded (input was fine until the proof)
	}{
		{name: "a person as requester", edit: func(_ *testing.T, _ *wfFixture, in *Input) { in.RequestedBy = "maria" }, wantField: "requestedBy"},
		{name: "an invalid agent name", edit: func(_ *testing.T, _ *wfFixture, in *Input) { in.RequestedBy = "agent:Bot" }, wantField: "requestedBy"},
		{name: "no requester proof", edit: func(_ *testing.T, _ *wfFixture, in *Input) { in.RequesterProof = "" }, wantField: "requesterProof"},
		{name: "a bad proposal", edit: func(_ *testing.T, _ *wfFixture, in *Input) { in.Confidence = 2 }, wantField: "confidence"},
		{name: "an id the key does not determine", wfID: "agent-action-bot-0000", wantField: "idempotencyKey"},
		{name: "another agent's id", wfID: WorkflowID("other", "key-1"), wantField: "idempotencyKey"},
		{name: "a start proof for another action", wantField: "requesterProof", wantTrust: true,
			edit: func(t *testing.T, f *wfFixture, in *Input) {
				in.RequesterProof = f.keys.startProof(t, WorkflowID("bot", "key-2"), "bot", wfStart.Add(-time.Minute), in.Proposal)
			}},
		// A proof read from a history, for another proposal under this id:
		// it cannot start something else in the agent's name.
		{name: "a start proof for another proposal", wantField: "requesterProof", wantTrust: true,
			edit: func(t *testing.T, f *wfFixture, in *Input) {
				other := in.Proposal
				other.Params = json.RawMessage(`{"service":"payments","version":"6.6.6"}`)
				in.RequesterProof = f.keys.startProof(t, WorkflowID("bot", "key-1"), "bot", wfStart.Add(-time.Minute), other)
			}},
		{name: "a start proof bound to no proposal", wantField: "requesterProof", wantTrust: true,
			edit: func(t *testing.T, f *wfFixture, in *Input) {
				in.RequesterProof = f.keys.startProof(t, WorkflowID("bot", "key-1"), "bot", wfStart.Add(-time.Minute))
			}},
		{name: "a start proof by an untrusted key", wantField: "requesterProof", wantTrust: true,
			edit: func(t *testing.T, f *wfFixture, in *Input) {
				in.RequesterProof = newKeys(t).startProof(t, WorkflowID("bot", "key-1"), "bot", wfStart.Add(-time.Minute), in.Proposal)
			}},
		{name: "an expired start proof", wantField: "requesterProof", wantTrust: true,
			edit: func(t *testing.T, f *wfFixture, in *Input) {
				in.RequesterProof = f.keys.startProof(t, WorkflowID("bot", "key-1"), "bot", wfStart.Add(-time.Hour), in.Proposal)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newWFFixture(t)
			in := f.deployInput(t, TargetStaging, 0.9)
			if tc.edit != nil {
				tc.edit(t, f, &in)
			}
			_, _, err := f.run(t, in, tc.wfID, nil)
			require.Error(t, err)
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "want an ApplicationError, got %v", err)
			assert.Equal(t, ErrTypeInvalidInput, appErr.Type())
			assert.True(t, appErr.NonRetryable())
			assert.Contains(t, appErr.Error(), tc.wantField+":")
			assert.Equal(t, tc.wantTrust, f.count(ActivityLoadTrust) > 0)
			assert.Zero(t, f.count(ActivityResolve), "nothing is read for an invalid action")
			assert.Zero(t, f.count(ActivityExecute))
		})
	}
}

// productionDecide asks for a release manager until lee's approval of this
// exact action is carried, then permits.
func productionDecide(req GateRequest) gate.Decision {
	for _, a := range req.Approvals {
		if a.Approver == "lee" && a.Slot == "release-manager" && a.ActionDigest == req.ActionDigest && a.Target == TargetProduction && a.Proof != nil {
			return permit
		}
	}
	return needsReleaseManager
}

func TestProductionDeployWaitsForTheReleaseManager(t *testing.T) {
	f := newWFFixture(t)
	f.decide = productionDecide
	var waiting Status
	var waitingApprovals approvals.Status
	var agentRefused, leeErr error
	agentSeen, leeAccepted := false, false
	wfID := WorkflowID("bot", "key-1")
	_, res, err := f.run(t, f.deployInput(t, TargetProduction, 0.9), "", func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(func() {
			waiting = queryStatus(t, env)
			waitingApprovals = queryApprovals(t, env)
		}, 20*time.Minute)
		env.RegisterDelayedCallback(func() {
			st := queryApprovals(t, env)
			// Even with a proof the web app signed, an agent never decides.
			tok := f.keys.approvalProof(t, wfID, st.RunID, "release-manager", st.ActionDigest, "agent:bot", env.Now())
			env.UpdateWorkflow(ApprovalUpdate, "agent", &testsuite.TestUpdateCallback{
				OnAccept:   func() { agentSeen = true },
				OnReject:   func(err error) { agentSeen, agentRefused = true, err },
				OnComplete: func(any, error) {},
			}, approvals.Request{Decision: approvals.DecisionApprove, Approver: "agent:bot", ActionDigest: st.ActionDigest, Proof: tok})
		}, 25*time.Minute)
		env.RegisterDelayedCallback(func() {
			st := queryApprovals(t, env)
			tok := f.keys.approvalProof(t, wfID, st.RunID, "release-manager", st.ActionDigest, "lee", env.Now())
			env.UpdateWorkflow(ApprovalUpdate, "lee", &testsuite.TestUpdateCallback{
				OnAccept:   func() { leeAccepted = true },
				OnReject:   func(err error) { leeErr = err },
				OnComplete: func(_ any, err error) { leeErr = errors.Join(leeErr, err) },
			}, approvals.Request{Decision: approvals.DecisionApprove, Approver: "lee", ActionDigest: st.ActionDigest, Proof: tok, Comment: "in the window"})
		}, 30*time.Minute)
	})
	require.NoError(t, err)

	// While waiting: who, what and why.
	assert.Equal(t, StageAwaitingApproval, waiting.Stage)
	assert.Equal(t, "release-manager", waiting.AwaitingSlot)
	assert.Equal(t, []string{"lee"}, waiting.PendingApprovers)
	assert.Contains(t, waiting.ApprovalReason, "release-manager approval")
	assert.Nil(t, waiting.Execution)
	assert.Equal(t, []string{GateBeforeApproval}, gatePoints(waiting.Gate))
	assert.True(t, waitingApprovals.ProofRequired)
	assert.Equal(t, "agent:bot", waitingApprovals.RequestedBy)
	assert.True(t, waitingApprovals.RequesterVerified)
	assert.Equal(t, waiting.ActionDigest, waitingApprovals.ActionDigest)
	require.Len(t, f.notified, 1, "lee is asked once")
	assert.Equal(t, []string{"lee"}, f.notified[0].Approvers)
	assert.Equal(t, approvals.NotifyRequest, f.notified[0].Kind)
	assert.Equal(t, waiting.ActionDigest, f.notified[0].ActionDigest)

	require.True(t, agentSeen, "the agent's update reached the workflow")
	require.Error(t, agentRefused, "an agent's approval is refused")
	assert.Contains(t, agentRefused.Error(), "agent")
	require.NoError(t, leeErr)
	require.True(t, leeAccepted)

	assert.Equal(t, OutcomeSucceeded, res.Outcome, res.Reason)
	require.Len(t, res.Approvals, 1)
	a := res.Approvals[0]
	assert.Equal(t, "lee", a.Approver)
	assert.Equal(t, "release-manager", a.Slot)
	assert.Equal(t, TargetProduction, a.Target)
	assert.Equal(t, res.ActionDigest, a.ActionDigest)
	require.NotNil(t, a.Proof)
	assert.Equal(t, proof.MethodOIDC, a.Proof.Method)
	assert.Equal(t, 1, res.ApprovalRounds)
	assert.Equal(t, []string{GateBeforeApproval, GateBeforeApproval, GateAtSideEffect}, gatePoints(res.Gate))

	require.Len(t, f.execReqs, 1, "executed once, after the approval")
	assert.Equal(t, []approvals.Approval{a}, f.execReqs[0].Approvals, "the side effect is handed the approval to verify again")
	require.NotNil(t, res.Execution)
	assert.True(t, res.Execution.At.After(wfStart.Add(29*time.Minute)), "executed after lee approved: %s", res.Execution.At)
	require.NotEmpty(t, f.planReqs)
	assert.Equal(t, []string{"release-manager"}, f.planReqs[len(f.planReqs)-1].Roles)
}

// Nobody approving within the role waits (24h) ends the action expired;
// nothing executes.
func TestProductionDeployExpiresWithoutApproval(t *testing.T) {
	f := newWFFixture(t)
	f.decide = productionDecide
	_, res, err := f.run(t, f.deployInput(t, TargetProduction, 0.9), "", nil)
	require.NoError(t, err)
	assert.Equal(t, OutcomeExpired, res.Outcome)
	assert.Zero(t, f.count(ActivityExecute))
	// request, reminder at 1h, escalation at 4h.
	assert.Equal(t, 3, f.count(ActivityNotifyApprovers))
}

func TestFailedVerificationEndsUnverified(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"unhealthy release", temporal.NewNonRetryableApplicationError("release rel-1 is unhealthy: crash loop", ErrTypeUnhealthy, nil)},
		{"never healthy within the verification bound", temporal.NewApplicationError("release rel-1 is still deploying", ErrTypeNotYet)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newWFFixture(t)
			f.verifyErr = tc.err
			_, res, err := f.run(t, f.deployInput(t, TargetStaging, 0.9), "", nil)
			require.NoError(t, err)
			assert.Equal(t, OutcomeUnverified, res.Outcome)
			assert.Contains(t, res.Reason, "executed (rel-1) but not verified")
			require.NotNil(t, res.Execution, "the execution is recorded even when unverified")
			require.NotNil(t, res.Verification)
			assert.False(t, res.Verification.Verified)
			assert.Equal(t, 1, f.count(ActivityExecute), "a failed verification never executes again")
			if tc.err.(*temporal.ApplicationError).NonRetryable() {
				assert.Equal(t, 1, f.count(ActivityVerify))
			} else {
				assert.Greater(t, f.count(ActivityVerify), 3, "NotYet is retried until the bound")
			}
		})
	}
}

// At the side effect the gate may deny what it admitted before (the window
// closed): the action is gated again and ends denied without executing.
func TestSideEffectDenialGatesAgain(t *testing.T) {
	f := newWFFixture(t)
	gates := 0
	f.decide = func(GateRequest) gate.Decision {
		gates++
		if gates == 1 {
			return permit
		}
		return outsideWindow
	}
	_, res, err := f.run(t, f.deployInput(t, TargetProduction, 0.9), "", nil)
	require.NoError(t, err)
	assert.Equal(t, OutcomeDenied, res.Outcome)
	assert.Equal(t, []string{GateBeforeApproval, GateAtSideEffect, GateBeforeApproval}, gatePoints(res.Gate))
	assert.False(t, res.Gate[1].Decision.Permit, "the side effect's denial is recorded with its decision")
	assert.Nil(t, res.Execution)
	assert.Equal(t, 1, f.count(ActivityExecute))
}

// runReal runs AgentAction on the real activities: the real gate on the
// repository's policies, the default directory, the fake deployment and
// mail systems, the activities' clock the test environment's.
func runReal(t *testing.T, k keys, dep *fakeDeployer, mail *fakeMailer, in Input, setup func(env *testsuite.TestWorkflowEnvironment)) (Result, error) {
	t.Helper()
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(wfStart)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: WorkflowID("bot", in.IdempotencyKey)})
	eng, err := gate.Open(gate.FSSource(policy.DefaultPolicies()), env.Now, nil)
	require.NoError(t, err)
	RegisterWorkflows(env, Config{})
	RegisterActivities(env, &Activities{
		Temporal: &fakeDescriber{queue: testQueue, start: wfStart}, Deploy: dep, Mail: mail, Directory: dir, Gate: eng,
		Trust: func() (proof.Trust, error) { return k.trust, nil }, Signer: k.worker, Now: env.Now,
	})
	if setup != nil {
		setup(env)
	}
	env.ExecuteWorkflow(Workflow, in)
	require.True(t, env.IsWorkflowCompleted(), "workflow did not complete")
	var res Result
	if err := env.GetWorkflowError(); err != nil {
		return res, err
	}
	require.NoError(t, env.GetWorkflowResult(&res))
	return res, nil
}

// approveAt has lee approve the action awaiting approval at d, proven by
// the web key; accepted reports whether the Update was accepted.
func approveAt(t *testing.T, env *testsuite.TestWorkflowEnvironment, k keys, d time.Duration, accepted *bool) {
	env.RegisterDelayedCallback(func() {
		st := queryApprovals(t, env)
		tok := k.approvalProof(t, st.WorkflowID, st.RunID, "release-manager", st.ActionDigest, "lee", env.Now())
		env.UpdateWorkflow(ApprovalUpdate, "lee", &testsuite.TestUpdateCallback{
			OnAccept:   func() { *accepted = true },
			OnReject:   func(err error) { t.Errorf("lee's approval refused: %v", err) },
			OnComplete: func(any, error) {},
		}, approvals.Request{Decision: approvals.DecisionApprove, Approver: "lee", ActionDigest: st.ActionDigest, Proof: tok})
	}, d)
}

// End to end on the real activities: a production release inside the
// window, approved by lee, is released once with the action's key.
func TestProductionDeployEndToEnd(t *testing.T) {
	k := newKeys(t)
	dep, mail := newFakeDeployer(), newFakeMailer()
	dep.releaseStatus = "healthy"
	f := &wfFixture{keys: k}
	in := f.deployInput(t, TargetProduction, 0.9)
	accepted := false
	res, err := runReal(t, k, dep, mail, in, func(env *testsuite.TestWorkflowEnvironment) {
		approveAt(t, env, k, 30*time.Minute, &accepted)
	})
	require.NoError(t, err)
	require.True(t, accepted)
	assert.Equal(t, OutcomeSucceeded, res.Outcome, res.Reason)
	calls := dep.calls()
	require.Len(t, calls, 1)
	assert.Equal(t, IdempotencyKey(res.ID, res.ActionDigest), calls[0].Key)
	assert.Equal(t, digestA, calls[0].Req.ArtifactDigest)
	assert.Equal(t, TargetProduction, calls[0].Req.Target)
	require.Len(t, res.Gate, 3)
	assert.Equal(t, []string{"deploy.production.approval"}, []string{res.Gate[0].Decision.Reasons[0].PolicyID})
	assert.True(t, res.Gate[2].Decision.Permit)
	require.NotNil(t, res.Verification)
	assert.True(t, res.Verification.Verified)
	msgs := mail.messages()
	require.NotEmpty(t, msgs, "lee was emailed")
	assert.Equal(t, []string{"lee@example.com"}, msgs[0].To)
}

// The artifact is re-pushed while lee looks at it: lee's approval is for the
// old digest, so the new build is never released on it; people are asked
// again and, nobody answering, the action expires.
func TestRepushedArtifactIsNeverReleasedOnAnOldApproval(t *testing.T) {
	k := newKeys(t)
	dep, mail := newFakeDeployer(), newFakeMailer()
	dep.releaseStatus = "healthy"
	f := &wfFixture{keys: k}
	in := f.deployInput(t, TargetProduction, 0.9)
	accepted := false
	res, err := runReal(t, k, dep, mail, in, func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(func() { dep.setArtifact("checkout", "1.4.2", digestB) }, 20*time.Minute)
		approveAt(t, env, k, 30*time.Minute, &accepted)
	})
	require.NoError(t, err)
	require.True(t, accepted, "lee approved what was shown")
	assert.Empty(t, dep.calls(), "nothing was released")
	assert.Equal(t, OutcomeExpired, res.Outcome, res.Reason)
	assert.Equal(t, 2, res.ApprovalRounds, "people were asked again for the new build")
	var act DeployAction
	require.NoError(t, json.Unmarshal(res.Action, &act))
	assert.Equal(t, digestB, act.ArtifactDigest)
	for _, a := range res.Approvals {
		assert.NotEqual(t, res.ActionDigest, a.ActionDigest, "no approval of the new digest exists")
	}
}

// The artifact is re-pushed between the gate and the side effect: the
// release of the gated digest is refused (nothing executes), the new build
// is resolved and gated, and only it is released.
func TestRepushBeforeTheSideEffectReleasesOnlyWhatWasGated(t *testing.T) {
	k := newKeys(t)
	dep, mail := newFakeDeployer(), newFakeMailer()
	dep.releaseStatus = "healthy"
	// 1: Resolve; 2: Execute's fresh read, which sees the new build.
	dep.repushAt, dep.repushDigest = 2, digestB
	f := &wfFixture{keys: k}
	res, err := runReal(t, k, dep, mail, f.deployInput(t, TargetStaging, 0.9), nil)
	require.NoError(t, err)
	assert.Equal(t, OutcomeSucceeded, res.Outcome, res.Reason)
	calls := dep.calls()
	require.Len(t, calls, 1, "one release, of the build gated last")
	assert.Equal(t, digestB, calls[0].Req.ArtifactDigest)
	assert.Equal(t, IdempotencyKey(res.ID, res.ActionDigest), calls[0].Key)
	var act DeployAction
	require.NoError(t, json.Unmarshal(res.Action, &act))
	assert.Equal(t, digestB, act.ArtifactDigest)
	assert.Equal(t, []string{GateBeforeApproval, GateBeforeApproval, GateAtSideEffect}, gatePoints(res.Gate))
}

// An email to someone outside the company waits for the comms lead, then is
// sent once and verified delivered.
func TestExternalEmailEndToEnd(t *testing.T) {
	k := newKeys(t)
	dep, mail := newFakeDeployer(), newFakeMailer()
	f := &wfFixture{keys: k}
	wfID := WorkflowID("bot", "mail-1")
	p := Proposal{
		Kind: KindEmail, Target: "partner@other.example", Params: json.RawMessage(`{"subject":"Release 1.4.2","body":"It is out."}`),
		Justification: "partner asked", Confidence: 0.95, IdempotencyKey: "mail-1",
	}
	in := Input{Proposal: p, RequestedBy: "agent:bot", RequesterProof: f.keys.startProof(t, wfID, "bot", wfStart.Add(-time.Minute), p)}
	var waiting Status
	accepted := false
	res, err := runReal(t, k, dep, mail, in, func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(func() { waiting = queryStatus(t, env) }, 20*time.Minute)
		env.RegisterDelayedCallback(func() {
			st := queryApprovals(t, env)
			tok := k.approvalProof(t, st.WorkflowID, st.RunID, "comms-lead", st.ActionDigest, "ines", env.Now())
			env.UpdateWorkflow(ApprovalUpdate, "ines", &testsuite.TestUpdateCallback{
				OnAccept:   func() { accepted = true },
				OnReject:   func(err error) { t.Errorf("ines's approval refused: %v", err) },
				OnComplete: func(any, error) {},
			}, approvals.Request{Decision: approvals.DecisionApprove, Approver: "ines", ActionDigest: st.ActionDigest, Proof: tok})
		}, 30*time.Minute)
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"ines"}, waiting.PendingApprovers)
	assert.Equal(t, "comms-lead", waiting.AwaitingSlot)
	require.True(t, accepted)
	assert.Equal(t, OutcomeSucceeded, res.Outcome, res.Reason)
	require.NotNil(t, res.Verification)
	assert.Equal(t, "delivered", res.Verification.State)

	var toPartner int
	for _, m := range mail.messages() {
		if len(m.To) == 1 && m.To[0] == "partner@other.example" {
			toPartner++
			assert.Equal(t, "Release 1.4.2", m.Subject)
			assert.Equal(t, res.Execution.Ref, m.MessageID)
		}
	}
	assert.Equal(t, 1, toPartner, "the email is sent once")
	assert.Empty(t, dep.calls())
}

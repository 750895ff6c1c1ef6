package agentaction

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/connectors/deploy"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/proof"
)

var (
	// wednesday10 is outside production's maintenance window.
	wednesday10 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	// saturday03 is inside it (Saturday 02:00-06:00 UTC).
	saturday03 = time.Date(2026, 3, 7, 3, 0, 0, 0, time.UTC)
)

// actFixture is the real gate on the repository's policies and the default
// directory, in front of a fake deployment system and mail system, with the
// action of agent "bot" under key "key-1" started an hour before now.
type actFixture struct {
	keys keys
	dep  *fakeDeployer
	mail *fakeMailer
	desc *fakeDescriber
	a    *Activities
	now  time.Time
	wfID string
	// attempts is the wrapper workflow's MaximumAttempts (0 => 1).
	attempts int32
}

func newActFixture(t *testing.T, now time.Time) *actFixture {
	t.Helper()
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	eng, err := gate.Open(gate.FSSource(policy.DefaultPolicies()), func() time.Time { return now }, nil)
	require.NoError(t, err)
	f := &actFixture{
		keys: newKeys(t), dep: newFakeDeployer(), mail: newFakeMailer(), now: now, wfID: WorkflowID("bot", "key-1"),
		desc: &fakeDescriber{queue: testQueue, start: now.Add(-time.Hour)},
	}
	f.a = &Activities{
		Temporal: f.desc, Deploy: f.dep, Mail: f.mail, Directory: dir, Gate: eng,
		Trust:  func() (proof.Trust, error) { return f.keys.trust, nil },
		Signer: f.keys.worker, Now: func() time.Time { return now },
	}
	return f
}

// deployAction is the resolved release of checkout 1.4.2 (digestA) to target.
func deployAction(t testing.TB, target string) (json.RawMessage, string) {
	t.Helper()
	return rawAction(t, DeployAction{Kind: KindDeploy, Target: target, Service: "checkout", Version: "1.4.2", ArtifactDigest: digestA, RequestedBy: "agent:bot"})
}

// rawAction is act as the workflow holds it (json.RawMessage) and its
// digest. The digest must be taken of the json.RawMessage, as the workflow
// and the activities do: action.Digest of the same bytes as a []byte
// digests their base64 string instead.
func rawAction(t testing.TB, act any) (json.RawMessage, string) {
	t.Helper()
	b, err := json.Marshal(act)
	require.NoError(t, err)
	raw := json.RawMessage(b)
	d, err := action.Digest(raw)
	require.NoError(t, err)
	return raw, d
}

// gateRequest is the gate request of a deploy to target at confidence%,
// with the gateway's start proof issued a minute before the run started.
func (f *actFixture) gateRequest(t testing.TB, target string, confidence int64) GateRequest {
	t.Helper()
	raw, d := deployAction(t, target)
	return GateRequest{
		Kind: KindDeploy, Target: target, Action: raw, ActionDigest: d, RequestedBy: "agent:bot",
		RequesterProof: f.keys.startProof(t, f.wfID, "bot", f.desc.start.Add(-time.Minute)), ConfidencePercent: confidence,
	}
}

// approval is who's approval of slot for the run, proven by the web key an
// hour ago, recorded for target.
func (f *actFixture) approval(t testing.TB, runID, who, slot, target, digest string) approvals.Approval {
	t.Helper()
	at := f.now.Add(-time.Hour)
	tok := f.keys.approvalProof(t, f.wfID, runID, slot, digest, who, at.Add(-time.Minute))
	as, err := proof.Verify(tok, f.keys.trust, proof.Expect{}, at)
	require.NoError(t, err)
	return approvals.Approval{
		Slot: slot, Approver: who, Decision: approvals.DecisionApprove, ActionDigest: digest, Target: target, At: at,
		Proof: &approvals.Proof{Method: as.Method, KeyID: as.KeyID, Nonce: as.Nonce, Token: tok},
	}
}

// runAs runs activity fn (registered as name) as scheduled by a workflow of
// type wfType and id wfID: the gated activities read both from
// activity.GetInfo, which the plain activity environment cannot set. arg
// makes the argument for the run the workflow turned out to be.
func (f *actFixture) runAs(t *testing.T, wfType, wfID, name string, fn any, arg func(runID string) any, out any) error {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(f.desc.start)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: wfID})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) (json.RawMessage, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: max(f.attempts, 1), InitialInterval: time.Millisecond},
		})
		var res json.RawMessage
		// Test-only workflow: it never replays, so it may sign here.
		err := workflow.ExecuteActivity(ctx, name, arg(workflow.GetInfo(ctx).WorkflowExecution.RunID)).Get(ctx, &res)
		return res, err
	}, workflow.RegisterOptions{Name: wfType})
	env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	env.ExecuteWorkflow(wfType)
	require.True(t, env.IsWorkflowCompleted())
	if err := env.GetWorkflowError(); err != nil {
		return err
	}
	var raw json.RawMessage
	require.NoError(t, env.GetWorkflowResult(&raw))
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out))
	}
	return nil
}

// runOurs runs activity fn as called by this fixture's own AgentAction.
func (f *actFixture) runOurs(t *testing.T, name string, fn, out, arg any) error {
	t.Helper()
	return f.runAs(t, Workflow, f.wfID, name, fn, func(string) any { return arg }, out)
}

// runPlain runs fn in the plain activity environment (no workflow info).
func runPlain(t *testing.T, fn any, out any, args ...any) error {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(fn)
	v, err := env.ExecuteActivity(fn, args...)
	if err == nil && out != nil {
		require.NoError(t, v.Get(out))
	}
	return err
}

// appErrType returns err's ApplicationError type and whether it is
// non-retryable.
func appErrType(err error) (string, bool) {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type(), appErr.NonRetryable()
	}
	return "", false
}

func TestResolve(t *testing.T) {
	deployReq := func(target, params string) ResolveRequest {
		return ResolveRequest{Kind: KindDeploy, Target: target, Params: json.RawMessage(params), RequestedBy: "agent:bot"}
	}
	tests := []struct {
		name      string
		req       ResolveRequest
		modify    func(f *actFixture)
		want      any    // the action; nil when an error is wanted
		wantType  string // "retry" = retryable
		wantField string
	}{
		{name: "deploy reads the registry digest", req: deployReq(TargetStaging, `{"service":"checkout","version":"1.4.2"}`),
			want: DeployAction{Kind: KindDeploy, Target: TargetStaging, Service: "checkout", Version: "1.4.2", ArtifactDigest: digestA, RequestedBy: "agent:bot"}},
		{name: "deploy reads the registry now", req: deployReq(TargetProduction, `{"service":"checkout","version":"1.4.2"}`),
			modify: func(f *actFixture) { f.dep.setArtifact("checkout", "1.4.2", digestB) },
			want:   DeployAction{Kind: KindDeploy, Target: TargetProduction, Service: "checkout", Version: "1.4.2", ArtifactDigest: digestB, RequestedBy: "agent:bot"}},
		{name: "unknown version", req: deployReq(TargetStaging, `{"service":"checkout","version":"9.9.9"}`),
			wantType: ErrTypeInvalidInput, wantField: "params.version"},
		{name: "bad deploy target", req: deployReq("prod", `{"service":"checkout","version":"1.4.2"}`),
			wantType: ErrTypeInvalidInput, wantField: "target"},
		{name: "unknown params field", req: deployReq(TargetStaging, `{"service":"checkout","version":"1.4.2","force":true}`),
			wantType: ErrTypeInvalidInput, wantField: "params.force"},
		{name: "registry down is retried", req: deployReq(TargetStaging, `{"service":"checkout","version":"1.4.2"}`),
			modify: func(f *actFixture) {
				f.dep.artifactErr = &httpx.Error{Op: "deploy.getArtifact", StatusCode: http.StatusServiceUnavailable, Message: "down"}
			}, wantType: "retry", wantField: "checkout"},
		{name: "registry refusing is final", req: deployReq(TargetStaging, `{"service":"checkout","version":"1.4.2"}`),
			modify: func(f *actFixture) {
				f.dep.artifactErr = &httpx.Error{Op: "deploy.getArtifact", StatusCode: http.StatusUnprocessableEntity, Message: "bad", Permanent: true}
			}, wantType: ErrTypeRefused, wantField: "checkout"},
		{name: "no deployment system", req: deployReq(TargetStaging, `{"service":"checkout","version":"1.4.2"}`),
			modify: func(f *actFixture) { f.a.Deploy = nil }, wantType: ErrTypeNotConfigured, wantField: "Deploy"},
		{name: "email", req: ResolveRequest{Kind: KindEmail, Target: "bob@example.com", Params: json.RawMessage(`{"subject":"Hi","body":"Hello"}`), RequestedBy: "agent:bot"},
			want: EmailAction{Kind: KindEmail, To: "bob@example.com", Subject: "Hi", Body: "Hello", RequestedBy: "agent:bot"}},
		{name: "email with a display name", req: ResolveRequest{Kind: KindEmail, Target: "Bob <bob@example.com>", Params: json.RawMessage(`{"subject":"Hi","body":"Hello"}`)},
			wantType: ErrTypeInvalidInput, wantField: "target"},
		{name: "vendor payment", req: ResolveRequest{Kind: KindVendorPayment, Target: "INV-1042", RequestedBy: "agent:bot"},
			want: PaymentAction{Kind: KindVendorPayment, InvoiceID: "INV-1042", RequestedBy: "agent:bot"}},
		{name: "unknown kind", req: ResolveRequest{Kind: "db.drop", Target: "x"}, wantType: ErrTypeInvalidInput, wantField: "kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newActFixture(t, wednesday10)
			if tc.modify != nil {
				tc.modify(f)
			}
			var raw json.RawMessage
			err := f.runOurs(t, ActivityResolve, f.a.AgentResolveAction, &raw, tc.req)
			if tc.want != nil {
				require.NoError(t, err)
				want, err := json.Marshal(tc.want)
				require.NoError(t, err)
				assert.JSONEq(t, string(want), string(raw))
				return
			}
			require.Error(t, err)
			typ, nr := appErrType(err)
			if tc.wantType == "retry" {
				assert.False(t, nr, "want retryable, got %v", err)
			} else {
				assert.True(t, nr, "want non-retryable, got %v", err)
				assert.Equal(t, tc.wantType, typ, "error: %v", err)
			}
			assert.Contains(t, err.Error(), tc.wantField)
		})
	}
}

func TestEvaluateGate(t *testing.T) {
	tests := []struct {
		name   string
		now    time.Time
		wfType string // "" = AgentAction
		wfID   string // "" = the fixture's
		modify func(f *actFixture)
		req    func(t *testing.T, f *actFixture, runID string) GateRequest
		// wantReasons are the decision's policy ids (nil = permit) when no
		// error is wanted.
		wantReasons []string
		wantType    string
		wantMsg     string
	}{
		{name: "staging at 90% is permitted", now: wednesday10,
			req: func(t *testing.T, f *actFixture, _ string) GateRequest { return f.gateRequest(t, TargetStaging, 90) }},
		{name: "staging at 50% asks a release manager", now: wednesday10,
			req: func(t *testing.T, f *actFixture, _ string) GateRequest { return f.gateRequest(t, TargetStaging, 50) }, wantReasons: []string{"agent.confidence"}},
		{name: "production outside the window", now: wednesday10,
			req:         func(t *testing.T, f *actFixture, _ string) GateRequest { return f.gateRequest(t, TargetProduction, 90) },
			wantReasons: []string{"deploy.maintenance-window", "deploy.production.approval"}},
		{name: "production in the window approved by lee", now: saturday03,
			req: func(t *testing.T, f *actFixture, runID string) GateRequest {
				r := f.gateRequest(t, TargetProduction, 90)
				r.Approvals = []approvals.Approval{f.approval(t, runID, "lee", "release-manager", TargetProduction, r.ActionDigest)}
				return r
			}},
		{name: "an approval recorded for staging does not admit production", now: saturday03,
			req: func(t *testing.T, f *actFixture, runID string) GateRequest {
				r := f.gateRequest(t, TargetProduction, 90)
				r.Approvals = []approvals.Approval{f.approval(t, runID, "lee", "release-manager", TargetStaging, r.ActionDigest)}
				return r
			}, wantReasons: []string{"agent.target.binding"}},
		{name: "an approver without the role does not lift", now: saturday03,
			req: func(t *testing.T, f *actFixture, runID string) GateRequest {
				r := f.gateRequest(t, TargetProduction, 90)
				r.Approvals = []approvals.Approval{f.approval(t, runID, "ines", "release-manager", TargetProduction, r.ActionDigest)}
				return r
			}, wantReasons: []string{"deploy.production.approval"}},
		{name: "without a requester proof the agent is unverified", now: wednesday10,
			req: func(t *testing.T, f *actFixture, _ string) GateRequest {
				r := f.gateRequest(t, TargetStaging, 90)
				r.RequesterProof = ""
				return r
			}, wantReasons: []string{"agent.verified"}},
		{name: "a gateway proof for another action", now: wednesday10,
			req: func(t *testing.T, f *actFixture, _ string) GateRequest {
				r := f.gateRequest(t, TargetStaging, 90)
				r.RequesterProof = f.keys.startProof(t, WorkflowID("bot", "key-2"), "bot", f.desc.start.Add(-time.Minute))
				return r
			}, wantType: ErrTypeProofRefused, wantMsg: "proof.workflowId"},
		{name: "a gateway proof for another agent", now: wednesday10,
			req: func(t *testing.T, f *actFixture, _ string) GateRequest {
				r := f.gateRequest(t, TargetStaging, 90)
				r.RequesterProof = f.keys.startProof(t, f.wfID, "other-bot", f.desc.start.Add(-time.Minute))
				return r
			}, wantType: ErrTypeProofRefused, wantMsg: "proof.sub"},
		{name: "a gateway proof issued long after the run started", now: wednesday10,
			req: func(t *testing.T, f *actFixture, _ string) GateRequest {
				r := f.gateRequest(t, TargetStaging, 90)
				r.RequesterProof = f.keys.startProof(t, f.wfID, "bot", f.desc.start.Add(30*time.Minute))
				return r
			}, wantType: ErrTypeProofRefused, wantMsg: "the run started"},
		{name: "a start proof by an untrusted key", now: wednesday10,
			req: func(t *testing.T, f *actFixture, _ string) GateRequest {
				r := f.gateRequest(t, TargetStaging, 90)
				other := newKeys(t)
				r.RequesterProof = other.startProof(t, f.wfID, "bot", f.desc.start.Add(-time.Minute))
				return r
			}, wantType: ErrTypeProofRefused, wantMsg: "proof.kid"},
		{name: "an agent as approver", now: saturday03,
			req: func(t *testing.T, f *actFixture, runID string) GateRequest {
				r := f.gateRequest(t, TargetProduction, 90)
				r.Approvals = []approvals.Approval{f.approval(t, runID, "agent:bot", "release-manager", TargetProduction, r.ActionDigest)}
				return r
			}, wantType: ErrTypeProofRefused, wantMsg: "is an agent"},
		{name: "another agent as approver", now: saturday03,
			req: func(t *testing.T, f *actFixture, runID string) GateRequest {
				r := f.gateRequest(t, TargetProduction, 90)
				r.Approvals = []approvals.Approval{f.approval(t, runID, "agent:helper", "release-manager", TargetProduction, r.ActionDigest)}
				return r
			}, wantType: ErrTypeProofRefused, wantMsg: "is an agent"},
		{name: "an approval proven for another run", now: saturday03,
			req: func(t *testing.T, f *actFixture, _ string) GateRequest {
				r := f.gateRequest(t, TargetProduction, 90)
				r.Approvals = []approvals.Approval{f.approval(t, "another-run", "lee", "release-manager", TargetProduction, r.ActionDigest)}
				return r
			}, wantType: ErrTypeProofRefused, wantMsg: "proof.runId"},
		{name: "digest that is not the action's", now: wednesday10,
			req: func(t *testing.T, f *actFixture, _ string) GateRequest {
				r := f.gateRequest(t, TargetStaging, 90)
				r.ActionDigest = digestB
				return r
			}, wantType: ErrTypeInvalidInput, wantMsg: "actionDigest"},
		{name: "from a workflow of another type", now: wednesday10, wfType: "SomethingElse",
			req:      func(t *testing.T, f *actFixture, _ string) GateRequest { return f.gateRequest(t, TargetStaging, 90) },
			wantType: process.ErrTypeNotOurs, wantMsg: `type "SomethingElse"`},
		{name: "the server says it is another type", now: wednesday10, modify: func(f *actFixture) { f.desc.typ = "SomethingElse" },
			req:      func(t *testing.T, f *actFixture, _ string) GateRequest { return f.gateRequest(t, TargetStaging, 90) },
			wantType: process.ErrTypeNotOurs, wantMsg: "not ours"},
		{name: "our type on another task queue", now: wednesday10, modify: func(f *actFixture) { f.desc.queue = "mallory" },
			req:      func(t *testing.T, f *actFixture, _ string) GateRequest { return f.gateRequest(t, TargetStaging, 90) },
			wantType: process.ErrTypeNotOurs, wantMsg: `task queue "mallory"`},
		{name: "no gate", now: wednesday10, modify: func(f *actFixture) { f.a.Gate = nil },
			req:      func(t *testing.T, f *actFixture, _ string) GateRequest { return f.gateRequest(t, TargetStaging, 90) },
			wantType: ErrTypeNotConfigured, wantMsg: "Gate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newActFixture(t, tc.now)
			if tc.modify != nil {
				tc.modify(f)
			}
			wfType, wfID := tc.wfType, tc.wfID
			if wfType == "" {
				wfType = Workflow
			}
			if wfID == "" {
				wfID = f.wfID
			}
			var d gate.Decision
			err := f.runAs(t, wfType, wfID, ActivityEvaluateGate, f.a.AgentEvaluateGate, func(runID string) any { return tc.req(t, f, runID) }, &d)
			if tc.wantType != "" {
				require.Error(t, err)
				typ, nr := appErrType(err)
				assert.True(t, nr, "want non-retryable, got %v", err)
				assert.Equal(t, tc.wantType, typ, "error: %v", err)
				assert.Contains(t, err.Error(), tc.wantMsg)
				return
			}
			require.NoError(t, err)
			var ids []string
			for _, r := range d.Reasons {
				ids = append(ids, r.PolicyID)
			}
			assert.Equal(t, tc.wantReasons, ids, "decision: %s", d)
			assert.Equal(t, tc.wantReasons == nil, d.Permit)
		})
	}
}

func TestExecute(t *testing.T) {
	tests := []struct {
		name      string
		now       time.Time
		modify    func(f *actFixture)
		req       func(t *testing.T, f *actFixture, runID string) ExecuteRequest
		wantType  string // "" = executed
		wantMsg   string
		wantCalls int
		// wantDenial are the reasons of a GateDenied's decision.
		wantDenial []string
	}{
		{name: "staging with a gateway start proof", now: wednesday10, wantCalls: 1,
			req: func(t *testing.T, f *actFixture, _ string) ExecuteRequest {
				r := f.gateRequest(t, TargetStaging, 90)
				return ExecuteRequest{GateRequest: r, IdempotencyKey: IdempotencyKey(f.wfID, r.ActionDigest)}
			}},
		{name: "production in the window approved by lee", now: saturday03, wantCalls: 1,
			req: func(t *testing.T, f *actFixture, runID string) ExecuteRequest {
				r := f.gateRequest(t, TargetProduction, 90)
				r.Approvals = []approvals.Approval{f.approval(t, runID, "lee", "release-manager", TargetProduction, r.ActionDigest)}
				return ExecuteRequest{GateRequest: r, IdempotencyKey: IdempotencyKey(f.wfID, r.ActionDigest)}
			}},
		{name: "the artifact was re-pushed after gating", now: wednesday10,
			modify: func(f *actFixture) { f.dep.setArtifact("checkout", "1.4.2", digestB) },
			req: func(t *testing.T, f *actFixture, _ string) ExecuteRequest {
				r := f.gateRequest(t, TargetStaging, 90)
				return ExecuteRequest{GateRequest: r, IdempotencyKey: IdempotencyKey(f.wfID, r.ActionDigest)}
			}, wantType: ErrTypeActionChanged, wantMsg: "nothing executed"},
		{name: "the version vanished from the registry", now: wednesday10,
			modify: func(f *actFixture) { delete(f.dep.artifacts, "checkout@1.4.2") },
			req: func(t *testing.T, f *actFixture, _ string) ExecuteRequest {
				r := f.gateRequest(t, TargetStaging, 90)
				return ExecuteRequest{GateRequest: r, IdempotencyKey: IdempotencyKey(f.wfID, r.ActionDigest)}
			}, wantType: ErrTypeInvalidInput, wantMsg: "params.version"},
		{name: "production outside the window", now: wednesday10,
			req: func(t *testing.T, f *actFixture, _ string) ExecuteRequest {
				r := f.gateRequest(t, TargetProduction, 90)
				return ExecuteRequest{GateRequest: r, IdempotencyKey: IdempotencyKey(f.wfID, r.ActionDigest)}
			}, wantType: ErrTypeGateDenied, wantMsg: "deploy.maintenance-window",
			wantDenial: []string{"deploy.maintenance-window", "deploy.production.approval"}},
		{name: "production outside the window, approved", now: wednesday10.Add(2 * time.Hour),
			req: func(t *testing.T, f *actFixture, runID string) ExecuteRequest {
				r := f.gateRequest(t, TargetProduction, 90)
				r.Approvals = []approvals.Approval{f.approval(t, runID, "lee", "release-manager", TargetProduction, r.ActionDigest)}
				return ExecuteRequest{GateRequest: r, IdempotencyKey: IdempotencyKey(f.wfID, r.ActionDigest)}
			}, wantType: ErrTypeGateDenied, wantMsg: "deploy.maintenance-window", wantDenial: []string{"deploy.maintenance-window"}},
		{name: "without a requester proof", now: wednesday10,
			req: func(t *testing.T, f *actFixture, _ string) ExecuteRequest {
				r := f.gateRequest(t, TargetStaging, 90)
				r.RequesterProof = ""
				return ExecuteRequest{GateRequest: r, IdempotencyKey: IdempotencyKey(f.wfID, r.ActionDigest)}
			}, wantType: ErrTypeGateDenied, wantMsg: "agent.verified", wantDenial: []string{"agent.verified"}},
		{name: "a gateway proof for another workflow", now: wednesday10,
			req: func(t *testing.T, f *actFixture, _ string) ExecuteRequest {
				r := f.gateRequest(t, TargetStaging, 90)
				r.RequesterProof = f.keys.startProof(t, WorkflowID("bot", "key-2"), "bot", f.desc.start.Add(-time.Minute))
				return ExecuteRequest{GateRequest: r, IdempotencyKey: IdempotencyKey(f.wfID, r.ActionDigest)}
			}, wantType: ErrTypeProofRefused, wantMsg: "requesterProof"},
		{name: "an agent approving", now: saturday03,
			req: func(t *testing.T, f *actFixture, runID string) ExecuteRequest {
				r := f.gateRequest(t, TargetProduction, 90)
				r.Approvals = []approvals.Approval{f.approval(t, runID, "agent:bot", "release-manager", TargetProduction, r.ActionDigest)}
				return ExecuteRequest{GateRequest: r, IdempotencyKey: IdempotencyKey(f.wfID, r.ActionDigest)}
			}, wantType: ErrTypeProofRefused, wantMsg: "is an agent"},
		{name: "no idempotency key", now: wednesday10,
			req: func(t *testing.T, f *actFixture, _ string) ExecuteRequest {
				return ExecuteRequest{GateRequest: f.gateRequest(t, TargetStaging, 90)}
			}, wantType: ErrTypeInvalidInput, wantMsg: "idempotencyKey"},
		{name: "on another task queue", now: wednesday10, modify: func(f *actFixture) { f.desc.queue = "mallory" },
			req: func(t *testing.T, f *actFixture, _ string) ExecuteRequest {
				r := f.gateRequest(t, TargetStaging, 90)
				return ExecuteRequest{GateRequest: r, IdempotencyKey: IdempotencyKey(f.wfID, r.ActionDigest)}
			}, wantType: process.ErrTypeNotOurs, wantMsg: "mallory"},
		{name: "deployment system refuses with 409", now: wednesday10, wantCalls: 1,
			modify: func(f *actFixture) {
				f.dep.createErr = &httpx.Error{Op: "deploy.createRelease", StatusCode: http.StatusConflict, Message: "digest mismatch", Permanent: true}
			},
			req: func(t *testing.T, f *actFixture, _ string) ExecuteRequest {
				r := f.gateRequest(t, TargetStaging, 90)
				return ExecuteRequest{GateRequest: r, IdempotencyKey: IdempotencyKey(f.wfID, r.ActionDigest)}
			}, wantType: ErrTypeActionChanged, wantMsg: "refused the release"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newActFixture(t, tc.now)
			if tc.modify != nil {
				tc.modify(f)
			}
			var sent ExecuteRequest
			var res ExecuteResult
			err := f.runAs(t, Workflow, f.wfID, ActivityExecute, f.a.AgentExecute, func(runID string) any {
				sent = tc.req(t, f, runID)
				return sent
			}, &res)
			calls := f.dep.calls()
			assert.Len(t, calls, tc.wantCalls, "CreateRelease calls")
			if tc.wantType == "" {
				require.NoError(t, err)
				require.Len(t, calls, 1)
				assert.Equal(t, sent.IdempotencyKey, calls[0].Key, "the release carries the action's idempotency key")
				assert.True(t, strings.HasPrefix(calls[0].Key, "aa-"))
				assert.Equal(t, deploy.ReleaseRequest{Target: sent.Target, Service: "checkout", Version: "1.4.2", ArtifactDigest: digestA, RequestedBy: "agent:bot"}, calls[0].Req)
				assert.Equal(t, "rel-1", res.Ref)
				assert.True(t, res.Decision.Permit, "the gate's decision at the side effect is returned")
				return
			}
			require.Error(t, err)
			typ, nr := appErrType(err)
			assert.True(t, nr, "want non-retryable, got %v", err)
			assert.Equal(t, tc.wantType, typ, "error: %v", err)
			assert.Contains(t, err.Error(), tc.wantMsg)
			if tc.wantDenial != nil {
				var appErr *temporal.ApplicationError
				require.True(t, errors.As(err, &appErr))
				var d gate.Decision
				require.NoError(t, appErr.Details(&d), "the denial carries the decision")
				assert.False(t, d.Permit)
				var ids []string
				for _, r := range d.Reasons {
					ids = append(ids, r.PolicyID)
				}
				assert.Equal(t, tc.wantDenial, ids)
				assert.NotEmpty(t, d.PolicySetHash)
			}
		})
	}
}

// Execute resolves the action as it is now, so the request's params are
// never trusted over the registry: a request whose action names a digest
// the registry does not hold is refused.
func TestExecuteRefusesAnActionTheRegistryDoesNotHold(t *testing.T) {
	f := newActFixture(t, wednesday10)
	raw, d := rawAction(t, DeployAction{Kind: KindDeploy, Target: TargetStaging, Service: "checkout", Version: "1.4.2", ArtifactDigest: digestB, RequestedBy: "agent:bot"})
	req := ExecuteRequest{GateRequest: GateRequest{
		Kind: KindDeploy, Target: TargetStaging, Action: raw, ActionDigest: d, RequestedBy: "agent:bot",
		RequesterProof: f.keys.startProof(t, f.wfID, "bot", f.desc.start.Add(-time.Minute)), ConfidencePercent: 90,
	}, IdempotencyKey: IdempotencyKey(f.wfID, d)}
	err := f.runAs(t, Workflow, f.wfID, ActivityExecute, f.a.AgentExecute, func(string) any { return req }, nil)
	typ, nr := appErrType(err)
	require.True(t, nr, "want non-retryable, got %v", err)
	assert.Equal(t, ErrTypeActionChanged, typ)
	assert.Empty(t, f.dep.calls())
}

func TestExecuteEmail(t *testing.T) {
	f := newActFixture(t, wednesday10)
	raw, d := rawAction(t, EmailAction{Kind: KindEmail, To: "bob@example.com", Subject: "Hi", Body: "Hello", RequestedBy: "agent:bot"})
	key := IdempotencyKey(f.wfID, d)
	req := ExecuteRequest{GateRequest: GateRequest{
		Kind: KindEmail, Target: "bob@example.com", Action: raw, ActionDigest: d, RequestedBy: "agent:bot",
		RequesterProof: f.keys.startProof(t, f.wfID, "bot", f.desc.start.Add(-time.Minute)), ConfidencePercent: 95,
	}, IdempotencyKey: key}
	var res ExecuteResult
	require.NoError(t, f.runAs(t, Workflow, f.wfID, ActivityExecute, f.a.AgentExecute, func(string) any { return req }, &res))
	msgs := f.mail.messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, []string{"bob@example.com"}, msgs[0].To)
	assert.Equal(t, "Hi", msgs[0].Subject)
	assert.Equal(t, "<"+key+"@execution-orchestrator>", msgs[0].MessageID, "a retried send is the same message")
	assert.Contains(t, msgs[0].Body, "on behalf of agent:bot")
	assert.Equal(t, msgs[0].MessageID, res.Ref)

	// The same email to someone outside the company needs a comms lead.
	ext := req
	ext.Target = "partner@other.example"
	ext.Action, ext.ActionDigest = rawAction(t, EmailAction{Kind: KindEmail, To: ext.Target, Subject: "Hi", Body: "Hello", RequestedBy: "agent:bot"})
	err := f.runAs(t, Workflow, f.wfID, ActivityExecute, f.a.AgentExecute, func(string) any { return ext }, nil)
	typ, nr := appErrType(err)
	require.True(t, nr, "want non-retryable, got %v", err)
	assert.Equal(t, ErrTypeGateDenied, typ)
	assert.Contains(t, err.Error(), "email.external")
	assert.Len(t, f.mail.messages(), 1, "nothing more was sent")
}

func TestVerify(t *testing.T) {
	healthyAt := time.Date(2026, 3, 4, 10, 3, 0, 0, time.UTC)
	tests := []struct {
		name      string
		req       VerifyRequest
		release   *deploy.Release
		wantState string
		wantAt    time.Time
		wantType  string
		wantRetry bool
	}{
		{name: "deploying is not yet", req: VerifyRequest{Kind: KindDeploy, Ref: "rel-1"},
			release: &deploy.Release{ID: "rel-1", Status: deploy.StatusDeploying}, wantType: ErrTypeNotYet, wantRetry: true},
		{name: "healthy", req: VerifyRequest{Kind: KindDeploy, Ref: "rel-1"},
			release:   &deploy.Release{ID: "rel-1", Service: "checkout", Version: "1.4.2", Target: TargetStaging, Status: deploy.StatusHealthy, HealthyAt: &healthyAt},
			wantState: "healthy", wantAt: healthyAt},
		{name: "healthy without a time takes now", req: VerifyRequest{Kind: KindDeploy, Ref: "rel-1"},
			release:   &deploy.Release{ID: "rel-1", Status: deploy.StatusHealthy},
			wantState: "healthy", wantAt: wednesday10},
		{name: "unhealthy is final", req: VerifyRequest{Kind: KindDeploy, Ref: "rel-1"},
			release: &deploy.Release{ID: "rel-1", Status: deploy.StatusUnhealthy, Detail: "crash loop"}, wantType: ErrTypeUnhealthy},
		{name: "unknown release", req: VerifyRequest{Kind: KindDeploy, Ref: "rel-9"}, wantType: ErrTypeNotFound},
		{name: "email not delivered yet", req: VerifyRequest{Kind: KindEmail, Ref: "<aa-1@execution-orchestrator>"}, wantType: ErrTypeNotYet, wantRetry: true},
		{name: "no ref", req: VerifyRequest{Kind: KindDeploy, Ref: " "}, wantType: ErrTypeInvalidInput},
		{name: "vendor payment is not verified here", req: VerifyRequest{Kind: KindVendorPayment, Ref: "x"}, wantType: ErrTypeInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newActFixture(t, wednesday10)
			if tc.release != nil {
				f.dep.releases[tc.release.ID] = *tc.release
			}
			var res VerifyResult
			err := f.runOurs(t, ActivityVerify, f.a.AgentVerify, &res, tc.req)
			if tc.wantType == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.wantState, res.State)
				assert.True(t, tc.wantAt.Equal(res.At), "at %s, want %s", res.At, tc.wantAt)
				return
			}
			require.Error(t, err)
			typ, nr := appErrType(err)
			assert.Equal(t, tc.wantType, typ, "error: %v", err)
			assert.Equal(t, !tc.wantRetry, nr, "non-retryable: %v", err)
		})
	}

	// A delivered email is verified with the mailbox's time.
	f := newActFixture(t, wednesday10)
	received := time.Date(2026, 3, 4, 10, 1, 0, 0, time.UTC)
	f.mail.stored["<m@x>"] = email.StoredMessage{MessageID: "<m@x>", To: []string{"bob@example.com"}, ReceivedAt: received}
	var res VerifyResult
	require.NoError(t, f.runOurs(t, ActivityVerify, f.a.AgentVerify, &res, VerifyRequest{Kind: KindEmail, Ref: "<m@x>"}))
	assert.Equal(t, "delivered", res.State)
	assert.Contains(t, res.Detail, "bob@example.com")
	assert.True(t, received.Equal(res.At))
}

func TestSignHandoff(t *testing.T) {
	childID := vendorpayment.VendorPaymentID("INV-1042")
	tests := []struct {
		name     string
		modify   func(f *actFixture)
		req      func(t *testing.T, f *actFixture) HandoffRequest
		wantType string // "" = signed
		wantMsg  string
	}{
		{name: "the agent's verified start is vouched for",
			req: func(t *testing.T, f *actFixture) HandoffRequest {
				return HandoffRequest{ChildWorkflowID: childID, RequestedBy: "agent:bot", RequesterProof: f.keys.startProof(t, f.wfID, "bot", f.desc.start.Add(-time.Minute))}
			}},
		{name: "without a proof",
			req: func(t *testing.T, f *actFixture) HandoffRequest {
				return HandoffRequest{ChildWorkflowID: childID, RequestedBy: "agent:bot"}
			}, wantType: ErrTypeProofRefused, wantMsg: "not proven"},
		{name: "a person is not handed off for",
			req: func(t *testing.T, f *actFixture) HandoffRequest {
				return HandoffRequest{ChildWorkflowID: childID, RequestedBy: "maria", RequesterProof: f.keys.startProof(t, f.wfID, "bot", f.desc.start.Add(-time.Minute))}
			}, wantType: ErrTypeProofRefused, wantMsg: "not proven"},
		{name: "a proof for another action",
			req: func(t *testing.T, f *actFixture) HandoffRequest {
				return HandoffRequest{ChildWorkflowID: childID, RequestedBy: "agent:bot", RequesterProof: f.keys.startProof(t, WorkflowID("bot", "key-2"), "bot", f.desc.start.Add(-time.Minute))}
			}, wantType: ErrTypeProofRefused, wantMsg: "proof.workflowId"},
		{name: "the child's own start proof is not the agent's", // a token for the child cannot be replayed here
			req: func(t *testing.T, f *actFixture) HandoffRequest {
				return HandoffRequest{ChildWorkflowID: childID, RequestedBy: "agent:bot", RequesterProof: f.keys.startProof(t, childID, "bot", f.desc.start.Add(-time.Minute))}
			}, wantType: ErrTypeProofRefused, wantMsg: "proof.workflowId"},
		{name: "no signing key", modify: func(f *actFixture) { f.a.Signer = nil },
			req: func(t *testing.T, f *actFixture) HandoffRequest {
				return HandoffRequest{ChildWorkflowID: childID, RequestedBy: "agent:bot", RequesterProof: f.keys.startProof(t, f.wfID, "bot", f.desc.start.Add(-time.Minute))}
			}, wantType: ErrTypeNotConfigured, wantMsg: "Signer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newActFixture(t, wednesday10)
			if tc.modify != nil {
				tc.modify(f)
			}
			var token string
			err := f.runAs(t, Workflow, f.wfID, ActivitySignHandoff, f.a.AgentSignHandoff, func(string) any { return tc.req(t, f) }, &token)
			if tc.wantType != "" {
				require.Error(t, err)
				typ, nr := appErrType(err)
				assert.True(t, nr, "want non-retryable, got %v", err)
				assert.Equal(t, tc.wantType, typ, "error: %v", err)
				assert.Contains(t, err.Error(), tc.wantMsg)
				assert.Empty(t, token)
				return
			}
			require.NoError(t, err)
			as, err := proof.Verify(token, f.keys.trust, proof.Expect{Kind: proof.KindStart, WorkflowID: childID, Subject: "agent:bot"}, f.now)
			require.NoError(t, err)
			assert.Equal(t, proof.MethodService, as.Method)
			assert.Equal(t, f.keys.worker.KeyID(), as.KeyID, "the worker vouches, not the gateway")
		})
	}
}

// LoadTrust as the workflow schedules it: with a nil argument.
func TestLoadTrustAsTheWorkflowCallsIt(t *testing.T) {
	f := newActFixture(t, wednesday10)
	var got proof.Trust
	require.NoError(t, f.runAs(t, Workflow, f.wfID, ActivityLoadTrust, f.a.AgentLoadTrust, func(string) any { return nil }, &got))
	assert.Equal(t, f.keys.trust, got)

	f.a.Trust = nil
	err := f.runAs(t, Workflow, f.wfID, ActivityLoadTrust, f.a.AgentLoadTrust, func(string) any { return nil }, &got)
	typ, nr := appErrType(err)
	assert.True(t, nr)
	assert.Equal(t, ErrTypeNotConfigured, typ)
}

func TestPlanApprovals(t *testing.T) {
	f := newActFixture(t, wednesday10)
	var p approvals.Plan
	require.NoError(t, f.runOurs(t, ActivityPlanApprovals, f.a.AgentPlanApprovals, &p, PlanRequest{Roles: []string{"release-manager"}, Reason: "production"}))
	require.Len(t, p.Slots, 1)
	assert.Equal(t, "release-manager", p.Slots[0].Role)
	require.Len(t, p.Slots[0].Candidates, 1)
	assert.Equal(t, "lee", p.Slots[0].Candidates[0].ID)

	err := f.runOurs(t, ActivityPlanApprovals, f.a.AgentPlanApprovals, &p, PlanRequest{Roles: []string{"astronaut"}})
	typ, nr := appErrType(err)
	assert.True(t, nr)
	assert.Equal(t, ErrTypeInvalidInput, typ)
	assert.Contains(t, err.Error(), "roles[0]")
}

// The contract (Input.RequesterProof) says an agent's start is vouched for
// by the agent gateway. proof.permitted keeps the gateway to agents' starts;
// fromGateway keeps agents' starts to the gateway: a start assertion for
// "agent:bot" signed by another trusted issuer (the worker, method service;
// the web app, method oidc) is refused.
func TestOnlyTheGatewayVouchesForAnAgentsStart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signer func(k keys) *proof.Signer
		method string
	}{
		{"worker, method service", func(k keys) *proof.Signer { return k.worker }, proof.MethodService},
		{"web app, method oidc", func(k keys) *proof.Signer { return k.web }, proof.MethodOIDC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newActFixture(t, wednesday10)
			iat := f.desc.start.Add(-time.Minute)
			tok, err := tc.signer(f.keys).Sign(proof.Assertion{
				Kind: proof.KindStart, WorkflowID: f.wfID, Subject: "agent:bot", Method: tc.method, IssuedAt: iat, ExpiresAt: iat.Add(10 * time.Minute),
			})
			require.NoError(t, err)
			var d gate.Decision
			err = f.runAs(t, Workflow, f.wfID, ActivityEvaluateGate, f.a.AgentEvaluateGate, func(string) any {
				r := f.gateRequest(t, TargetStaging, 90)
				r.RequesterProof = tok
				return r
			}, &d)
			if err == nil {
				assert.False(t, d.Permit, "a start not vouched for by the gateway must not verify the agent: %s", d)
			}
		})
	}
}

// A release whose answer was lost is found on the retry under its
// idempotency key: the retry neither releases again nor reports the action
// changed, though the artifact was re-pushed in between.
func TestExecuteRetryFindsTheReleaseItsLostAnswerMade(t *testing.T) {
	f := newActFixture(t, wednesday10)
	f.attempts = 3
	f.dep.loseAnswers = 1
	f.dep.repushAt, f.dep.repushDigest = 2, digestB
	var res ExecuteResult
	err := f.runAs(t, Workflow, f.wfID, ActivityExecute, f.a.AgentExecute, func(string) any {
		return ExecuteRequest{GateRequest: f.gateRequest(t, TargetStaging, 90), IdempotencyKey: "aa-lost"}
	}, &res)
	require.NoError(t, err)
	assert.True(t, res.Recovered)
	assert.Equal(t, "rel-1", res.Ref)
	assert.Len(t, f.dep.created, 1, "released once")
}

// Activities that read, plan, mail or verify serve only our own runs: a
// foreign workflow cannot have the orchestrator email a person text of its
// choosing, or read back who received a message.
func TestActivitiesRefuseForeignCallers(t *testing.T) {
	f := newActFixture(t, wednesday10)
	for _, tc := range []struct {
		name string
		fn   any
		arg  any
	}{
		{ActivityNotifyApprovers, f.a.AgentNotifyApprovers, NotifyApproversRequest{WorkflowID: f.wfID, Kind: "request", Slot: "release-manager", Approvers: []string{"lee"}, Title: "click here"}},
		{ActivityVerify, f.a.AgentVerify, VerifyRequest{Kind: KindEmail, Ref: "<m@x>"}},
		{ActivityResolve, f.a.AgentResolveAction, ResolveRequest{Kind: KindEmail, Target: "bob@example.com", Params: json.RawMessage(`{"subject":"Hi","body":"Hello"}`)}},
		{ActivityPlanApprovals, f.a.AgentPlanApprovals, PlanRequest{Roles: []string{"release-manager"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.runAs(t, "Mallory", f.wfID, tc.name, tc.fn, func(string) any { return tc.arg }, nil)
			typ, nr := appErrType(err)
			assert.Equal(t, process.ErrTypeNotOurs, typ, "error: %v", err)
			assert.True(t, nr)
		})
	}
	assert.Empty(t, f.mail.sent, "nothing mailed for a foreign caller")
}

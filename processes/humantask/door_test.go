package humantask

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// The "task" Update refuses, before anything enters history, a step whose
// proof is forged or replayed, a step for someone else, and oversized input;
// only the offered worker's proven step is accepted.
func TestTaskUpdateFailsClosed(t *testing.T) {
	web, _ := newSigner(t)
	stranger, _ := newSigner(t)
	trust := proof.Trust{Keys: []proof.TrustedKey{{KeyID: web.KeyID(), Public: proof.EncodePublicKey(web.Public()), Issuer: proof.IssuerWeb}}}
	start := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	RegisterWorkflows(env, DefaultConfig())
	RegisterActivities(env, &Activities{})
	env.OnActivity(ActivityLoadTrust, mock.Anything).Return(trust, nil)
	env.OnActivity(ActivityRoute, mock.Anything, mock.Anything).Return(workforce.Routing{Candidates: []workforce.Candidate{{WorkerID: "ana"}}}, nil)
	env.OnActivity(ActivityNotifyWorker, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(ActivityAdjustLoad, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(ActivityEscalate, mock.Anything, mock.Anything).Return([]string{"fatima"}, nil)

	sign := func(signer *proof.Signer, req TaskRequest, slot string) string {
		d, err := RequestDigest(req)
		require.NoError(t, err)
		now := start.Add(time.Minute)
		tok, err := signer.Sign(proof.Assertion{Kind: proof.KindTask, WorkflowID: "default-test-workflow-id", RunID: "default-test-run-id",
			Slot: slot, ActionDigest: d, Decision: req.Action, Subject: req.Worker, Method: proof.MethodOIDC, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
		require.NoError(t, err)
		return tok
	}
	accept := TaskRequest{Action: ActionAccept, Worker: "ana", Step: "offer-1"}
	accept.Proof = sign(web, accept, "offer-1")
	forged := accept
	forged.Proof = sign(stranger, TaskRequest{Action: ActionAccept, Worker: "ana", Step: "offer-1"}, "offer-1")
	asBruno := TaskRequest{Action: ActionAccept, Worker: "bruno", Step: "offer-1"}
	asBruno.Proof = sign(web, asBruno, "offer-1")
	otherStep := accept
	otherStep.Step = "offer-2"
	oversized := accept
	oversized.Proof = strings.Repeat("x", proof.MaxTokenLen+1)
	answers := map[string]any{}
	for i := range maxAnswers + 1 {
		answers[strings.Repeat("a", i+1)] = "x"
	}
	// Sent after acceptance: the same proof again, and a submission too big.
	tooMany := TaskRequest{Action: ActionSubmit, Worker: "ana", Step: "submission-1",
		Submission: &evidence.Submission{TaskID: "t1", WorkerID: "ana", Answers: answers}}
	tooMany.Proof = sign(web, tooMany, "submission-1")

	answered := 0
	send := func(name string, req TaskRequest, wantRefusal string) {
		env.UpdateWorkflow(TaskUpdate, name, &testsuite.TestUpdateCallback{
			OnReject: func(err error) {
				answered++
				if wantRefusal == "" {
					t.Errorf("%s refused: %v", name, err)
				} else {
					assert.Contains(t, err.Error(), wantRefusal, name)
				}
			},
			OnAccept: func() {
				answered++
				if wantRefusal != "" {
					t.Errorf("%s accepted, want refused (%s)", name, wantRefusal)
				}
			},
			OnComplete: func(any, error) {},
		}, req)
	}
	env.RegisterDelayedCallback(func() {
		send("forged", forged, "proof.kid")
		send("someone else", asBruno, "worker")
		send("another step", otherStep, "step")
		send("oversized proof", oversized, "proof: longer")
		send("accept", accept, "")
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		send("replayed", accept, "step")
		send("too many answers", tooMany, "more than")
	}, 2*time.Minute)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 3*time.Minute)
	env.ExecuteWorkflow(Workflow, Input{TaskID: "t1", Title: "x", Skills: []workforce.Skill{{Name: "id", Level: 1}},
		Place: evidence.GeoPoint{Lat: 38.7, Lon: -9.1}, Start: start, End: start.Add(4 * time.Hour), RequestedBy: "maria"})
	require.True(t, env.IsWorkflowCompleted())
	assert.Equal(t, 7, answered, "every update was answered")
}

// Activities on our task queue serve only HumanTask runs: a workflow of
// another type cannot have the orchestrator mail a worker or move load.
func TestActivitiesRefuseForeignCallers(t *testing.T) {
	a := &Activities{}
	for _, tc := range []struct {
		name string
		fn   any
		arg  any
	}{
		{ActivityNotifyWorker, a.TaskNotifyWorker, NotifyWorkerRequest{WorkerID: "ana", Kind: NotifyOffer}},
		{ActivityAdjustLoad, a.TaskAdjustLoad, LoadRequest{WorkerID: "ana", OpKey: "k", Delta: 1}},
		{ActivityEscalate, a.TaskEscalate, EscalateRequest{Role: "field-coordinator", Subject: "click here"}},
		{ActivityRoute, a.TaskRoute, RouteRequest{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
				ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
				return workflow.ExecuteActivity(ctx, tc.name, tc.arg).Get(ctx, nil)
			}, workflow.RegisterOptions{Name: "Mallory"})
			env.RegisterActivityWithOptions(tc.fn, activityOptions(tc.name))
			env.ExecuteWorkflow("Mallory")
			err := env.GetWorkflowError()
			require.Error(t, err)
			assert.True(t, process.HasErrorType(err, process.ErrTypeNotOurs), "%v", err)
		})
	}
}

func activityOptions(name string) activity.RegisterOptions {
	return activity.RegisterOptions{Name: name}
}

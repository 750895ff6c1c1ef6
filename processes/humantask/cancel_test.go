package humantask

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// Cancelling an assigned task gives the worker's load back: the release runs
// in a disconnected context, not the cancelled one.
func TestCancelWhileAssignedGivesLoadBack(t *testing.T) {
	_, priv, _ := proof.GenerateKey()
	signer := proof.NewSigner(priv)
	trust := proof.Trust{Keys: []proof.TrustedKey{{KeyID: signer.KeyID(), Public: proof.EncodePublicKey(signer.Public()), Issuer: proof.IssuerWeb}}}

	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	start := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	RegisterWorkflows(env, DefaultConfig())
	RegisterActivities(env, &Activities{})
	var mu sync.Mutex
	loads := map[string]int{}
	env.OnActivity(ActivityLoadTrust, mock.Anything).Return(trust, nil)
	env.OnActivity(ActivityRoute, mock.Anything, mock.Anything).Return(workforce.Routing{Candidates: []workforce.Candidate{{WorkerID: "ana"}}}, nil)
	env.OnActivity(ActivityNotifyWorker, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(ActivityEscalate, mock.Anything, mock.Anything).Return([]string{"c"}, nil)
	env.OnActivity(ActivityAdjustLoad, mock.Anything, mock.Anything).Return(func(_ context.Context, r LoadRequest) error {
		mu.Lock()
		defer mu.Unlock()
		loads[r.WorkerID] += r.Delta
		t.Logf("adjust %s %+d key=%s", r.WorkerID, r.Delta, r.OpKey)
		return nil
	})
	in := Input{TaskID: "t1", Title: "x", Skills: []workforce.Skill{{Name: "id", Level: 1}}, Place: evidence.GeoPoint{Lat: 38.7, Lon: -9.1},
		Start: start, End: start.Add(4 * time.Hour), RequestedBy: "maria"}
	env.RegisterDelayedCallback(func() {
		req := TaskRequest{Action: ActionAccept, Worker: "ana", Step: "offer-1"}
		d, _ := RequestDigest(req)
		now := start.Add(time.Minute)
		req.Proof, _ = signer.Sign(proof.Assertion{Kind: proof.KindTask, WorkflowID: "default-test-workflow-id", RunID: "default-test-run-id",
			Slot: "offer-1", ActionDigest: d, Decision: ActionAccept, Subject: "ana", Method: proof.MethodOIDC, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
		env.UpdateWorkflow(TaskUpdate, "u1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("rejected: %v", err) }, OnAccept: func() {}, OnComplete: func(any, error) {}}, req)
	}, time.Minute)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 10*time.Minute)
	env.ExecuteWorkflow(Workflow, in)
	require.True(t, env.IsWorkflowCompleted())
	mu.Lock()
	defer mu.Unlock()
	t.Logf("net load of ana after cancel: %d", loads["ana"])
	require.Equal(t, 0, loads["ana"], "load leaked")
}

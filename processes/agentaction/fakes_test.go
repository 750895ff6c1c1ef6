package agentaction

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/execution-orchestrator/orchestrator/connectors/deploy"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// testQueue is the task queue the test environments run activities on.
const testQueue = "default-test-taskqueue"

// fakeDeployer is the deployment system: an artifact registry (service@version
// → digest) a test may change at any time, and the releases it created.
type fakeDeployer struct {
	mu        sync.Mutex
	artifacts map[string]string
	releases  map[string]deploy.Release
	// created records each CreateRelease: its key and request.
	created     []createCall
	artifactErr error // returned by GetArtifact when set
	createErr   error // returned by CreateRelease when set
	// releaseStatus is the status of created releases ("" = deploying).
	releaseStatus string
	// repushAt, when positive, re-pushes checkout 1.4.2 as repushDigest just
	// before the repushAt-th GetArtifact answers (1-based).
	repushAt      int
	repushDigest  string
	artifactCalls int
	// loseAnswers is how many CreateRelease calls act but lose their
	// answer (a connection reset after the release was made).
	loseAnswers int
}

type createCall struct {
	Key string
	Req deploy.ReleaseRequest
}

func newFakeDeployer() *fakeDeployer {
	return &fakeDeployer{
		artifacts: map[string]string{"checkout@1.4.2": digestA},
		releases:  map[string]deploy.Release{},
	}
}

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func notFound(op string) error {
	return &httpx.Error{Op: op, StatusCode: http.StatusNotFound, Message: "not found", Permanent: true}
}

func (f *fakeDeployer) setArtifact(service, version, digest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.artifacts[service+"@"+version] = digest
}

func (f *fakeDeployer) calls() []createCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]createCall(nil), f.created...)
}

func (f *fakeDeployer) GetArtifact(_ context.Context, service, version string) (deploy.Artifact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.artifactCalls++
	if f.repushAt > 0 && f.artifactCalls == f.repushAt {
		f.artifacts["checkout@1.4.2"] = f.repushDigest
	}
	if f.artifactErr != nil {
		return deploy.Artifact{}, f.artifactErr
	}
	d, ok := f.artifacts[service+"@"+version]
	if !ok {
		return deploy.Artifact{}, notFound("deploy.getArtifact " + service + "@" + version)
	}
	return deploy.Artifact{Service: service, Version: version, Digest: d}, nil
}

func (f *fakeDeployer) CreateRelease(_ context.Context, key string, req deploy.ReleaseRequest) (deploy.Release, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, createCall{Key: key, Req: req})
	if f.createErr != nil {
		return deploy.Release{}, f.createErr
	}
	rel := deploy.Release{
		ID: fmt.Sprintf("rel-%d", len(f.created)), IdempotencyKey: key, Target: req.Target, Service: req.Service,
		Version: req.Version, ArtifactDigest: req.ArtifactDigest, RequestedBy: req.RequestedBy, Status: deploy.StatusDeploying,
	}
	if f.releaseStatus != "" {
		rel.Status = f.releaseStatus
	}
	f.releases[rel.ID] = rel
	if f.loseAnswers > 0 {
		f.loseAnswers--
		return deploy.Release{}, errors.New("connection reset after the release was created")
	}
	return rel, nil
}

func (f *fakeDeployer) ListReleases(_ context.Context, target, service string) ([]deploy.Release, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []deploy.Release
	for _, r := range f.releases {
		if (target == "" || r.Target == target) && (service == "" || r.Service == service) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeDeployer) GetRelease(_ context.Context, id string) (deploy.Release, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.releases[id]
	if !ok {
		return deploy.Release{}, notFound("deploy.getRelease " + id)
	}
	return r, nil
}

// fakeMailer keeps sent messages by Message-ID, like the mail system.
type fakeMailer struct {
	mu     sync.Mutex
	sent   []email.Message
	stored map[string]email.StoredMessage
}

func newFakeMailer() *fakeMailer { return &fakeMailer{stored: map[string]email.StoredMessage{}} }

func (f *fakeMailer) Send(_ context.Context, m email.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, m)
	f.stored[m.MessageID] = email.StoredMessage{MessageID: m.MessageID, To: m.To, Subject: m.Subject, Body: m.Body,
		ReceivedAt: time.Date(2026, 3, 4, 10, 1, 0, 0, time.UTC)}
	return nil
}

func (f *fakeMailer) Lookup(_ context.Context, id string) (email.StoredMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.stored[id]
	if !ok {
		return email.StoredMessage{}, notFound("mail.getMessage " + id)
	}
	return m, nil
}

func (f *fakeMailer) messages() []email.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]email.Message(nil), f.sent...)
}

// fakeDescriber answers DescribeWorkflowExecution as the server would for a
// workflow of type typ (default AgentAction) on queue, started at start.
type fakeDescriber struct {
	queue, typ string
	start      time.Time
}

func (f *fakeDescriber) DescribeWorkflowExecution(_ context.Context, id, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	typ := f.typ
	if typ == "" {
		typ = Workflow
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{
		ExecutionConfig: &workflowpb.WorkflowExecutionConfig{TaskQueue: &taskqueuepb.TaskQueue{Name: f.queue}},
		WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: runID},
			Type:      &commonpb.WorkflowType{Name: typ}, StartTime: timestamppb.New(f.start),
		},
	}, nil
}

// keys are the signers of a test: the agent gateway, the web app (approvals
// after sign-in) and the worker; trust lists all three.
type keys struct {
	gateway, web, worker *proof.Signer
	trust                proof.Trust
}

func newKeys(t testing.TB) keys {
	t.Helper()
	mk := func() *proof.Signer {
		_, priv, err := proof.GenerateKey()
		require.NoError(t, err)
		return proof.NewSigner(priv)
	}
	k := keys{gateway: mk(), web: mk(), worker: mk()}
	entry := func(s *proof.Signer, issuer string) proof.TrustedKey {
		e, err := proof.NewTrustedKey(issuer, proof.EncodePublicKey(s.Public()), "")
		require.NoError(t, err)
		return e
	}
	k.trust = proof.Trust{Keys: []proof.TrustedKey{
		entry(k.gateway, proof.IssuerGateway), entry(k.web, proof.IssuerWeb), entry(k.worker, proof.IssuerWorker),
	}}
	return k
}

// startProof is the gateway's start assertion for agent's action wfID,
// issued at iat, as Client.Propose signs it: bound to the proposal's digest
// when one is given.
func (k keys) startProof(t testing.TB, wfID, agent string, iat time.Time, proposal ...Proposal) string {
	t.Helper()
	a := proof.Assertion{
		Kind: proof.KindStart, WorkflowID: wfID, Subject: "agent:" + agent, Method: proof.MethodAgentKey,
		IssuedAt: iat, ExpiresAt: iat.Add(10 * time.Minute),
	}
	if len(proposal) > 0 {
		d, err := ProposalDigest(proposal[0])
		require.NoError(t, err)
		a.ActionDigest = d
	}
	tok, err := k.gateway.Sign(a)
	require.NoError(t, err)
	return tok
}

// approvalProof is the web app's assertion that who approved slot of the
// run for digest, issued at iat.
func (k keys) approvalProof(t testing.TB, wfID, runID, slot, digest, who string, iat time.Time) string {
	t.Helper()
	tok, err := k.web.Sign(proof.Assertion{
		Kind: proof.KindApproval, WorkflowID: wfID, RunID: runID, Slot: slot, ActionDigest: digest,
		Decision: proof.DecisionApprove, Subject: who, Method: proof.MethodOIDC, IssuedAt: iat, ExpiresAt: iat.Add(time.Hour),
	})
	require.NoError(t, err)
	return tok
}

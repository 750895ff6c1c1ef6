package humantask

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/mocks"

	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

func goodCreate() CreateRequest {
	return CreateRequest{
		TaskID: "idv-ACC-1001", Title: "Verify the identity of ACC-1001", Instructions: "Check the ID card",
		Context: map[string]string{"customer": "Ana Lima"}, Skills: []workforce.Skill{{Name: "identity-verification", Level: 2}},
		Place: Place{Lat: 38.7223, Lon: -9.1393}, Address: "Rua Augusta 1, Lisboa",
		Start: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 5, 4, 17, 0, 0, 0, time.UTC),
		Evidence: evidence.Spec{Photos: []evidence.PhotoSpec{{Name: "id-front", Prompt: "Front of the ID", MaxDistanceM: 200, Required: true}}, Signature: true},
	}
}

func TestValidateCreate(t *testing.T) {
	require.NoError(t, ValidateCreate("field-bot", goodCreate()))
	tests := []struct {
		name  string
		agent string
		edit  func(*CreateRequest)
		field string
	}{
		{"agent name", "Field Bot", func(*CreateRequest) {}, "agent"},
		{"no task id", "", func(r *CreateRequest) { r.TaskID = "" }, "taskId"},
		{"task id with a slash", "", func(r *CreateRequest) { r.TaskID = "a/b" }, "taskId"},
		{"task id with a space", "", func(r *CreateRequest) { r.TaskID = "a b" }, "taskId"},
		{"task id starting with a dot", "", func(r *CreateRequest) { r.TaskID = ".x" }, "taskId"},
		{"task id too long for the agent", "", func(r *CreateRequest) { r.TaskID = strings.Repeat("x", MaxAgentTaskIDLen("field-bot")+1) }, "taskId"},
		{"no title", "", func(r *CreateRequest) { r.Title = "  " }, "title"},
		{"long title", "", func(r *CreateRequest) { r.Title = strings.Repeat("t", 201) }, "title"},
		{"long instructions", "", func(r *CreateRequest) { r.Instructions = strings.Repeat("i", 4001) }, "instructions"},
		{"long address", "", func(r *CreateRequest) { r.Address = strings.Repeat("a", 501) }, "address"},
		{"bad UTF-8", "", func(r *CreateRequest) { r.Instructions = "\xff" }, "instructions"},
		{"context too big", "", func(r *CreateRequest) {
			r.Context = map[string]string{}
			for i := range 31 {
				r.Context[strings.Repeat("k", i+1)] = "v"
			}
		}, "context"},
		{"context value too long", "", func(r *CreateRequest) { r.Context = map[string]string{"note": strings.Repeat("v", 1001)} }, "context.note"},
		{"context empty key", "", func(r *CreateRequest) { r.Context = map[string]string{"": "v"} }, "context"},
		{"no skills", "", func(r *CreateRequest) { r.Skills = nil }, "skills"},
		{"too many skills", "", func(r *CreateRequest) { r.Skills = make([]workforce.Skill, MaxSkills+1) }, "skills"},
		{"skill without a name", "", func(r *CreateRequest) { r.Skills = []workforce.Skill{{Level: 1}} }, "skills[0].name"},
		{"skill level", "", func(r *CreateRequest) { r.Skills = append(r.Skills, workforce.Skill{Name: "x", Level: 6}) }, "skills[1].level"},
		{"latitude", "", func(r *CreateRequest) { r.Place.Lat = 91 }, "place.lat"},
		{"longitude", "", func(r *CreateRequest) { r.Place.Lon = -181 }, "place.lon"},
		{"no place", "", func(r *CreateRequest) { r.Place = Place{} }, "place"},
		{"no start", "", func(r *CreateRequest) { r.Start = time.Time{} }, "start"},
		{"no end", "", func(r *CreateRequest) { r.End = time.Time{} }, "end"},
		{"end before start", "", func(r *CreateRequest) { r.End = r.Start.Add(-time.Hour) }, "end"},
		{"evidence photo name", "", func(r *CreateRequest) { r.Evidence.Photos[0].Name = "ID" }, "evidence.photos[0].name"},
		{"evidence question type", "", func(r *CreateRequest) {
			r.Evidence.Questions = []evidence.Question{{ID: "ok", Type: "colour"}}
		}, "evidence.questions[0].type"},
		{"accept timeout too short", "", func(r *CreateRequest) { r.AcceptTimeoutSeconds = 30 }, "acceptTimeoutSeconds"},
		{"accept timeout negative", "", func(r *CreateRequest) { r.AcceptTimeoutSeconds = -1 }, "acceptTimeoutSeconds"},
		{"due after too long", "", func(r *CreateRequest) { r.DueAfterSeconds = 31 * 24 * 3600 }, "dueAfterSeconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agent := tt.agent
			if agent == "" {
				agent = "field-bot"
			}
			r := goodCreate()
			tt.edit(&r)
			err := ValidateCreate(agent, r)
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.field, fe.Field, "%v", err)
			assert.NotEmpty(t, fe.Message)
		})
	}
}

// What passes ValidateCreate passes the workflow's own check.
func TestCreateInputIsValidInput(t *testing.T) {
	r := goodCreate()
	r.TaskID = strings.Repeat("x", MaxAgentTaskIDLen("field-bot"))
	r.AcceptTimeoutSeconds, r.DueAfterSeconds = 600, 7200
	require.NoError(t, ValidateCreate("field-bot", r))
	in := r.Input("field-bot")
	require.NoError(t, validateInput(in))
	assert.Equal(t, "field-bot."+r.TaskID, in.TaskID)
	assert.Equal(t, "agent:field-bot", in.RequestedBy)
	assert.Equal(t, 10*time.Minute, in.AcceptTimeout)
	assert.Equal(t, 2*time.Hour, in.DueAfter)
	assert.Equal(t, evidence.GeoPoint{Lat: 38.7223, Lon: -9.1393}, in.Place)
}

func TestRequestDigestCountsInstants(t *testing.T) {
	a := goodCreate()
	b := goodCreate()
	lisbon := time.FixedZone("WEST", 3600)
	b.Start, b.End = b.Start.In(lisbon), b.End.In(lisbon)
	da, err := a.RequestDigest()
	require.NoError(t, err)
	db, err := b.RequestDigest()
	require.NoError(t, err)
	assert.Equal(t, da, db)
	b.Title += "!"
	db, err = b.RequestDigest()
	require.NoError(t, err)
	assert.NotEqual(t, da, db)
}

func TestResolveTaskID(t *testing.T) {
	for _, tt := range []struct {
		agent, id, want string
		ok              bool
	}{
		{"alpha", "alpha.idv-1", "alpha.idv-1", true},
		{"alpha", "idv-1", "alpha.idv-1", true},
		{"alpha", "bravo.idv-1", "alpha.bravo.idv-1", true}, // always in alpha's namespace
		{"alpha", "../x", "", false},
		{"alpha", "", "", false},
		{"Alpha", "x", "", false},
	} {
		got, ok := resolveTaskID(tt.agent, tt.id)
		assert.Equal(t, tt.ok, ok, "%s %s", tt.agent, tt.id)
		if tt.ok {
			assert.Equal(t, tt.want, got)
		}
	}
}

func payload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	require.NoError(t, err)
	return p
}

// describeTask is what DescribeWorkflowExecution answers for a HumanTask.
func describeTask(t *testing.T, wfType, queue, requester, digest string) *workflowservice.DescribeWorkflowExecutionResponse {
	info := &workflowpb.WorkflowExecutionInfo{
		Type:   &commonpb.WorkflowType{Name: wfType},
		Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
	}
	if requester != "" { // "": visibility has not recorded it
		info.SearchAttributes = &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{
			process.SARequester.GetName(): payload(t, requester),
		}}
	}
	if digest != "" {
		info.Memo = &commonpb.Memo{Fields: map[string]*commonpb.Payload{memoRequestDigest: payload(t, digest)}}
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: info,
		ExecutionConfig: &workflowpb.WorkflowExecutionConfig{TaskQueue: &taskqueuepb.TaskQueue{Name: queue}}}
}

type encoded struct{ v any }

func (e encoded) HasValue() bool { return true }
func (e encoded) Get(ptr any) error {
	p, err := converter.GetDefaultDataConverter().ToPayload(e.v)
	if err != nil {
		return err
	}
	return converter.GetDefaultDataConverter().FromPayload(p, ptr)
}

func newSigner(t *testing.T) (*proof.Signer, proof.Trust) {
	t.Helper()
	pub, priv, err := proof.GenerateKey()
	require.NoError(t, err)
	k, err := proof.NewTrustedKey(proof.IssuerGateway, proof.EncodePublicKey(pub), "")
	require.NoError(t, err)
	return proof.NewSigner(priv), proof.Trust{Keys: []proof.TrustedKey{k}}
}

func TestAgentClientCreate(t *testing.T) {
	now := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)
	signer, trust := newSigner(t)
	req := goodCreate()
	digest, err := req.RequestDigest()
	require.NoError(t, err)
	const wfID = "human-task-field-bot.idv-ACC-1001"

	c := mocks.NewClient(t)
	var started Input
	var opts tclient.StartWorkflowOptions
	c.On("ExecuteWorkflow", mock.Anything, mock.Anything, Workflow, mock.Anything).
		Run(func(args mock.Arguments) {
			opts = args.Get(1).(tclient.StartWorkflowOptions)
			started = args.Get(3).(Input)
		}).Return(nil, nil).Once()
	c.On("DescribeWorkflowExecution", mock.Anything, wfID, "").Return(describeTask(t, Workflow, process.TaskQueue, "agent:field-bot", digest), nil)
	c.On("QueryWorkflow", mock.Anything, wfID, "", StatusQuery).
		Return(encoded{Status{TaskID: "field-bot.idv-ACC-1001", Title: req.Title, RequestedBy: "agent:field-bot", Stage: StageRouting,
			Routing: &workforce.Routing{Excluded: []workforce.Exclusion{{WorkerID: "w-9", Reason: "on leave"}}}}}, nil)
	ac := &AgentClient{Temporal: c, Signer: signer, Now: func() time.Time { return now }}

	st, err := ac.Create(context.Background(), "field-bot", req)
	require.NoError(t, err)
	assert.Equal(t, "field-bot.idv-ACC-1001", st.TaskID)
	assert.Nil(t, st.Routing, "the routing is the workforce's business")

	assert.Equal(t, wfID, opts.ID)
	assert.Equal(t, process.TaskQueue, opts.TaskQueue)
	assert.Equal(t, enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING, opts.WorkflowIDConflictPolicy)
	assert.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, opts.WorkflowIDReusePolicy)
	assert.Equal(t, map[string]any{memoRequestDigest: digest}, opts.Memo)
	assert.Equal(t, "field-bot.idv-ACC-1001", started.TaskID)
	assert.Equal(t, "agent:field-bot", started.RequestedBy)
	a, err := proof.Verify(started.RequesterProof, trust, proof.Expect{Kind: proof.KindStart, WorkflowID: wfID, Subject: "agent:field-bot", ActionDigest: digest}, now)
	require.NoError(t, err)
	assert.Equal(t, proof.MethodAgentKey, a.Method)

	// The same taskId, another request: the recorded digest differs.
	c2 := mocks.NewClient(t)
	c2.On("ExecuteWorkflow", mock.Anything, mock.Anything, Workflow, mock.Anything).
		Return(nil, serviceerror.NewWorkflowExecutionAlreadyStarted("started", "", "")).Once()
	c2.On("DescribeWorkflowExecution", mock.Anything, wfID, "").Return(describeTask(t, Workflow, process.TaskQueue, "agent:field-bot", digest), nil)
	other := req
	other.Title = "Something else"
	_, err = (&AgentClient{Temporal: c2, Signer: signer}).Create(context.Background(), "field-bot", other)
	assert.ErrorIs(t, err, ErrConflict)

	// A refused request never reaches Temporal.
	bad := req
	bad.Skills = nil
	_, err = (&AgentClient{Temporal: mocks.NewClient(t), Signer: signer}).Create(context.Background(), "field-bot", bad)
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "skills", fe.Field)
}

func TestAgentClientGetOwnership(t *testing.T) {
	const wfID = "human-task-alpha.idv-1"
	status := Status{TaskID: "alpha.idv-1", RequestedBy: "agent:alpha", Stage: StageAssigned}
	for _, tt := range []struct {
		name      string
		describe  *workflowservice.DescribeWorkflowExecutionResponse
		err       error
		status    Status
		wantFound bool
	}{
		{"the agent's task", describeTask(t, Workflow, process.TaskQueue, "agent:alpha", ""), nil, status, true},
		{"another agent's", describeTask(t, Workflow, process.TaskQueue, "agent:bravo", ""), nil, status, false},
		{"a process's", describeTask(t, Workflow, process.TaskQueue, "maria", ""), nil, status, false},
		{"another workflow type", describeTask(t, "AgentAction", process.TaskQueue, "agent:alpha", ""), nil, status, false},
		{"another queue", describeTask(t, Workflow, "elsewhere", "agent:alpha", ""), nil, status, false},
		{"status of another requester", describeTask(t, Workflow, process.TaskQueue, "agent:alpha", ""), nil,
			Status{TaskID: "alpha.idv-1", RequestedBy: "agent:bravo"}, false},
		{"no such workflow", nil, serviceerror.NewNotFound("no"), status, false},
		{"no recorded requester, the agent's status", describeTask(t, Workflow, process.TaskQueue, "", ""), nil, status, true},
		{"no recorded requester, another's status", describeTask(t, Workflow, process.TaskQueue, "", ""), nil,
			Status{TaskID: "alpha.idv-1", RequestedBy: "maria"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := mocks.NewClient(t)
			c.On("DescribeWorkflowExecution", mock.Anything, wfID, "").Return(tt.describe, tt.err)
			c.On("QueryWorkflow", mock.Anything, wfID, "", StatusQuery).Return(encoded{tt.status}, nil).Maybe()
			st, err := (&AgentClient{Temporal: c}).Get(context.Background(), "alpha", "idv-1")
			if tt.wantFound {
				require.NoError(t, err)
				assert.Equal(t, "alpha.idv-1", st.TaskID)
			} else {
				assert.ErrorIs(t, err, ErrNotFound)
			}
		})
	}
	// An id that cannot be a task id never reaches Temporal.
	_, err := (&AgentClient{Temporal: mocks.NewClient(t)}).Get(context.Background(), "alpha", "../../x")
	assert.ErrorIs(t, err, ErrNotFound)
}

// fakeEvidence is an EvidenceReader over fixed uploads.
type fakeEvidence struct {
	uploads []evidence.Upload
	blobs   map[string][]byte
}

func (f fakeEvidence) ForTask(_ context.Context, taskID string) ([]evidence.Upload, error) {
	var out []evidence.Upload
	for _, u := range f.uploads {
		if u.TaskID == taskID {
			out = append(out, u)
		}
	}
	return out, nil
}

func (f fakeEvidence) Blob(_ context.Context, sha string) (io.ReadCloser, evidence.Upload, error) {
	b, ok := f.blobs[sha]
	if !ok {
		return nil, evidence.Upload{}, evidence.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b)), evidence.Upload{SHA256: sha}, nil
}

func TestAgentClientEvidenceAndBlob(t *testing.T) {
	const (
		wfID  = "human-task-alpha.idv-1"
		mine  = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
		other = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
	)
	ev := fakeEvidence{
		uploads: []evidence.Upload{
			{SHA256: mine, TaskID: "alpha.idv-1", Item: "photo:id-front", ContentType: evidence.TypeJPEG, Size: 4, UploadedBy: "w-17"},
			{SHA256: other, TaskID: "bravo.idv-1", Item: "photo:id-front", ContentType: evidence.TypeJPEG, Size: 4},
		},
		blobs: map[string][]byte{mine: []byte("mine"), other: []byte("theirs")},
	}
	st := Status{TaskID: "alpha.idv-1", RequestedBy: "agent:alpha", Stage: StageAssigned, Submissions: []SubmissionRecord{{
		Step: "submission-1", WorkerID: "w-17", Digest: "sha256:ab", Verdict: evidence.Verdict{Overall: evidence.Rejected, Items: []evidence.Item{
			{Item: "photo:id-front", SHA256: mine, Verdict: evidence.Rejected, Reasons: []string{"too far"}},
			{Item: "document:contract", SHA256: other, Verdict: evidence.Rejected, Reasons: []string{"not uploaded for this task"}},
			{Item: "signature", Verdict: evidence.Accepted},
		}},
	}}}
	c := mocks.NewClient(t)
	c.On("DescribeWorkflowExecution", mock.Anything, wfID, "").Return(describeTask(t, Workflow, process.TaskQueue, "agent:alpha", ""), nil)
	c.On("QueryWorkflow", mock.Anything, wfID, "", StatusQuery).Return(encoded{st}, nil)
	ac := &AgentClient{Temporal: c, EvidenceStore: ev}

	got, err := ac.Evidence(context.Background(), "alpha", "alpha.idv-1")
	require.NoError(t, err)
	require.Len(t, got.Uploads, 1)
	assert.Equal(t, DownloadPath("alpha.idv-1", mine), got.Uploads[0].Download)
	assert.Equal(t, "/v1/tasks/alpha.idv-1/evidence/"+mine, got.Uploads[0].Download)
	require.Len(t, got.Submissions, 1)
	items := got.Submissions[0].Items
	require.Len(t, items, 3)
	assert.Equal(t, evidence.Rejected, got.Submissions[0].Verdict)
	assert.Equal(t, []string{"too far"}, items[0].Reasons)
	assert.NotEmpty(t, items[0].Download)
	assert.Empty(t, items[1].Download, "a hash the task does not hold gets no download path")
	assert.Empty(t, items[2].Download)

	rc, ct, err := ac.Blob(context.Background(), "alpha", "idv-1", mine)
	require.NoError(t, err)
	data, _ := io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, "mine", string(data))
	assert.Equal(t, evidence.TypeJPEG, ct)

	// Another task's file, even one named in a submission, is not served.
	_, _, err = ac.Blob(context.Background(), "alpha", "idv-1", other)
	assert.ErrorIs(t, err, ErrNotFound)
	for _, sha := range []string{"../../etc/passwd", strings.ToUpper(mine), mine[:63], ""} {
		_, _, err = ac.Blob(context.Background(), "alpha", "idv-1", sha)
		var fe *FieldError
		require.ErrorAs(t, err, &fe, sha)
		assert.Equal(t, "sha256", fe.Field)
	}
	// Without an evidence store, the status is still the agent's, but the
	// evidence is an error (not a made-up empty list).
	_, err = (&AgentClient{Temporal: c}).Evidence(context.Background(), "alpha", "idv-1")
	assert.True(t, err != nil && !errors.Is(err, ErrNotFound))
}

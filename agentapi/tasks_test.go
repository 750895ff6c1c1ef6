package agentapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/internal/testdb"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// taskCall is one call the fake Tasks received.
type taskCall struct {
	Method string
	Agent  string
	TaskID string
	SHA    string
	Req    humantask.CreateRequest
}

type fakeBlob struct {
	contentType string
	data        []byte
}

// fakeTasks is an in-memory Tasks with humantask.AgentClient's rules: the
// task id is "<agent>.<taskId>", a repeated taskId is the same task or a
// conflict, another agent's task and its files are ErrNotFound.
type fakeTasks struct {
	mu      sync.Mutex
	calls   []taskCall
	tasks   map[string]humantask.Status // by task id
	digests map[string]string
	blobs   map[string]map[string]fakeBlob // task id -> sha -> file
	// createErr, when set, is what Create returns after validation.
	createErr error
}

func newFakeTasks() *fakeTasks {
	return &fakeTasks{tasks: map[string]humantask.Status{}, digests: map[string]string{}, blobs: map[string]map[string]fakeBlob{}}
}

func (f *fakeTasks) record(c taskCall) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeTasks) Calls() []taskCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeTasks) Create(_ context.Context, agent string, req humantask.CreateRequest) (humantask.Status, error) {
	f.record(taskCall{Method: "Create", Agent: agent, TaskID: req.TaskID, Req: req})
	if err := humantask.ValidateCreate(agent, req); err != nil {
		return humantask.Status{}, err
	}
	if f.createErr != nil {
		return humantask.Status{}, f.createErr
	}
	d, err := req.RequestDigest()
	if err != nil {
		return humantask.Status{}, err
	}
	in := req.Input(agent)
	f.mu.Lock()
	defer f.mu.Unlock()
	if got, ok := f.digests[in.TaskID]; ok {
		if got != d {
			return humantask.Status{}, humantask.ErrConflict
		}
		return f.tasks[in.TaskID], nil
	}
	st := humantask.Status{TaskID: in.TaskID, Title: in.Title, Instructions: in.Instructions, Address: in.Address, Place: in.Place,
		Start: in.Start, End: in.End, Evidence: in.Evidence, RequestedBy: in.RequestedBy, Stage: humantask.StageRouting}
	f.tasks[in.TaskID], f.digests[in.TaskID] = st, d
	return st, nil
}

func (f *fakeTasks) lookup(agent, id string) (humantask.Status, error) {
	if !strings.HasPrefix(id, agent+".") {
		id = humantask.AgentTaskID(agent, id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.tasks[id]
	if !ok || st.RequestedBy != "agent:"+agent {
		return humantask.Status{}, humantask.ErrNotFound
	}
	return st, nil
}

func (f *fakeTasks) Get(_ context.Context, agent, taskID string) (humantask.Status, error) {
	f.record(taskCall{Method: "Get", Agent: agent, TaskID: taskID})
	return f.lookup(agent, taskID)
}

func (f *fakeTasks) Evidence(_ context.Context, agent, taskID string) (humantask.TaskEvidence, error) {
	f.record(taskCall{Method: "Evidence", Agent: agent, TaskID: taskID})
	st, err := f.lookup(agent, taskID)
	if err != nil {
		return humantask.TaskEvidence{}, err
	}
	ev := humantask.TaskEvidence{TaskID: st.TaskID, Stage: st.Stage, Outcome: st.Outcome, Submissions: []humantask.EvidenceSubmission{}, Uploads: []humantask.EvidenceUpload{}}
	f.mu.Lock()
	defer f.mu.Unlock()
	var shas []string
	for sha := range f.blobs[st.TaskID] {
		shas = append(shas, sha)
	}
	slices.Sort(shas)
	for _, sha := range shas {
		b := f.blobs[st.TaskID][sha]
		ev.Uploads = append(ev.Uploads, humantask.EvidenceUpload{SHA256: sha, Item: "photo:id-front", ContentType: b.contentType,
			Size: int64(len(b.data)), UploadedBy: "w-17", Download: humantask.DownloadPath(st.TaskID, sha)})
	}
	for _, s := range st.Submissions {
		sub := humantask.EvidenceSubmission{Step: s.Step, WorkerID: s.WorkerID, At: s.At, Digest: s.Digest, Verdict: s.Verdict.Overall}
		for _, it := range s.Verdict.Items {
			sub.Items = append(sub.Items, humantask.EvidenceItem{Item: it.Item, SHA256: it.SHA256, Verdict: it.Verdict, Reasons: it.Reasons,
				Download: humantask.DownloadPath(st.TaskID, it.SHA256)})
		}
		ev.Submissions = append(ev.Submissions, sub)
	}
	return ev, nil
}

func (f *fakeTasks) Blob(_ context.Context, agent, taskID, sha string) (io.ReadCloser, string, error) {
	f.record(taskCall{Method: "Blob", Agent: agent, TaskID: taskID, SHA: sha})
	if !evidence.ValidSHA256(sha) {
		return nil, "", &humantask.FieldError{Field: "sha256", Message: "not a SHA-256"}
	}
	st, err := f.lookup(agent, taskID)
	if err != nil {
		return nil, "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.blobs[st.TaskID][sha]
	if !ok {
		return nil, "", humantask.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b.data)), b.contentType, nil
}

// addEvidence gives task a submission with one photo and stores the photo.
func (f *fakeTasks) addEvidence(taskID, sha string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blobs[taskID] == nil {
		f.blobs[taskID] = map[string]fakeBlob{}
	}
	f.blobs[taskID][sha] = fakeBlob{contentType: evidence.TypeJPEG, data: data}
	st := f.tasks[taskID]
	st.Stage, st.Assignee = humantask.StageAssigned, "w-17"
	st.Submissions = append(st.Submissions, humantask.SubmissionRecord{Step: "submission-1", WorkerID: "w-17", Digest: "sha256:aa",
		At: time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC),
		Verdict: evidence.Verdict{Overall: evidence.Rejected, Items: []evidence.Item{
			{Item: "photo:id-front", SHA256: sha, Verdict: evidence.Rejected, Reasons: []string{"taken 2.1 km from the place (at most 200 m)"}},
			{Item: "signature", Verdict: evidence.Accepted},
		}}})
	f.tasks[taskID] = st
}

const (
	photoSHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	otherSHA = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
)

const createBody = `{"taskId":"idv-1","title":"Verify the identity of ACC-1001","instructions":"Check the ID card against the account holder",` +
	`"context":{"customer":"Ana Lima"},"skills":[{"name":"identity-verification","level":2}],"place":{"lat":38.7223,"lon":-9.1393},` +
	`"address":"Rua Augusta 1, Lisboa","start":"2026-05-04T09:00:00Z","end":"2026-05-04T17:00:00Z",` +
	`"evidence":{"photos":[{"name":"id-front","prompt":"Front of the ID card","maxDistanceM":200,"required":true}],"signature":true}}`

// newTaskHarness is a gateway with Tasks and, besides the harness's
// agents, "other" (tasks:create, tasks:read) and "watcher" (tasks:read).
func newTaskHarness(t *testing.T, prefix string, tweak func(*Config)) (*harness, *fakeTasks) {
	t.Helper()
	ft := newFakeTasks()
	h := newHarness(t, testdb.Engines(prefix)[0], func(c *Config) {
		c.Tasks = ft
		if tweak != nil {
			tweak(c)
		}
	})
	for name, scopes := range map[string][]string{"other": {ScopeTasksCreate, ScopeTasksRead}, "watcher": {ScopeTasksRead}} {
		key, err := h.keys.Create(context.Background(), name, scopes)
		require.NoError(t, err)
		h.agent[name] = key
	}
	return h, ft
}

func TestTaskRoutesAbsentWithoutTasks(t *testing.T) {
	h := newHarness(t, testdb.Engines("agentapi_notasks")[0], nil)
	for _, path := range []string{"/v1/tasks", "/v1/tasks/alpha.idv-1"} {
		method := "GET"
		if path == "/v1/tasks" {
			method = "POST"
		}
		a := h.do(t, method, path, h.agent["alpha"], createBody)
		assert.Equal(t, http.StatusNotFound, a.status, "%s %s: %s", method, path, a.raw)
	}
	cs := h.connect(t, h.agent["alpha"])
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: ToolCreateTask, Arguments: map[string]any{"taskId": "x"}})
	assert.ErrorContains(t, err, "unknown tool")
	assert.Equal(t, []string{ToolPropose, ToolGet, ToolWait, ToolList, ToolCancel, ToolVendorPayment, ToolCreateTask, ToolGetTask, ToolTaskEvidence}, ToolNames())
}

func TestTaskScopes(t *testing.T) {
	h, ft := newTaskHarness(t, "agentapi_task_scopes", nil)
	tests := []struct {
		name   string
		agent  string
		method string
		path   string
		body   string
		status int
		scope  string
	}{
		{"actions key creates", "bravo", "POST", "/v1/tasks", createBody, 403, ScopeTasksCreate},
		{"actions key reads", "bravo", "GET", "/v1/tasks/bravo.idv-1", "", 403, ScopeTasksRead},
		{"actions key reads evidence", "reader", "GET", "/v1/tasks/reader.idv-1/evidence", "", 403, ScopeTasksRead},
		{"actions key downloads", "reader", "GET", "/v1/tasks/reader.idv-1/evidence/" + photoSHA, "", 403, ScopeTasksRead},
		{"read-only tasks key creates", "watcher", "POST", "/v1/tasks", createBody, 403, ScopeTasksCreate},
		{"read-only tasks key reads", "watcher", "GET", "/v1/tasks/watcher.idv-1", "", 404, ""},
		{"no key", "", "POST", "/v1/tasks", createBody, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.do(t, tt.method, tt.path, h.agent[tt.agent], tt.body)
			require.Equal(t, tt.status, a.status, "%s", a.raw)
			if tt.scope != "" {
				assert.Equal(t, tt.scope, a.body["scope"])
				assert.Contains(t, a.header.Get("WWW-Authenticate"), `error="insufficient_scope"`)
			}
		})
	}
	// MCP checks the same scopes.
	bravo := h.connect(t, h.agent["bravo"])
	r := callTool(t, bravo, ToolCreateTask, createArgs("idv-1"))
	assert.True(t, r.IsError)
	assert.Contains(t, text(r), ScopeTasksCreate)
	r = callTool(t, bravo, ToolGetTask, map[string]any{"taskId": "idv-1"})
	assert.True(t, r.IsError)
	assert.Contains(t, text(r), ScopeTasksRead)
	watcher := h.connect(t, h.agent["watcher"])
	r = callTool(t, watcher, ToolCreateTask, createArgs("idv-1"))
	assert.True(t, r.IsError)
	assert.Contains(t, text(r), ScopeTasksCreate)

	var got []string
	for _, c := range ft.Calls() {
		got = append(got, c.Method+" "+c.Agent)
	}
	assert.Equal(t, []string{"Get watcher"}, got, "refused requests never reach Tasks")
}

func TestTaskREST(t *testing.T) {
	h, ft := newTaskHarness(t, "agentapi_task_rest", nil)
	key := h.agent["alpha"]
	a := h.do(t, "POST", "/v1/tasks", key, createBody)
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.raw)
	assert.Equal(t, "alpha.idv-1", a.body["taskId"])
	assert.Equal(t, "agent:alpha", a.body["requestedBy"])
	assert.Equal(t, humantask.StageRouting, a.body["stage"])

	calls := ft.Calls()
	require.Len(t, calls, 1)
	assert.Equal(t, humantask.CreateRequest{TaskID: "idv-1", Title: "Verify the identity of ACC-1001", Instructions: "Check the ID card against the account holder",
		Context: map[string]string{"customer": "Ana Lima"}, Skills: []workforce.Skill{{Name: "identity-verification", Level: 2}},
		Place: humantask.Place{Lat: 38.7223, Lon: -9.1393}, Address: "Rua Augusta 1, Lisboa",
		Start: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 5, 4, 17, 0, 0, 0, time.UTC),
		Evidence: evidence.Spec{Photos: []evidence.PhotoSpec{{Name: "id-front", Prompt: "Front of the ID card", MaxDistanceM: 200, Required: true}}, Signature: true},
	}, calls[0].Req)

	// The same taskId and request is the same task; another request is 409.
	a = h.do(t, "POST", "/v1/tasks", key, createBody)
	assert.Equal(t, http.StatusAccepted, a.status, "%s", a.raw)
	assert.Equal(t, "alpha.idv-1", a.body["taskId"])
	a = h.do(t, "POST", "/v1/tasks", key, strings.Replace(createBody, "ACC-1001", "ACC-1002", 1))
	assert.Equal(t, http.StatusConflict, a.status, "%s", a.raw)
	assert.Equal(t, "taskId", a.body["field"])

	for _, id := range []string{"alpha.idv-1", "idv-1"} {
		a = h.do(t, "GET", "/v1/tasks/"+id, key, "")
		assert.Equal(t, http.StatusOK, a.status, "%s: %s", id, a.raw)
		assert.Equal(t, "alpha.idv-1", a.body["taskId"])
	}

	photo := []byte("\xff\xd8\xff\xe0 a photo")
	ft.addEvidence("alpha.idv-1", photoSHA, photo)
	a = h.do(t, "GET", "/v1/tasks/alpha.idv-1/evidence", key, "")
	require.Equal(t, http.StatusOK, a.status, "%s", a.raw)
	var ev humantask.TaskEvidence
	require.NoError(t, json.Unmarshal(a.raw, &ev))
	require.Len(t, ev.Uploads, 1)
	assert.Equal(t, "/v1/tasks/alpha.idv-1/evidence/"+photoSHA, ev.Uploads[0].Download)
	require.Len(t, ev.Submissions, 1)
	assert.Equal(t, evidence.Rejected, ev.Submissions[0].Verdict)
	assert.Equal(t, []string{"taken 2.1 km from the place (at most 200 m)"}, ev.Submissions[0].Items[0].Reasons)

	a = h.do(t, "GET", ev.Uploads[0].Download, key, "")
	require.Equal(t, http.StatusOK, a.status, "%s", a.raw)
	assert.Equal(t, photo, a.raw)
	assert.Equal(t, evidence.TypeJPEG, a.header.Get("Content-Type"))
	assert.Equal(t, "nosniff", a.header.Get("X-Content-Type-Options"))
	assert.Equal(t, `attachment; filename="`+photoSHA+`.jpg"`, a.header.Get("Content-Disposition"))
	assert.Equal(t, "no-store", a.header.Get("Cache-Control"))

	// A file the task does not hold is 404.
	a = h.do(t, "GET", "/v1/tasks/alpha.idv-1/evidence/"+otherSHA, key, "")
	assert.Equal(t, http.StatusNotFound, a.status, "%s", a.raw)
}

// Agent B cannot read agent A's task, its evidence or its files, by the
// full id or by A's own taskId (which is B's namespace).
func TestTaskOwnership(t *testing.T) {
	h, ft := newTaskHarness(t, "agentapi_task_owner", nil)
	a := h.do(t, "POST", "/v1/tasks", h.agent["alpha"], createBody)
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.raw)
	ft.addEvidence("alpha.idv-1", photoSHA, []byte("\xff\xd8\xff photo"))

	other := h.agent["other"]
	for _, path := range []string{
		"/v1/tasks/alpha.idv-1",
		"/v1/tasks/idv-1",
		"/v1/tasks/alpha.idv-1/evidence",
		"/v1/tasks/idv-1/evidence",
		"/v1/tasks/alpha.idv-1/evidence/" + photoSHA,
		"/v1/tasks/idv-1/evidence/" + photoSHA,
	} {
		a := h.do(t, "GET", path, other, "", "X-Agent", "alpha")
		assert.Equal(t, http.StatusNotFound, a.status, "%s: %s", path, a.raw)
		assert.NotContains(t, string(a.raw), "photo", path)
	}
	cs := h.connect(t, other)
	for _, tool := range []string{ToolGetTask, ToolTaskEvidence} {
		r := callTool(t, cs, tool, map[string]any{"taskId": "alpha.idv-1"})
		assert.True(t, r.IsError, "%s: %s", tool, text(r))
		assert.Contains(t, text(r), "no such task")
	}
	// The same taskId is other's own task, not a collision.
	a = h.do(t, "POST", "/v1/tasks", other, strings.Replace(createBody, "ACC-1001", "ACC-2002", 1))
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.raw)
	assert.Equal(t, "other.idv-1", a.body["taskId"])
	for _, c := range ft.Calls() {
		if c.Agent == "other" {
			assert.NotEqual(t, "alpha", c.Agent)
		}
	}
}

func TestTaskBlobRefusesNonHashes(t *testing.T) {
	h, ft := newTaskHarness(t, "agentapi_task_sha", nil)
	a := h.do(t, "POST", "/v1/tasks", h.agent["alpha"], createBody)
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.raw)
	ft.addEvidence("alpha.idv-1", photoSHA, []byte("\xff\xd8\xff photo"))
	before := len(ft.Calls())
	for _, sha := range []string{
		"..%2F..%2F..%2Fetc%2Fpasswd",
		"%2e%2e",
		"..%5C..%5Cwindows",
		strings.ToUpper(photoSHA),
		photoSHA[:63],
		photoSHA + "0",
		photoSHA[:62] + "%00",
	} {
		a := h.do(t, "GET", "/v1/tasks/alpha.idv-1/evidence/"+sha, h.agent["alpha"], "")
		assert.Equal(t, http.StatusBadRequest, a.status, "%s: %s", sha, a.raw)
		assert.Equal(t, "sha256", a.body["field"], sha)
	}
	assert.Len(t, ft.Calls(), before, "a non-hash never reaches Tasks")
}

func TestTaskRESTRefusals(t *testing.T) {
	h, ft := newTaskHarness(t, "agentapi_task_refusals", nil)
	key := h.agent["alpha"]
	edit := func(old, new string) string {
		require.Contains(t, createBody, old)
		return strings.Replace(createBody, old, new, 1)
	}
	tests := []struct {
		name   string
		body   string
		status int
		field  string
	}{
		{"body over the default cap", edit(`"Check the ID card`, `"`+strings.Repeat("x", int(DefaultMaxBodyBytesWithTasks))), 413, ""},
		{"a task larger than a proposal fits", edit(`"Check the ID card`, `"`+strings.Repeat("x", humantask.MaxCreateBytes/2)), 400, "instructions"},
		{"agent field", edit(`{"taskId"`, `{"agent":"bravo","taskId"`), 400, "agent"},
		{"requestedBy field", edit(`{"taskId"`, `{"requestedBy":"agent:bravo","taskId"`), 400, "requestedBy"},
		{"requester proof field", edit(`{"taskId"`, `{"requesterProof":"x","taskId"`), 400, "requesterProof"},
		{"wrong type", edit(`"lat":38.7223`, `"lat":"north"`), 400, "place.lat"},
		{"bad task id", edit(`"idv-1"`, `"../idv"`), 400, "taskId"},
		{"no title", edit(`"Verify the identity of ACC-1001"`, `" "`), 400, "title"},
		{"skill level", edit(`"level":2`, `"level":7`), 400, "skills[0].level"},
		{"no skills", edit(`[{"name":"identity-verification","level":2}]`, `[]`), 400, "skills"},
		{"place", edit(`"lon":-9.1393`, `"lon":-190`), 400, "place.lon"},
		{"window", edit(`"2026-05-04T17:00:00Z"`, `"2026-05-04T08:00:00Z"`), 400, "end"},
		{"evidence photo name", edit(`"name":"id-front"`, `"name":"ID Front"`), 400, "evidence.photos[0].name"},
		{"evidence distance", edit(`"maxDistanceM":200`, `"maxDistanceM":0`), 400, "evidence.photos[0].maxDistanceM"},
		{"accept timeout", edit(`{"taskId"`, `{"acceptTimeoutSeconds":5,"taskId"`), 400, "acceptTimeoutSeconds"},
		{"due after", edit(`{"taskId"`, `{"dueAfterSeconds":99999999,"taskId"`), 400, "dueAfterSeconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.do(t, "POST", "/v1/tasks", key, tt.body)
			require.Equal(t, tt.status, a.status, "%s", a.raw)
			require.NotNil(t, a.body, "error answers are JSON: %s", a.raw)
			assert.NotEmpty(t, a.body["error"])
			if tt.field != "" {
				assert.Equal(t, tt.field, a.body["field"], "%s", a.raw)
			}
		})
	}
	for _, c := range ft.Calls() {
		assert.Equal(t, "alpha", c.Agent)
	}

	for _, tt := range []struct {
		name   string
		err    error
		status int
		field  string
	}{
		{"conflict", humantask.ErrConflict, 409, "taskId"},
		{"field error", &humantask.FieldError{Field: "skills[0].name", Message: "nobody has it"}, 400, "skills[0].name"},
		{"internal", errBoom, 500, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ft.mu.Lock()
			ft.createErr = tt.err
			ft.mu.Unlock()
			a := h.do(t, "POST", "/v1/tasks", key, createBody)
			require.Equal(t, tt.status, a.status, "%s", a.raw)
			if tt.field != "" {
				assert.Equal(t, tt.field, a.body["field"], "%s", a.raw)
			}
			assert.NotContains(t, string(a.raw), "secret-internal-detail")
		})
	}
}

func createArgs(taskID string) map[string]any {
	return map[string]any{"taskId": taskID, "title": "Confirm the delivery of order 77", "skills": []any{map[string]any{"name": "delivery", "level": 1}},
		"place": map[string]any{"lat": 38.7223, "lon": -9.1393}, "start": "2026-05-04T09:00:00Z", "end": "2026-05-04T17:00:00+02:00",
		// Optional spec fields (prompt, required) may be left out.
		"evidence": map[string]any{"photos": []any{map[string]any{"name": "parcel", "maxDistanceM": 100}}, "signature": true}}
}

func TestTaskMCPTools(t *testing.T) {
	h, ft := newTaskHarness(t, "agentapi_task_mcp", nil)
	cs := h.connect(t, h.agent["alpha"])
	res, err := cs.ListTools(context.Background(), nil)
	require.NoError(t, err)
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		in, ok := tool.InputSchema.(map[string]any)
		require.True(t, ok, "%s input schema: %T", tool.Name, tool.InputSchema)
		assert.NotContains(t, in["properties"], "agent", "%s: the agent is never an argument", tool.Name)
		assert.NotContains(t, in["properties"], "requestedBy", tool.Name)
		assert.NotNil(t, tool.OutputSchema, tool.Name)
	}
	want := ToolNames()
	assert.Equal(t, want, h.gw.ToolNames())
	slices.Sort(want)
	slices.Sort(names)
	assert.Equal(t, want, names)

	r := callTool(t, cs, ToolCreateTask, createArgs("dlv-77"))
	require.False(t, r.IsError, text(r))
	assert.Contains(t, text(r), "Task alpha.dlv-77 (Confirm the delivery of order 77): looking for a person")
	st, ok := r.StructuredContent.(map[string]any)
	require.True(t, ok, "structured content: %T", r.StructuredContent)
	assert.Equal(t, "alpha.dlv-77", st["taskId"])
	calls := ft.Calls()
	require.Len(t, calls, 1)
	assert.Equal(t, "alpha", calls[0].Agent)
	assert.Equal(t, time.Date(2026, 5, 4, 15, 0, 0, 0, time.UTC), calls[0].Req.End.UTC())

	r = callTool(t, cs, ToolCreateTask, createArgs("dlv-77"))
	require.False(t, r.IsError, "the same request again is the same task: %s", text(r))
	changed := createArgs("dlv-77")
	changed["title"] = "Something else"
	r = callTool(t, cs, ToolCreateTask, changed)
	assert.True(t, r.IsError)
	assert.Contains(t, text(r), `"taskId"`)
	assert.Contains(t, text(r), "nothing was started")

	r = callTool(t, cs, ToolGetTask, map[string]any{"taskId": "alpha.dlv-77"})
	require.False(t, r.IsError, text(r))
	ft.addEvidence("alpha.dlv-77", photoSHA, []byte("\xff\xd8\xff photo"))
	r = callTool(t, cs, ToolGetTask, map[string]any{"taskId": "dlv-77"})
	require.False(t, r.IsError, text(r))
	assert.Contains(t, text(r), "assigned to w-17; waiting for evidence; 1 submission(s), the last rejected")
	r = callTool(t, cs, ToolTaskEvidence, map[string]any{"taskId": "dlv-77"})
	require.False(t, r.IsError, text(r))
	assert.Contains(t, text(r), "Task alpha.dlv-77: 1 submission(s), 1 uploaded file(s).")
	assert.Contains(t, text(r), "photo:id-front rejected: taken 2.1 km from the place (at most 200 m)")
	assert.Contains(t, text(r), "/v1/tasks/alpha.dlv-77/evidence/"+photoSHA)

	bad := createArgs("dlv-78")
	bad["skills"] = []any{map[string]any{"name": "delivery", "level": 9}}
	withAgent := createArgs("dlv-79")
	withAgent["agent"] = "bravo"
	badSpec := createArgs("dlv-80")
	badSpec["evidence"] = map[string]any{"questions": []any{map[string]any{"id": "ok", "type": "colour"}}}
	for _, tt := range []struct {
		name string
		args map[string]any
		want string
	}{
		{"field error names the field", bad, `"skills[0].level"`},
		{"agent argument refused", withAgent, "agent"},
		{"evidence field named", badSpec, `"evidence.questions[0].type"`},
		{"bad task id", createArgs("a/b"), `"taskId"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := callTool(t, cs, ToolCreateTask, tt.args)
			assert.True(t, r.IsError, "want a tool error, got %s", text(r))
			assert.Contains(t, text(r), tt.want)
		})
	}

	ft.mu.Lock()
	ft.createErr = errBoom
	ft.mu.Unlock()
	r = callTool(t, cs, ToolCreateTask, createArgs("dlv-81"))
	assert.True(t, r.IsError)
	assert.NotContains(t, text(r), "secret-internal-detail")
}

// The task output schemas accept real statuses and evidence.
func TestTaskOutputSchemas(t *testing.T) {
	status, ev, err := taskOutputSchemas()
	require.NoError(t, err)
	due := time.Date(2026, 5, 4, 16, 0, 0, 0, time.UTC)
	st := humantask.Status{TaskID: "alpha.idv-1", Title: "t", Stage: humantask.StageAssigned, Assignee: "w-17", DueAt: &due,
		Context: map[string]string{"customer": "Ana"}, Offers: []humantask.Offer{{Step: "offer-1", WorkerID: "w-17", Response: "accepted"}},
		Submissions: []humantask.SubmissionRecord{{Step: "submission-1", Verdict: evidence.Verdict{Overall: evidence.Rejected,
			Items: []evidence.Item{{Item: "photo:x", SHA256: photoSHA, Verdict: evidence.Rejected, Reasons: []string{"far"}, GPS: &evidence.GeoPoint{Lat: 1, Lon: 2}, TakenAt: &due}}}}},
		Accepted: &evidence.Verdict{Overall: evidence.Accepted, Items: []evidence.Item{}}}
	e := humantask.TaskEvidence{TaskID: "alpha.idv-1", Stage: humantask.StageDone, Outcome: humantask.OutcomeCompleted,
		Submissions: []humantask.EvidenceSubmission{{Step: "submission-1", Verdict: evidence.Accepted, Items: []humantask.EvidenceItem{{Item: "signature", Verdict: evidence.Accepted}}}},
		Uploads:     []humantask.EvidenceUpload{{SHA256: photoSHA, ContentType: evidence.TypePNG, Download: humantask.DownloadPath("alpha.idv-1", photoSHA)}}}
	for name, tc := range map[string]struct {
		schema interface {
			Resolve(*jsonschema.ResolveOptions) (*jsonschema.Resolved, error)
		}
		v any
	}{"status": {status, st}, "evidence": {ev, e}} {
		rs, err := tc.schema.Resolve(nil)
		require.NoError(t, err, name)
		b, err := json.Marshal(tc.v)
		require.NoError(t, err)
		var v map[string]any
		require.NoError(t, json.Unmarshal(b, &v))
		assert.NoError(t, rs.Validate(v), name)
	}
	in, err := createTaskInputSchema()
	require.NoError(t, err)
	assert.NotContains(t, in.Required, "evidence")
	assert.Equal(t, []string{"name", "maxDistanceM"}, in.Properties["evidence"].Properties["photos"].Items.Required)
}

func TestTaskSummary(t *testing.T) {
	due := time.Date(2026, 5, 4, 16, 0, 0, 0, time.UTC)
	head := "Task alpha.idv-1 (Verify identity): "
	base := humantask.Status{TaskID: "alpha.idv-1", Title: "Verify identity"}
	with := func(f func(*humantask.Status)) humantask.Status { s := base; f(&s); return s }
	for _, tt := range []struct {
		name string
		st   humantask.Status
		want string
	}{
		{"unknown", base, head + "status not known yet"},
		{"routing", with(func(s *humantask.Status) { s.Stage = humantask.StageRouting }), head + "looking for a person with the skills, near the place and available"},
		{"offered", with(func(s *humantask.Status) {
			s.Stage, s.OpenFor, s.Offers = humantask.StageOffered, "w-17", []humantask.Offer{{Step: "offer-1", WorkerID: "w-17", Deadline: due}}
		}), head + "offered to w-17, waiting for them to accept until 2026-05-04 16:00 UTC"},
		{"assigned", with(func(s *humantask.Status) { s.Stage, s.Assignee, s.DueAt = humantask.StageAssigned, "w-17", &due }),
			head + "assigned to w-17, due 2026-05-04 16:00 UTC; waiting for evidence"},
		{"checking", with(func(s *humantask.Status) { s.Stage, s.Assignee = humantask.StageChecking, "w-17" }), head + "checking the evidence w-17 submitted"},
		{"review", with(func(s *humantask.Status) { s.Stage = humantask.StageAwaitingApproval }), head + "the evidence needs a coordinator's review"},
		{"completed", with(func(s *humantask.Status) {
			s.Stage, s.Outcome, s.Assignee = humantask.StageDone, humantask.OutcomeCompleted, "w-17"
		}), head + "done, outcome completed — the evidence was accepted from w-17; get_task_evidence has it"},
		{"no worker", with(func(s *humantask.Status) {
			s.Stage, s.Outcome, s.Reason = humantask.StageDone, humantask.OutcomeNoWorker, "nobody fits"
		}), head + "done, outcome no_worker_available — nobody fits"},
	} {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, TaskSummary(tt.st)) })
	}
}

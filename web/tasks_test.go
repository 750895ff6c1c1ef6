package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/evidence/evidencetest"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

const (
	taskID    = "idv-ACC-1001"
	taskRunID = "task-run-1"
	ana       = "ana-field"
	bruno     = "bruno-field"
)

var taskWF = humantask.WorkflowID(taskID)

// fakeTasks answers the task status queries and records the steps sent;
// by default it moves a task on as the workflow would.
type fakeTasks struct {
	mu     sync.Mutex
	status map[string]humantask.Status
	// listed is what visibility returns per worker; nil derives it from
	// the statuses.
	listed map[string][]TaskRef
	sendFn func(workflowID string, req humantask.TaskRequest) error
	sent   []humantask.TaskRequest
}

func (f *fakeTasks) WorkerTasks(_ context.Context, workerID string) ([]TaskRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if refs, ok := f.listed[workerID]; ok {
		return refs, nil
	}
	var out []TaskRef
	for id, st := range f.status {
		if st.OpenFor == workerID || st.Assignee == workerID {
			out = append(out, TaskRef{WorkflowID: id, WorkflowType: humantask.Workflow, TaskQueue: process.TaskQueue})
		}
	}
	return out, nil
}

func (f *fakeTasks) TaskStatus(_ context.Context, workflowID string) (humantask.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.status[workflowID]
	if !ok {
		return st, errNotFound
	}
	return st, nil
}

func (f *fakeTasks) SendTask(_ context.Context, workflowID string, req humantask.TaskRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, req)
	if f.sendFn != nil {
		return f.sendFn(workflowID, req)
	}
	st := f.status[workflowID]
	if req.Step != st.OpenStep || req.Worker != st.OpenFor {
		return &TaskRefusedError{WorkflowID: workflowID, Reason: "step: not the open step"}
	}
	switch req.Action {
	case humantask.ActionAccept:
		st = assigned(st.Start.Add(time.Hour))
	case humantask.ActionSubmit:
		st.OpenStep, st.OpenFor, st.Stage = "", "", humantask.StageChecking
	}
	f.status[workflowID] = st
	return nil
}

func (f *fakeTasks) sentSteps() []humantask.TaskRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]humantask.TaskRequest(nil), f.sent...)
}

func (f *fakeTasks) set(workflowID string, st humantask.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[workflowID] = st
}

func taskSpec() evidence.Spec {
	return evidence.Spec{
		Photos:    []evidence.PhotoSpec{{Name: "id-document", Prompt: "The ID document, front", MaxDistanceM: 200, Required: true}},
		Signature: true,
		Questions: []evidence.Question{
			{ID: "document-number", Prompt: "Document number", Type: evidence.QuestionText, Required: true},
			{ID: "original-seen", Prompt: "I saw the original", Type: evidence.QuestionBool},
			{ID: "copies", Prompt: "Copies made", Type: evidence.QuestionNumber},
		},
	}
}

// offered is the task offered to ana; now is the harness clock.
func offered(now time.Time) humantask.Status {
	return humantask.Status{
		TaskID: taskID, Title: "Verify the identity of customer ACC-1001", Instructions: "Check the ID against the customer.",
		Address: "Praça do Comércio, Lisboa", Place: evidence.GeoPoint{Lat: workforce.LisbonLat, Lon: workforce.LisbonLon},
		Start: now.Add(-time.Hour), End: now.Add(3 * time.Hour), Evidence: taskSpec(), RequestedBy: "agent:kyc-bot",
		Stage: humantask.StageOffered, OpenStep: "offer-1", OpenFor: ana,
		Offers: []humantask.Offer{{Step: "offer-1", WorkerID: ana, At: now, Deadline: now.Add(15 * time.Minute), Reasons: []string{"1.7 km away", "idle"}}},
	}
}

// assigned is the task after ana accepted: her evidence is awaited.
func assigned(now time.Time) humantask.Status {
	st := offered(now.Add(-time.Hour))
	st.Offers[0].Response = "accepted"
	at, due := now, now.Add(2*time.Hour)
	st.Stage, st.OpenStep, st.OpenFor, st.Assignee, st.AcceptedAt, st.DueAt = humantask.StageAssigned, "submission-1", ana, ana, &at, &due
	st.Context = map[string]string{"customer": "Rui Sousa", "phone": "+351 900 000 001"}
	return st
}

type taskHarness struct {
	*harness
	tasks    *fakeTasks
	evidence *evidence.Store
	wf       *workforce.Store
	signer   *proof.Signer
}

func newTaskHarness(t *testing.T) *taskHarness {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	wf, err := workforce.Open(ctx, "", filepath.Join(dir, "orchestrator.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { wf.Close() })
	require.NoError(t, wf.Seed(ctx))
	ev, err := evidence.Open(ctx, "", filepath.Join(dir, "orchestrator.db"), filepath.Join(dir, "evidence"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { ev.Close() })
	th := &taskHarness{tasks: &fakeTasks{status: map[string]humantask.Status{}}, evidence: ev, wf: wf, signer: testSigner(t)}
	th.harness = newHarness(t, func(c *Config) {
		c.Workforce, c.Evidence, c.Tasks, c.Signer = wf, ev, th.tasks, th.signer
		c.WorkflowTypes = append(append([]string(nil), testTypes...), humantask.Workflow)
	})
	th.tasks.set(taskWF, offered(th.now))
	th.fake.mu.Lock()
	th.fake.execs[taskWF] = Execution{RunID: taskRunID, WorkflowType: humantask.Workflow, TaskQueue: process.TaskQueue, Running: true}
	th.fake.mu.Unlock()
	return th
}

// signInWorker picks a field worker on the picker like a browser would.
func (h *taskHarness) signInWorker(c *http.Client, worker string) {
	h.t.Helper()
	page := h.get(c, "/")
	require.Equal(h.t, http.StatusOK, page.code)
	r := h.post(c, "/session", url.Values{"worker": {worker}, "csrf": {csrfOf(h.t, page.body)}})
	require.Equal(h.t, http.StatusSeeOther, r.code, r.body)
	require.Equal(h.t, "/tasks", r.location)
}

// verify checks a step's proof as the workflow does.
func (h *taskHarness) verify(req humantask.TaskRequest) proof.Assertion {
	h.t.Helper()
	digest, err := humantask.RequestDigest(req)
	require.NoError(h.t, err)
	trust := proof.Trust{Keys: []proof.TrustedKey{{KeyID: h.signer.KeyID(), Public: proof.EncodePublicKey(h.signer.Public()),
		Issuer: proof.IssuerWeb, Methods: []string{proof.MethodDev}}}}
	a, err := proof.Verify(req.Proof, trust, proof.Expect{Kind: proof.KindTask, WorkflowID: taskWF, RunID: taskRunID, Slot: req.Step,
		ActionDigest: digest, Decision: req.Action, Subject: req.Worker}, h.now)
	require.NoError(h.t, err)
	return a
}

// part is one field of an evidence form.
type part struct {
	name, filename, contentType string
	body                        []byte
}

func (h *taskHarness) postMultipart(c *http.Client, path string, parts []part, header ...string) resp {
	h.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		hdr := textproto.MIMEHeader{}
		if p.filename != "" {
			hdr.Set("Content-Disposition", `form-data; name="`+p.name+`"; filename="`+p.filename+`"`)
			hdr.Set("Content-Type", p.contentType)
		} else {
			hdr.Set("Content-Disposition", `form-data; name="`+p.name+`"`)
		}
		w, err := mw.CreatePart(hdr)
		require.NoError(h.t, err)
		_, err = w.Write(p.body)
		require.NoError(h.t, err)
	}
	require.NoError(h.t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, &buf)
	require.NoError(h.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	r, err := c.Do(req)
	require.NoError(h.t, err)
	return read(h.t, r)
}

func field(name, value string) part { return part{name: name, body: []byte(value)} }

// evidenceForm is a complete, valid evidence form for submission-1.
func (h *taskHarness) evidenceForm(csrf string, photo []byte) []part {
	sig := "data:image/png;base64," + base64.StdEncoding.EncodeToString(evidencetest.PNG())
	return []part{
		field("csrf", csrf), field("step", "submission-1"),
		field("lat", "38.72231"), field("lon", "-9.13929"), field("accuracy", "12"),
		field("checkinAt", "1"), // implausible: the server's time is taken
		{name: "photo:id-document", filename: "IMG_0001.jpg", contentType: "image/jpeg", body: photo},
		field("signature", sig), field("signatureName", "  Ana   Ferreira "),
		field("answer:document-number", " AB123456 "), field("answer:original-seen", "yes"), field("answer:copies", "2"),
	}
}

func TestTasksListsOnlyTheWorkersTasks(t *testing.T) {
	h := newTaskHarness(t)
	// bruno's own task, and one visibility still lists for ana though it
	// moved on to bruno.
	other := offered(h.now)
	other.TaskID, other.Title, other.OpenFor = "idv-ACC-2002", "Bruno's task", bruno
	other.Offers[0].WorkerID = bruno
	h.tasks.set(humantask.WorkflowID("idv-ACC-2002"), other)
	moved := offered(h.now)
	moved.TaskID, moved.Title, moved.OpenFor = "idv-ACC-3003", "Moved on", bruno
	h.tasks.set(humantask.WorkflowID("idv-ACC-3003"), moved)
	h.tasks.listed = map[string][]TaskRef{ana: {
		{WorkflowID: taskWF, WorkflowType: humantask.Workflow, TaskQueue: process.TaskQueue},
		{WorkflowID: humantask.WorkflowID("idv-ACC-3003"), WorkflowType: humantask.Workflow, TaskQueue: process.TaskQueue},
		{WorkflowID: "foreign", WorkflowType: "Evil", TaskQueue: process.TaskQueue},
	}}

	r := h.get(h.c, "/tasks")
	assert.Equal(t, http.StatusSeeOther, r.code, "the list needs a signed-in worker")
	assert.Equal(t, "/?next=%2Ftasks", r.location)

	h.signInWorker(h.c, ana)
	r = h.get(h.c, "/tasks")
	require.Equal(t, http.StatusOK, r.code)
	assert.Contains(t, r.body, `<meta name="viewport" content="width=device-width, initial-scale=1">`)
	assert.Contains(t, r.body, "Signed in as <strong>Ana Ferreira</strong>")
	assert.Contains(t, r.body, `href="/tasks/`+taskWF+`"`)
	assert.Contains(t, r.body, "Verify the identity of customer ACC-1001")
	assert.Contains(t, r.body, "Praça do Comércio, Lisboa")
	assert.Contains(t, r.body, "offered to you")
	assert.Contains(t, r.body, "answer by Mon 2 Mar 12:27 UTC (in 15m)")
	assert.NotContains(t, r.body, "Moved on")
	assert.NotContains(t, r.body, "Bruno")
	assert.NotContains(t, r.body, "foreign")

	b := newClient(t)
	h.signInWorker(b, bruno)
	r = h.get(b, "/tasks")
	assert.Contains(t, r.body, "Bruno&#39;s task")
	assert.Contains(t, r.body, "Moved on")
	assert.NotContains(t, r.body, "ACC-1001")
}

func TestTaskPageOnlyForItsWorker(t *testing.T) {
	h := newTaskHarness(t)
	r := h.get(h.c, "/tasks/"+taskWF)
	assert.Equal(t, http.StatusSeeOther, r.code)
	assert.Equal(t, "/?next=%2Ftasks%2F"+taskWF, r.location)

	b := newClient(t)
	h.signInWorker(b, bruno)
	r = h.get(b, "/tasks/"+taskWF)
	assert.Equal(t, http.StatusNotFound, r.code)
	assert.NotContains(t, r.body, "Verify the identity")
	assert.Equal(t, http.StatusNotFound, h.get(b, "/tasks/human-task-nope").code, "the same answer as for another's task")
	// bruno cannot answer ana's offer either.
	page := h.get(b, "/tasks")
	r = h.post(b, "/tasks/"+taskWF, url.Values{"csrf": {csrfOf(t, page.body)}, "step": {"offer-1"}, "action": {"accept"}})
	assert.Equal(t, http.StatusNotFound, r.code)
	assert.Empty(t, h.tasks.sentSteps())

	// A person of the organisation is not a field worker, nor the other way round.
	m := newClient(t)
	h.signIn(m, "maria")
	assert.Equal(t, http.StatusForbidden, h.get(m, "/tasks/"+taskWF).code)
	assert.Equal(t, http.StatusForbidden, h.get(m, "/tasks").code)
	r = h.get(b, "/inbox")
	assert.Equal(t, http.StatusForbidden, r.code)
	assert.Contains(t, r.body, "Not for field workers")
	assert.Equal(t, http.StatusForbidden, h.get(b, "/approvals/"+wfID).code)

	// A workflow that is not a HumanTask of ours is no task.
	h.fake.mu.Lock()
	h.fake.execs[taskWF] = Execution{RunID: taskRunID, WorkflowType: humantask.Workflow, TaskQueue: "elsewhere", Running: true}
	h.fake.mu.Unlock()
	h.signInWorker(h.c, ana)
	assert.Equal(t, http.StatusNotFound, h.get(h.c, "/tasks/"+taskWF).code)
}

func TestPickerListsFieldWorkers(t *testing.T) {
	h := newTaskHarness(t)
	page := h.get(h.c, "/")
	require.Equal(t, http.StatusOK, page.code)
	assert.Contains(t, page.body, `data-worker="ana-field"`)
	assert.Contains(t, page.body, "field worker")
	assert.Contains(t, page.body, "Maria Rossi")
	r := h.post(h.c, "/session", url.Values{"worker": {"nobody"}, "csrf": {csrfOf(t, page.body)}})
	assert.Equal(t, http.StatusBadRequest, r.code)
	assert.Contains(t, r.body, "not in the workforce directory")
	// A worker's session is no person's: the approvals inbox stays shut.
	r = h.post(h.c, "/session", url.Values{"worker": {"maria"}, "csrf": {csrfOf(t, page.body)}})
	assert.Equal(t, http.StatusBadRequest, r.code)
}

func TestTaskAcceptSendsASignedStep(t *testing.T) {
	h := newTaskHarness(t)
	h.signInWorker(h.c, ana)
	page := h.get(h.c, "/tasks/"+taskWF)
	require.Equal(t, http.StatusOK, page.code)
	assert.Contains(t, page.body, `value="accept"`)
	assert.Contains(t, page.body, `value="decline"`)
	assert.Contains(t, page.body, "1.7 km away")
	assert.NotContains(t, page.body, "Rui Sousa", "the context is handed over only once accepted")
	assert.NotContains(t, page.body, "evidence-form")

	r := h.post(h.c, "/tasks/"+taskWF, url.Values{"csrf": {csrfOf(t, page.body)}, "step": {"offer-1"}, "action": {"accept"}})
	require.Equal(t, http.StatusSeeOther, r.code, r.body)
	assert.Equal(t, "/tasks/"+taskWF+"?sent=accept", r.location)
	sent := h.tasks.sentSteps()
	require.Len(t, sent, 1)
	req := sent[0]
	assert.Equal(t, humantask.ActionAccept, req.Action)
	assert.Equal(t, ana, req.Worker)
	assert.Equal(t, "offer-1", req.Step)
	assert.Nil(t, req.Submission)
	a := h.verify(req)
	assert.Equal(t, proof.MethodDev, a.Method)
	assert.Equal(t, h.now.Add(proofLifetime).Unix(), a.ExpiresAt.Unix())

	// Accepted: the context, instructions, map and the evidence form.
	page = h.get(h.c, r.location)
	require.Equal(t, http.StatusOK, page.code)
	for _, want := range []string{"You accepted the task", "Rui Sousa", "351 900 000 001", "Check the ID against the customer.",
		`https://www.openstreetmap.org/?mlat=38.722300&amp;mlon=-9.139300`, `id="evidence-form"`, `enctype="multipart/form-data"`,
		`name="photo:id-document" accept="image/*" capture="environment" required`, `id="signature-pad"`, `name="signatureName"`,
		`name="answer:document-number"`, `type="checkbox" name="answer:original-seen"`, `type="number" step="any"`, "getCurrentPosition"} {
		assert.Contains(t, page.body, want)
	}
	// The inline script runs by its nonce, and nothing else does.
	res, err := h.c.Get(h.srv.URL + "/tasks/" + taskWF)
	require.NoError(t, err)
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "script-src 'nonce-")
	assert.NotContains(t, csp, "unsafe-inline'; script")
}

func TestTaskDecline(t *testing.T) {
	h := newTaskHarness(t)
	h.signInWorker(h.c, ana)
	page := h.get(h.c, "/tasks/"+taskWF)
	h.tasks.sendFn = func(id string, req humantask.TaskRequest) error {
		st := offered(h.now)
		st.OpenStep, st.OpenFor, st.Stage = "", "", humantask.StageRouting
		h.tasks.status[id] = st
		return nil
	}
	r := h.post(h.c, "/tasks/"+taskWF, url.Values{"csrf": {csrfOf(t, page.body)}, "step": {"offer-1"}, "action": {"decline"}})
	require.Equal(t, http.StatusSeeOther, r.code, r.body)
	assert.Equal(t, "/tasks?declined=1", r.location)
	h.verify(h.tasks.sentSteps()[0])
	assert.Contains(t, h.get(h.c, r.location).body, "You declined the task")
	assert.Equal(t, http.StatusNotFound, h.get(h.c, "/tasks/"+taskWF).code, "no longer hers")
}

func TestTaskRefusals(t *testing.T) {
	h := newTaskHarness(t)
	h.signInWorker(h.c, ana)
	page := h.get(h.c, "/tasks/"+taskWF)
	csrf := csrfOf(t, page.body)

	t.Run("csrf missing", func(t *testing.T) {
		r := h.post(h.c, "/tasks/"+taskWF, url.Values{"step": {"offer-1"}, "action": {"accept"}})
		assert.Equal(t, http.StatusForbidden, r.code)
		assert.Contains(t, r.body, "security token")
		r = h.post(h.c, "/tasks/"+taskWF, url.Values{"csrf": {csrf}, "step": {"offer-1"}, "action": {"accept"}}, "Sec-Fetch-Site", "cross-site")
		assert.Equal(t, http.StatusForbidden, r.code)
		assert.Contains(t, r.body, "Cross-site request refused")
	})
	t.Run("bad action", func(t *testing.T) {
		r := h.post(h.c, "/tasks/"+taskWF, url.Values{"csrf": {csrf}, "step": {"offer-1"}, "action": {"submit"}})
		assert.Equal(t, http.StatusBadRequest, r.code)
	})
	t.Run("stale step", func(t *testing.T) {
		r := h.post(h.c, "/tasks/"+taskWF, url.Values{"csrf": {csrf}, "step": {"offer-2"}, "action": {"accept"}})
		assert.Equal(t, http.StatusConflict, r.code)
		assert.Contains(t, r.body, "no longer open for you")
	})
	assert.Empty(t, h.tasks.sentSteps(), "nothing sent by a refused form")

	t.Run("the workflow refuses", func(t *testing.T) {
		h.tasks.sendFn = func(string, humantask.TaskRequest) error {
			return &TaskRefusedError{WorkflowID: taskWF, Reason: "proof.exp: the assertion expired"}
		}
		r := h.post(h.c, "/tasks/"+taskWF, url.Values{"csrf": {csrf}, "step": {"offer-1"}, "action": {"accept"}})
		assert.Equal(t, http.StatusUnprocessableEntity, r.code)
		assert.Contains(t, r.body, "The workflow did not accept your acceptance: proof.exp: the assertion expired")
		assert.Contains(t, r.body, `value="accept"`, "the offer is shown again")
	})
	t.Run("the workflow has ended", func(t *testing.T) {
		h.tasks.sendFn = func(string, humantask.TaskRequest) error { return ErrTaskNotRunning }
		r := h.post(h.c, "/tasks/"+taskWF, url.Values{"csrf": {csrf}, "step": {"offer-1"}, "action": {"accept"}})
		assert.Equal(t, http.StatusConflict, r.code)
	})
}

func TestTaskSubmitStoresFilesAndSendsTheSubmission(t *testing.T) {
	h := newTaskHarness(t)
	h.tasks.set(taskWF, assigned(h.now.Add(-10*time.Minute)))
	h.signInWorker(h.c, ana)
	page := h.get(h.c, "/tasks/"+taskWF)
	require.Equal(t, http.StatusOK, page.code)
	photo := evidencetest.JPEG(workforce.LisbonLat, workforce.LisbonLon, h.now)

	r := h.postMultipart(h.c, "/tasks/"+taskWF+"/evidence", h.evidenceForm(csrfOf(t, page.body), photo))
	require.Equal(t, http.StatusSeeOther, r.code, r.body)
	assert.Equal(t, "/tasks/"+taskWF+"?sent=submission-1", r.location)

	sent := h.tasks.sentSteps()
	require.Len(t, sent, 1)
	req := sent[0]
	assert.Equal(t, humantask.ActionSubmit, req.Action)
	assert.Equal(t, "submission-1", req.Step)
	require.NotNil(t, req.Submission)
	sub := *req.Submission
	photoSHA, sigSHA := sha(photo), sha(evidencetest.PNG())
	assert.Equal(t, evidence.Submission{
		TaskID: taskID, WorkerID: ana,
		CheckIn:   &evidence.GeoPoint{Lat: 38.72231, Lon: -9.13929, AccuracyM: 12, At: h.now.UTC()},
		Photos:    map[string]string{"id-document": photoSHA},
		Signature: &evidence.Signature{SHA256: sigSHA, TypedName: "Ana Ferreira"},
		Answers:   map[string]any{"document-number": "AB123456", "original-seen": true, "copies": 2.0},
	}, sub)
	h.verify(req)
	// The digest the workflow computes after the request went through JSON.
	raw, err := json.Marshal(req)
	require.NoError(t, err)
	var decoded humantask.TaskRequest
	require.NoError(t, json.Unmarshal(raw, &decoded))
	h.verify(decoded)

	ctx := context.Background()
	up, err := h.evidence.Upload(ctx, photoSHA, taskID, "photo:id-document")
	require.NoError(t, err)
	assert.Equal(t, ana, up.UploadedBy)
	assert.Equal(t, evidence.TypeJPEG, up.ContentType)
	up, err = h.evidence.Upload(ctx, sigSHA, taskID, evidence.SignatureItem)
	require.NoError(t, err)
	assert.Equal(t, evidence.TypePNG, up.ContentType)

	// While the checks run the page says so and reloads itself.
	page = h.get(h.c, r.location)
	require.Equal(t, http.StatusOK, page.code)
	assert.Contains(t, page.body, "Your evidence was sent")
	assert.Contains(t, page.body, `<meta http-equiv="refresh" content="3">`)
	assert.NotContains(t, page.body, `id="evidence-form"`)

	// Then the verdict, item by item.
	st := assigned(h.now.Add(-10 * time.Minute))
	st.OpenStep, st.OpenFor, st.Assignee, st.Stage, st.Outcome = "", "", "", humantask.StageDone, humantask.OutcomeCompleted
	v := evidence.Verdict{Overall: evidence.Accepted, Items: []evidence.Item{
		{Item: "check-in", Verdict: evidence.Accepted}, {Item: "photo:id-document", SHA256: photoSHA, Verdict: evidence.Accepted},
		{Item: "signature", SHA256: sigSHA, Verdict: evidence.Accepted}, {Item: "answer:document-number", Verdict: evidence.Accepted},
	}}
	st.Submissions = []humantask.SubmissionRecord{{Step: "submission-1", WorkerID: ana, At: h.now, Verdict: v}}
	st.Accepted = &v
	h.tasks.set(taskWF, st)
	h.fake.mu.Lock()
	h.fake.execs[taskWF] = Execution{RunID: taskRunID, WorkflowType: humantask.Workflow, TaskQueue: process.TaskQueue}
	h.fake.mu.Unlock()
	page = h.get(h.c, r.location)
	require.Equal(t, http.StatusOK, page.code)
	assert.Contains(t, page.body, "Task completed")
	assert.Contains(t, page.body, `id="verdict-submission-1">accepted`)
	assert.Contains(t, page.body, `href="/evidence/`+photoSHA+`"`)
	assert.NotContains(t, page.body, "http-equiv")
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestTaskSubmitRefusals(t *testing.T) {
	h := newTaskHarness(t)
	h.tasks.set(taskWF, assigned(h.now.Add(-10*time.Minute)))
	h.signInWorker(h.c, ana)
	page := h.get(h.c, "/tasks/"+taskWF)
	csrf := csrfOf(t, page.body)
	photo := evidencetest.JPEG(workforce.LisbonLat, workforce.LisbonLon, h.now)
	path := "/tasks/" + taskWF + "/evidence"
	with := func(name string, p part) []part {
		form := h.evidenceForm(csrf, photo)
		for i := range form {
			if form[i].name == name {
				form[i] = p
			}
		}
		return form
	}

	drop := func(names ...string) []part {
		var out []part
		for _, p := range h.evidenceForm(csrf, photo) {
			if !slices.Contains(names, p.name) {
				out = append(out, p)
			}
		}
		return out
	}

	tests := []struct {
		name     string
		parts    []part
		header   []string
		wantCode int
		want     []string
	}{
		{"csrf missing", with("csrf", field("csrf", "")), nil, http.StatusForbidden, []string{"security token"}},
		{"cross-site", h.evidenceForm(csrf, photo), []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden, []string{"Cross-site request refused"}},
		{"oversized photo", with("photo:id-document", part{name: "photo:id-document", filename: "big.jpg", contentType: "image/jpeg",
			body: append(photo, make([]byte, evidence.MaxUploadBytes)...)}), nil, http.StatusRequestEntityTooLarge, []string{"photo:id-document", "larger than 10 MiB"}},
		{"oversized request", with("photo:id-document", part{name: "photo:id-document", filename: "huge.jpg", contentType: "image/jpeg",
			body: make([]byte, maxEvidenceRequestBytes+1)}), nil, http.StatusRequestEntityTooLarge, []string{"larger than 25 MiB"}},
		{"wrong type", with("photo:id-document", part{name: "photo:id-document", filename: "id.txt", contentType: "text/plain",
			body: []byte("not a photo at all, just some text")}), nil, http.StatusBadRequest, []string{"photo:id-document: ", "only JPEG, PNG and PDF"}},
		{"photo missing", drop("photo:id-document"), nil, http.StatusBadRequest, []string{"photo:id-document: a photo is required"}},
		{"no check-in", drop("lat", "lon"), nil, http.StatusBadRequest, []string{"check-in: your position is missing"}},
		{"signature not a PNG", with("signature", field("signature", "data:image/jpeg;base64,"+base64.StdEncoding.EncodeToString(photo))), nil,
			http.StatusBadRequest, []string{"signature: the drawn signature must be a PNG"}},
		{"signature too large", with("signature", field("signature", signaturePrefix+base64.StdEncoding.EncodeToString(make([]byte, maxSignatureBytes+1)))), nil,
			http.StatusRequestEntityTooLarge, []string{"signature: the drawn signature is larger than 1 MiB"}},
		{"bad position", with("lat", field("lat", "north")), nil, http.StatusBadRequest, []string{"check-in: the position"}},
		{"signature missing", drop("signature"), nil, http.StatusBadRequest, []string{"signature: draw your signature"}},
		{"signature bytes not a PNG", with("signature", field("signature", signaturePrefix+base64.StdEncoding.EncodeToString(photo))), nil,
			http.StatusBadRequest, []string{"signature: "}},
		{"typed name missing", with("signatureName", field("signatureName", " ")), nil, http.StatusBadRequest, []string{"signatureName: type your full name"}},
		{"answer missing", with("answer:document-number", field("answer:document-number", "")), nil, http.StatusBadRequest, []string{"answer:document-number: an answer is required"}},
		{"number not a number", with("answer:copies", field("answer:copies", "two")), nil, http.StatusBadRequest, []string{"answer:copies: &#34;two&#34; is not a number"}},
		{"stale step", with("step", field("step", "submission-2")), nil, http.StatusConflict, []string{"not waiting for your evidence"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.postMultipart(h.c, path, tt.parts, tt.header...)
			assert.Equal(t, tt.wantCode, r.code, r.body)
			for _, w := range tt.want {
				assert.Contains(t, r.body, w)
			}
		})
	}
	assert.Empty(t, h.tasks.sentSteps(), "nothing sent by a refused form")

	t.Run("refused by the workflow, typed answers kept", func(t *testing.T) {
		h.tasks.sendFn = func(string, humantask.TaskRequest) error {
			return &TaskRefusedError{WorkflowID: taskWF, Reason: "submission.taskId: not this task"}
		}
		r := h.postMultipart(h.c, path, h.evidenceForm(csrf, photo))
		assert.Equal(t, http.StatusUnprocessableEntity, r.code)
		assert.Contains(t, r.body, "The workflow did not accept your evidence: submission.taskId: not this task")
		assert.Contains(t, r.body, `value=" AB123456 "`)
	})
	t.Run("not multipart", func(t *testing.T) {
		r := h.post(h.c, path, url.Values{"csrf": {csrf}, "step": {"submission-1"}})
		assert.Equal(t, http.StatusBadRequest, r.code)
	})
}

func TestEvidenceDownload(t *testing.T) {
	h := newTaskHarness(t)
	ctx := context.Background()
	photo := evidencetest.JPEG(workforce.LisbonLat, workforce.LisbonLon, h.now)
	up, err := h.evidence.Put(ctx, evidence.PutRequest{TaskID: taskID, Item: "photo:id-document", UploadedBy: ana, Body: bytes.NewReader(photo)})
	require.NoError(t, err)
	path := "/evidence/" + up.SHA256

	get := func(c *http.Client) (*http.Response, []byte) {
		res, err := c.Get(h.srv.URL + path)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, b
	}
	res, _ := get(h.c)
	assert.Equal(t, http.StatusSeeOther, res.StatusCode, "signed out: sign in first")

	h.signInWorker(h.c, ana)
	res, body := get(h.c)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, photo, body)
	assert.Equal(t, "image/jpeg", res.Header.Get("Content-Type"))
	assert.True(t, strings.HasPrefix(res.Header.Get("Content-Disposition"), "inline"), res.Header.Get("Content-Disposition"))
	assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))

	fatima := newClient(t)
	h.signIn(fatima, "fatima") // field-coordinator
	res, body = get(fatima)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, photo, body)

	for name, who := range map[string]func(*http.Client){
		"another worker":        func(c *http.Client) { h.signInWorker(c, bruno) },
		"a person without role": func(c *http.Client) { h.signIn(c, "maria") },
	} {
		c := newClient(t)
		who(c)
		res, _ := get(c)
		assert.Equal(t, http.StatusNotFound, res.StatusCode, name)
	}
	assert.Equal(t, http.StatusNotFound, h.get(h.c, "/evidence/"+strings.Repeat("0", 64)).code)
	assert.Equal(t, http.StatusNotFound, h.get(h.c, "/evidence/..%2Fetc").code)
}

func TestWorkforceAPI(t *testing.T) {
	h := newTaskHarness(t)
	fatima := newClient(t)
	h.signIn(fatima, "fatima")
	do := func(c *http.Client, method, path, contentType, body string, header ...string) (int, string) {
		req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := c.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	code, body := do(fatima, http.MethodGet, "/api/workforce", "", "")
	require.Equal(t, http.StatusOK, code, body)
	var list workforce.WorkerList
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	assert.Len(t, list.Workers, len(workforce.DemoWorkers()))
	code, _ = do(fatima, http.MethodGet, "/api/workforce/ana-field", "", "")
	assert.Equal(t, http.StatusOK, code)

	w := workforce.DemoWorkers()[0]
	w.ID, w.Name, w.Email = "gil-field", "Gil Santos", "gil@field.example.com"
	doc, err := json.Marshal(w)
	require.NoError(t, err)
	code, body = do(fatima, http.MethodPut, "/api/workforce/gil-field", "application/x-www-form-urlencoded", string(doc))
	assert.Equal(t, http.StatusUnsupportedMediaType, code, "a form cannot send JSON")
	assert.Contains(t, body, "application/json")
	code, _ = do(fatima, http.MethodPut, "/api/workforce/gil-field", "text/plain", string(doc))
	assert.Equal(t, http.StatusUnsupportedMediaType, code)
	code, _ = do(fatima, http.MethodPut, "/api/workforce/gil-field", "application/json", string(doc), "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, code)
	code, body = do(fatima, http.MethodPut, "/api/workforce/gil-field", "application/json; charset=utf-8", string(doc))
	assert.Equal(t, http.StatusOK, code, body)
	_, err = h.wf.Get(context.Background(), "gil-field")
	require.NoError(t, err)
	code, _ = do(fatima, http.MethodDelete, "/api/workforce/gil-field", "", "")
	assert.Equal(t, http.StatusNoContent, code)

	maria := newClient(t)
	h.signIn(maria, "maria")
	code, _ = do(maria, http.MethodGet, "/api/workforce", "", "")
	assert.Equal(t, http.StatusForbidden, code, "finance is not a coordinator")
	worker := newClient(t)
	h.signInWorker(worker, ana)
	code, _ = do(worker, http.MethodGet, "/api/workforce", "", "")
	assert.Equal(t, http.StatusForbidden, code, "a worker manages no one")
	code, _ = do(newClient(t), http.MethodGet, "/api/workforce", "", "")
	assert.Equal(t, http.StatusForbidden, code)
}

func TestNewRequiresEvidenceWithWorkforce(t *testing.T) {
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	_, err = New(Config{Workflows: newFake(), Directory: dir, DevIdentity: true, WorkflowTypes: testTypes, Workforce: fakeWorkforce{}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Config.Evidence")
}

type fakeWorkforce struct{ workers []workforce.Worker }

func (f fakeWorkforce) Get(_ context.Context, id string) (workforce.Worker, error) {
	for _, w := range f.workers {
		if w.ID == id {
			return w, nil
		}
	}
	return workforce.Worker{}, workforce.ErrNotFound
}

func (f fakeWorkforce) List(context.Context) ([]workforce.Worker, error) { return f.workers, nil }

func TestOIDCMatchesWorkers(t *testing.T) {
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	base, _ := parseBaseURL("https://approvals.example.com")
	o, err := newOIDC(OIDCConfig{IssuerURL: "https://id.example.com", ClientID: "c"}, base, dir, []byte("k"), true, time.Now, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	o.withWorkers(fakeWorkforce{workers: workforce.DemoWorkers()})
	ctx := context.Background()

	who, aerr := o.identify(ctx, map[string]any{"email": "ANA-FIELD@field.example.com", "email_verified": true})
	require.Nil(t, aerr)
	assert.Equal(t, identity{ID: ana, Worker: true}, who)
	assert.Equal(t, "/tasks", who.home())
	who, aerr = o.identify(ctx, map[string]any{"email": "maria@example.com", "email_verified": true})
	require.Nil(t, aerr)
	assert.Equal(t, identity{ID: "maria"}, who, "the organisation's people first")
	_, aerr = o.identify(ctx, map[string]any{"email": "ana-field@field.example.com", "email_verified": false})
	require.NotNil(t, aerr, "an unverified email names nobody")
	_, aerr = o.identify(ctx, map[string]any{"email": "nobody@field.example.com", "email_verified": true})
	require.NotNil(t, aerr)

	// A worker's session is not a person's, nor the other way round.
	rec := httptest.NewRecorder()
	o.sessions.startWorker(rec, ana)
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	for _, c := range rec.Result().Cookies() {
		r.AddCookie(c)
	}
	id, ok := o.Worker(r)
	assert.True(t, ok)
	assert.Equal(t, ana, id)
	_, ok = o.Person(r)
	assert.False(t, ok)
	rec = httptest.NewRecorder()
	o.sessions.start(rec, "maria")
	r, _ = http.NewRequest(http.MethodGet, "/", nil)
	for _, c := range rec.Result().Cookies() {
		r.AddCookie(c)
	}
	_, ok = o.Worker(r)
	assert.False(t, ok)
}

func TestTasksQueryQuotes(t *testing.T) {
	assert.Equal(t, `EOTaskWorker = 'ana-field' AND ExecutionStatus = 'Running' AND TaskQueue = '`+process.TaskQueue+`'`, TasksQuery(ana))
	assert.Equal(t, `EOTaskWorker = 'x\' OR \'1\'=\'1' AND ExecutionStatus = 'Running' AND TaskQueue = '`+process.TaskQueue+`'`, TasksQuery(`x' OR '1'='1`))
}

func TestTemporalTasksRefusal(t *testing.T) {
	err := error(&TaskRefusedError{WorkflowID: taskWF, Reason: "r", Err: errors.New("inner")})
	var re *TaskRefusedError
	assert.True(t, errors.As(err, &re))
	assert.Contains(t, err.Error(), "refused the step: r")
}

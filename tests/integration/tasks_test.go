package integration

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	tclient "go.temporal.io/sdk/client"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/evidence/evidencetest"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// lisbon is the demo workforce's centre.
var lisbon = evidence.GeoPoint{Lat: workforce.LisbonLat, Lon: workforce.LisbonLon}

// idTask is an in-person identity check at place: a photo of the ID within
// 200 m, a signature, the document number.
func idTask(id string, place evidence.GeoPoint, accept, due time.Duration) humantask.Input {
	now := time.Now().UTC()
	return humantask.Input{
		TaskID: id, Title: "Verify the identity of Rita Alves", Instructions: "Check the ID document against the person.",
		Context: map[string]string{"customer": "Rita Alves", "phone": "+351 900 000 000"},
		Skills:  []workforce.Skill{{Name: "id-verification", Level: 3}}, Place: place, Address: "Rua Augusta 1, Lisboa",
		Start: now.Add(-time.Hour), End: now.Add(3 * time.Hour),
		Evidence: evidence.Spec{
			Photos:    []evidence.PhotoSpec{{Name: "id-document", Prompt: "the ID document", MaxDistanceM: 200, Required: true}},
			Signature: true,
			Questions: []evidence.Question{{ID: "document-number", Prompt: "Document number", Type: evidence.QuestionText, Required: true}},
		},
		AcceptTimeout: accept, DueAfter: due, RequestedBy: "cli:ops",
	}
}

func startTask(t *testing.T, s *stack.Stack, in humantask.Input) tclient.WorkflowRun {
	t.Helper()
	run, err := s.Temporal.ExecuteWorkflow(context.Background(), humantask.StartOptions(in), humantask.Workflow, in)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func taskStatus(t *testing.T, s *stack.Stack, id string, until func(humantask.Status) bool) humantask.Status {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st, err := humantask.QueryStatus(context.Background(), s.Temporal, id)
		if err == nil && until(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached the state: %+v (%v)", id, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func openFor(worker string) func(humantask.Status) bool {
	return func(st humantask.Status) bool { return st.OpenFor == worker || st.Outcome != "" }
}

// step sends a worker's step as the web app does: signed by its key after
// the worker signed in.
func step(t *testing.T, s *stack.Stack, run tclient.WorkflowRun, st humantask.Status, action string, sub *evidence.Submission) error {
	t.Helper()
	req := humantask.TaskRequest{Action: action, Worker: st.OpenFor, Step: st.OpenStep, Submission: sub}
	digest, err := humantask.RequestDigest(req)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	req.Proof, err = s.Web.Sign(proof.Assertion{Kind: proof.KindTask, WorkflowID: run.GetID(), RunID: run.GetRunID(), Slot: req.Step,
		ActionDigest: digest, Decision: action, Subject: req.Worker, Method: proof.MethodDev, IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return humantask.Send(context.Background(), s.Temporal, run.GetID(), req)
}

// submission uploads photo, a signature and an answer as worker for task,
// checked in at place.
func submission(t *testing.T, s *stack.Stack, taskID, worker string, photo []byte, place evidence.GeoPoint) *evidence.Submission {
	t.Helper()
	ctx := context.Background()
	put := func(item, typ string, data []byte) string {
		u, err := s.Evidence.Put(ctx, evidence.PutRequest{TaskID: taskID, Item: item, UploadedBy: worker, Body: bytes.NewReader(data), DeclaredType: typ})
		if err != nil {
			t.Fatalf("upload %s: %v", item, err)
		}
		return u.SHA256
	}
	w, err := s.Workforce.Get(ctx, worker)
	if err != nil {
		t.Fatal(err)
	}
	return &evidence.Submission{
		TaskID: taskID, WorkerID: worker,
		CheckIn:   &evidence.GeoPoint{Lat: place.Lat, Lon: place.Lon, AccuracyM: 15, At: time.Now().UTC()},
		Photos:    map[string]string{"id-document": put(evidence.PhotoItem("id-document"), evidence.TypeJPEG, photo)},
		Signature: &evidence.Signature{SHA256: put(evidence.SignatureItem, evidence.TypePNG, evidencetest.PNG()), TypedName: w.Name},
		Answers:   map[string]any{"document-number": "CC 12345678"},
	}
}

// Routing picks the nearest idle skilled person and says why others were
// left out; an offer nobody answers moves on; an accepted task that is not
// done in time is escalated to the coordinators and offered to the next.
func TestTaskRoutingOffersAndEscalation(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	run := startTask(t, s, idTask("route-1", lisbon, 2*time.Second, 3*time.Second))

	st := taskStatus(t, s, run.GetID(), openFor("ana-field"))
	if st.Routing == nil || len(st.Routing.Candidates) == 0 || st.Routing.Candidates[0].WorkerID != "ana-field" {
		t.Fatalf("routing = %+v, want ana-field first", st.Routing)
	}
	reasons := map[string]string{}
	for _, e := range st.Routing.Excluded {
		reasons[e.WorkerID] = e.Reason
	}
	if !strings.Contains(reasons["eva-field"], "km away") || !strings.Contains(reasons["dario-field"], "lacks skill") {
		t.Errorf("exclusions = %v, want eva too far and dario without the skill", reasons)
	}

	// ana does not answer: the offer expires and the next person is asked.
	st = taskStatus(t, s, run.GetID(), func(st humantask.Status) bool { return len(st.Offers) >= 2 && st.OpenFor != "" })
	if st.Offers[0].Response != "expired" || st.Offers[1].WorkerID == "ana-field" {
		t.Fatalf("offers = %+v, want ana's expired and another person asked", st.Offers)
	}
	second := st.OpenFor
	if err := step(t, s, run, st, humantask.ActionAccept, nil); err != nil {
		t.Fatalf("%s accepts: %v", second, err)
	}
	// second does not submit in time: escalated, and offered to the next.
	st = taskStatus(t, s, run.GetID(), func(st humantask.Status) bool { return len(st.Escalations) > 0 })
	if !strings.Contains(st.Escalations[0].Reason, second) || !slices.Contains(st.Escalations[0].To, "fatima") {
		t.Fatalf("escalation = %+v, want fatima told that %s is overdue", st.Escalations, second)
	}
	mail, err := email.New(s.Sandbox.SMTPAddr(), s.Sandbox.HTTPURL()).List(context.Background(), "fatima@example.com")
	if err != nil || len(mail) == 0 || !strings.Contains(mail[0].Subject, "overdue") {
		t.Fatalf("fatima's mailbox = %+v (%v), want the overdue escalation", mail, err)
	}
	if err := s.Temporal.CancelWorkflow(context.Background(), run.GetID(), ""); err != nil {
		t.Fatal(err)
	}
}

// A photo 5 km from the site is rejected with that reason and the worker
// submits again; a good one closes the task. The same photo for another
// task is flagged, and a coordinator decides.
func TestTaskEvidenceChecked(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	ctx := context.Background()
	run := startTask(t, s, idTask("idv-1", lisbon, time.Minute, time.Hour))
	st := taskStatus(t, s, run.GetID(), openFor("ana-field"))
	if err := step(t, s, run, st, humantask.ActionAccept, nil); err != nil {
		t.Fatal(err)
	}
	st = taskStatus(t, s, run.GetID(), func(st humantask.Status) bool { return st.OpenStep == "submission-1" })
	if st.Context["customer"] != "Rita Alves" {
		t.Errorf("context handed over = %v", st.Context)
	}
	// A bad submission first: someone else's step is refused.
	far := evidencetest.JPEG(lisbon.Lat+5/111.2, lisbon.Lon, time.Now().UTC())
	// (Refused before any check runs: it needs no uploads.)
	if err := step(t, s, run, humantask.Status{OpenStep: st.OpenStep, OpenFor: "bruno-field"}, humantask.ActionSubmit,
		&evidence.Submission{TaskID: "idv-1", WorkerID: "bruno-field", Answers: map[string]any{"document-number": "X"}}); !errors.Is(err, humantask.ErrRefused) {
		t.Fatalf("bruno submitting ana's step: %v, want refused", err)
	}
	if err := step(t, s, run, st, humantask.ActionSubmit, submission(t, s, "idv-1", "ana-field", far, lisbon)); err != nil {
		t.Fatal(err)
	}
	st = taskStatus(t, s, run.GetID(), func(st humantask.Status) bool { return st.OpenStep == "submission-2" || st.Outcome != "" })
	v := st.Submissions[0].Verdict
	if v.Overall != evidence.Rejected || !strings.Contains(reasonsOf(v), "5.0 km") {
		t.Fatalf("far photo verdict = %+v, want rejected for 5.0 km", v)
	}
	good := evidencetest.JPEG(lisbon.Lat+0.0005, lisbon.Lon, time.Now().UTC())
	if err := step(t, s, run, st, humantask.ActionSubmit, submission(t, s, "idv-1", "ana-field", good, lisbon)); err != nil {
		t.Fatal(err)
	}
	var res humantask.Result
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != humantask.OutcomeCompleted || res.Accepted == nil || res.Accepted.Overall != evidence.Accepted {
		t.Fatalf("result = %+v", res)
	}

	// The same photo for another task is flagged: a coordinator decides.
	run2 := startTask(t, s, idTask("idv-2", lisbon, time.Minute, time.Hour))
	st = taskStatus(t, s, run2.GetID(), openFor("ana-field"))
	if err := step(t, s, run2, st, humantask.ActionAccept, nil); err != nil {
		t.Fatal(err)
	}
	st = taskStatus(t, s, run2.GetID(), func(st humantask.Status) bool { return st.OpenStep == "submission-1" })
	if err := step(t, s, run2, st, humantask.ActionSubmit, submission(t, s, "idv-2", "ana-field", good, lisbon)); err != nil {
		t.Fatal(err)
	}
	st = taskStatus(t, s, run2.GetID(), func(st humantask.Status) bool { return st.Stage == humantask.StageAwaitingApproval || st.Outcome != "" })
	if v := st.Submissions[0].Verdict; v.Overall != evidence.NeedsReview || !strings.Contains(reasonsOf(v), "idv-1") {
		t.Fatalf("reused photo verdict = %+v, want needs_review naming idv-1", v)
	}
	aps, err := client.ApprovalStatus(ctx, s.Temporal, run2.GetID())
	if err != nil || aps.AwaitingSlot != "field-coordinator" {
		t.Fatalf("review = %+v (%v), want fatima's slot", aps, err)
	}
	if err := client.Approve(ctx, s.Temporal, run2.GetID(), approvals.Request{Decision: "approve", Approver: "fatima", ActionDigest: aps.ActionDigest,
		Comment: "same customer, photo retaken on site", Proof: stack.Sign(t, s.Web, proof.MethodDev, "fatima", "approve", aps)}); err != nil {
		t.Fatal(err)
	}
	if err := run2.Get(ctx, &res); err != nil || res.Outcome != humantask.OutcomeCompleted {
		t.Fatalf("reviewed task = %+v (%v)", res, err)
	}
	if !strings.HasPrefix(res.Submissions[0].Review, "accepted by fatima") {
		t.Errorf("review = %q", res.Submissions[0].Review)
	}
}

func reasonsOf(v evidence.Verdict) string {
	var out []string
	for _, it := range v.Items {
		out = append(out, it.Reasons...)
	}
	return strings.Join(out, "; ")
}

// An agent creates a task through the gateway, a worker does it, and the
// agent reads the checked evidence and downloads a file; another agent
// cannot.
func TestAgentCreatesTaskAndReadsEvidence(t *testing.T) {
	s := stack.Start(t, stack.Options{AgentAPI: true})
	ctx := context.Background()
	key, err := s.Agents.Create(ctx, "ops-bot", []string{"tasks:create", "tasks:read"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Agents.Create(ctx, "other-bot", []string{"tasks:read"})
	if err != nil {
		t.Fatal(err)
	}
	in := idTask("x", lisbon, 0, 0)
	req := humantask.CreateRequest{TaskID: "delivery-77", Title: in.Title, Context: in.Context, Skills: in.Skills,
		Place: humantask.Place{Lat: lisbon.Lat, Lon: lisbon.Lon}, Address: in.Address, Start: in.Start, End: in.End, Evidence: in.Evidence}
	var st humantask.Status
	if code := rest(t, s, "POST", "/v1/tasks", key, req, &st); code != 202 || st.TaskID != "ops-bot.delivery-77" {
		t.Fatalf("create_task: %d %+v", code, st)
	}
	var e struct{ Error, Field string }
	bad := req
	bad.Skills = nil
	if code := rest(t, s, "POST", "/v1/tasks", key, bad, &e); code != 400 || e.Field != "skills" {
		t.Fatalf("task without skills: %d %+v, want 400 naming skills", code, e)
	}

	id := humantask.WorkflowID(st.TaskID)
	// The step is signed for the run, which the server names.
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	run := s.Temporal.GetWorkflow(ctx, id, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId())
	ws := taskStatus(t, s, id, openFor("ana-field"))
	if err := step(t, s, run, ws, humantask.ActionAccept, nil); err != nil {
		t.Fatal(err)
	}
	ws = taskStatus(t, s, id, func(st humantask.Status) bool { return st.OpenStep == "submission-1" })
	photo := evidencetest.JPEG(lisbon.Lat+0.0003, lisbon.Lon, time.Now().UTC())
	if err := step(t, s, run, ws, humantask.ActionSubmit, submission(t, s, st.TaskID, "ana-field", photo, lisbon)); err != nil {
		t.Fatal(err)
	}
	var ev humantask.TaskEvidence
	deadline := time.Now().Add(time.Minute)
	for ev.Outcome == "" {
		if code := rest(t, s, "GET", "/v1/tasks/delivery-77/evidence", key, nil, &ev); code != 200 {
			t.Fatalf("get_task_evidence: %d", code)
		}
		if time.Now().After(deadline) {
			t.Fatalf("task never ended: %+v", ev)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ev.Outcome != humantask.OutcomeCompleted || len(ev.Submissions) != 1 || ev.Submissions[0].Verdict != evidence.Accepted {
		t.Fatalf("evidence = %+v", ev)
	}
	var download string
	for _, it := range ev.Submissions[0].Items {
		if it.Item == evidence.PhotoItem("id-document") {
			download = it.Download
		}
	}
	if download == "" {
		t.Fatalf("no download for the photo: %+v", ev.Submissions[0].Items)
	}
	if code := rest(t, s, "GET", download, key, nil, nil); code != 200 {
		t.Fatalf("download %s: %d", download, code)
	}
	if code := rest(t, s, "GET", download, other, nil, nil); code != 404 {
		t.Fatalf("another agent downloading: %d, want 404", code)
	}
}

package web

// Field workers' pages: the human tasks offered to or held by the signed-in
// worker, each task's offer (accept or decline) and evidence form (check-in,
// photos, documents, a drawn signature, answers), the verdict of what they
// sent, their uploads, and the workforce REST API for field coordinators.
// Every step a worker takes goes to the HumanTask workflow as the "task"
// Update with an assertion (proof.KindTask) the app signs, exactly as
// approvals are; the workflow's validator has the last word.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// Workforce is what the web app reads of the workforce directory
// (*workforce.Store): who may sign in as a field worker.
type Workforce interface {
	Get(ctx context.Context, id string) (workforce.Worker, error)
	List(ctx context.Context) ([]workforce.Worker, error)
}

// Evidence is what the web app needs of the evidence store
// (*evidence.Store): storing a worker's uploads and serving them back.
type Evidence interface {
	Put(ctx context.Context, in evidence.PutRequest) (evidence.Upload, error)
	Blob(ctx context.Context, sha string) (io.ReadCloser, evidence.Upload, error)
}

// Tasks is what the task pages need from Temporal.
type Tasks interface {
	// WorkerTasks lists the running executions visibility says are offered
	// to or held by workerID (TasksQuery).
	WorkerTasks(ctx context.Context, workerID string) ([]TaskRef, error)
	// TaskStatus is the HumanTask's "status" query.
	TaskStatus(ctx context.Context, workflowID string) (humantask.Status, error)
	// SendTask sends a worker's step as the "task" Update and waits for
	// the workflow to take or refuse it (a *TaskRefusedError).
	SendTask(ctx context.Context, workflowID string, req humantask.TaskRequest) error
}

// TaskRef is one task as visibility lists it.
type TaskRef struct {
	WorkflowID   string
	WorkflowType string
	TaskQueue    string
	StartedAt    time.Time
}

// TaskRefusedError is the workflow refusing a worker's step; Reason is its
// validator's message, shown to the worker.
type TaskRefusedError struct {
	WorkflowID string
	Reason     string
	Err        error
}

func (e *TaskRefusedError) Error() string {
	return fmt.Sprintf("task %s refused the step: %s", e.WorkflowID, e.Reason)
}

func (e *TaskRefusedError) Unwrap() error { return e.Err }

// ErrTaskNotRunning: the task's workflow has ended (or never existed).
var ErrTaskNotRunning = errors.New("task is not running")

// CoordinatorRole is the organisation role that reviews field evidence:
// its holders may read any upload and manage the workforce.
const CoordinatorRole = "field-coordinator"

// Caps of an evidence submission.
const (
	// maxEvidenceRequestBytes bounds one evidence form (all its files).
	maxEvidenceRequestBytes = 25 << 20
	// maxSignatureBytes bounds the drawn signature's PNG.
	maxSignatureBytes = 1 << 20
	// maxSignatureField is the data URL of the largest signature.
	maxSignatureField = len(signaturePrefix) + (maxSignatureBytes+2)/3*4
	signaturePrefix   = "data:image/png;base64,"
	// multipartMemory is what a form keeps in memory; larger files go to
	// temporary files, removed after the request.
	multipartMemory = 2 << 20
	maxStep         = 32
	maxCoordinate   = 32
	maxTypedName    = 200
	// maxTasksListed bounds one task list; nobody works more at once.
	maxTasksListed = 200
	// uploadTimeout is how long a phone may take to send the evidence form.
	uploadTimeout = 10 * time.Minute
)

// Bounds on reading the task list's statuses: each is a query answered by
// a worker, so a few at a time, each with a short deadline.
const (
	taskStatusWorkers = 8
	taskStatusTimeout = 3 * time.Second
)

var stepRE = regexp.MustCompile(`^(offer|submission)-[0-9]{1,4}$`)

// TasksQuery is the visibility query for workerID's tasks: running
// executions on our task queue whose EOTaskWorker is the worker (the one
// the task is offered to or held by now).
func TasksQuery(workerID string) string {
	return fmt.Sprintf("%s = '%s' AND ExecutionStatus = 'Running' AND TaskQueue = '%s'",
		process.SATaskWorker.GetName(), escapeQuery(workerID), escapeQuery(process.TaskQueue))
}

// escapeQuery escapes a value for a single-quoted visibility query literal,
// so an id can never end the string and add conditions.
func escapeQuery(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

// temporalTasks is the real Tasks.
type temporalTasks struct{ c tclient.Client }

func (t temporalTasks) WorkerTasks(ctx context.Context, workerID string) ([]TaskRef, error) {
	var (
		out   []TaskRef
		token []byte
	)
	for {
		resp, err := t.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: TasksQuery(workerID), NextPageToken: token, PageSize: 100})
		if err != nil {
			return nil, fmt.Errorf("list tasks of %s: %w", workerID, err)
		}
		for _, e := range resp.GetExecutions() {
			out = append(out, TaskRef{WorkflowID: e.GetExecution().GetWorkflowId(), WorkflowType: e.GetType().GetName(),
				TaskQueue: e.GetTaskQueue(), StartedAt: e.GetStartTime().AsTime()})
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 || len(out) >= maxTasksListed {
			break
		}
	}
	if len(out) > maxTasksListed {
		out = out[:maxTasksListed]
	}
	return out, nil
}

func (t temporalTasks) TaskStatus(ctx context.Context, workflowID string) (humantask.Status, error) {
	st, err := humantask.QueryStatus(ctx, t.c, workflowID)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return st, fmt.Errorf("%w: %w", errNotFound, err)
	}
	return st, err
}

func (t temporalTasks) SendTask(ctx context.Context, workflowID string, req humantask.TaskRequest) error {
	h, err := t.c.UpdateWorkflow(ctx, tclient.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: humantask.TaskUpdate, Args: []any{req}, WaitForStage: tclient.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err == nil {
		return nil
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%s %s on %s: %w: %w", req.Worker, req.Action, workflowID, ErrTaskNotRunning, err)
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return &TaskRefusedError{WorkflowID: workflowID, Reason: appErr.Message(), Err: err}
	}
	return fmt.Errorf("send %s from %s to %s: %w", req.Action, req.Worker, workflowID, err)
}

// ---- identity ----

// workerKnown says whether an id is in the workforce directory.
func workerKnown(wf Workforce) func(context.Context, string) bool {
	return func(ctx context.Context, id string) bool {
		// A worker made inactive loses their session at the next request.
		w, err := wf.Get(ctx, id)
		return err == nil && w.Active
	}
}

// workerOf is the signed-in field worker, if the session is one.
func (s *Server) workerOf(r *http.Request) (workforce.Worker, bool) {
	if s.workers == nil {
		return workforce.Worker{}, false
	}
	wa, ok := s.auth.(WorkerAuthenticator)
	if !ok {
		return workforce.Worker{}, false
	}
	id, ok := wa.Worker(r)
	if !ok {
		return workforce.Worker{}, false
	}
	wk, err := s.workers.Get(r.Context(), id)
	if err != nil {
		return workforce.Worker{}, false
	}
	return wk, true
}

// signedIn is whoever the session names: a person, else a field worker.
func (s *Server) signedIn(r *http.Request) (identity, bool) {
	if me, ok := s.auth.Person(r); ok {
		return identity{ID: me}, true
	}
	if wk, ok := s.workerOf(r); ok {
		return identity{ID: wk.ID, Worker: true}, true
	}
	return identity{}, false
}

// workerPage is a page for a signed-in field worker.
func (s *Server) workerPage(w http.ResponseWriter, r *http.Request, title string, wk workforce.Worker) page {
	p := s.newPage(w, r, title, "")
	p.Me = &personView{ID: wk.ID, Name: wk.Name, Email: wk.Email, Roles: "field worker"}
	p.Home, p.HomeLabel = "/tasks", "My tasks"
	return p
}

// refuseWorker answers a field worker on a page for the organisation's
// people, and says whether it did.
func (s *Server) refuseWorker(w http.ResponseWriter, r *http.Request) bool {
	if _, ok := s.workerOf(r); !ok {
		return false
	}
	s.fail(w, r, http.StatusForbidden, "Not for field workers",
		"Approvals are for the organisation's people. You are signed in as a field worker: your tasks are under My tasks.")
	return true
}

// requireWorker is the signed-in field worker, or it answers: no task
// pages here (404), a person of the organisation (403), nobody (sign in).
func (s *Server) requireWorker(w http.ResponseWriter, r *http.Request) (workforce.Worker, bool) {
	if s.workers == nil {
		s.fail(w, r, http.StatusNotFound, "Not found", "Field tasks are not enabled on this server.")
		return workforce.Worker{}, false
	}
	if wk, ok := s.workerOf(r); ok {
		return wk, true
	}
	if _, ok := s.auth.Person(r); ok {
		s.fail(w, r, http.StatusForbidden, "Only for field workers",
			"Task pages are for the field workers the tasks are offered to. You are signed in as a person of the organisation.")
		return workforce.Worker{}, false
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		http.Redirect(w, r, s.signInURL(r.URL.Path), http.StatusSeeOther)
	} else {
		s.fail(w, r, http.StatusUnauthorized, "Not signed in", "Sign in to work on your tasks.")
	}
	return workforce.Worker{}, false
}

type workerView struct {
	ID, Name, Skills string
}

// pickerWorkers are the field workers the development picker offers.
func (s *Server) pickerWorkers(r *http.Request) ([]workerView, string) {
	if s.workers == nil {
		return nil, ""
	}
	ws, err := s.workers.List(r.Context())
	if err != nil {
		s.log.ErrorContext(r.Context(), "list workforce", "err", err)
		return nil, "The workforce directory could not be read: " + err.Error()
	}
	out := make([]workerView, 0, len(ws))
	for _, wk := range ws {
		var skills []string
		for _, sk := range wk.Skills {
			skills = append(skills, fmt.Sprintf("%s %d", sk.Name, sk.Level))
		}
		out = append(out, workerView{ID: wk.ID, Name: wk.Name, Skills: strings.Join(skills, ", ")})
	}
	return out, ""
}

// signInWorker signs a field worker in on the development picker.
func (s *Server) signInWorker(w http.ResponseWriter, r *http.Request, id string) {
	st, ok := s.auth.(interface {
		SignInWorker(w http.ResponseWriter, workerID string)
	})
	if !ok || s.workers == nil {
		s.fail(w, r, http.StatusBadRequest, "Unknown worker", "Field workers cannot sign in on this server.")
		return
	}
	if _, err := s.workers.Get(r.Context(), id); err != nil {
		if errors.Is(err, workforce.ErrNotFound) {
			s.fail(w, r, http.StatusBadRequest, "Unknown worker", fmt.Sprintf("worker: %q is not in the workforce directory.", id))
			return
		}
		s.log.ErrorContext(r.Context(), "look up worker", "worker", id, "err", err)
		s.fail(w, r, http.StatusBadGateway, "Sign-in unavailable", "The workforce directory could not be read. Try again in a moment.")
		return
	}
	st.SignInWorker(w, id)
	next := r.PostFormValue("next")
	if !localPath(next) {
		next = "/tasks"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// ---- routes ----

func (s *Server) routeTasks(mux *http.ServeMux, wf Workforce) {
	mux.HandleFunc("GET /tasks", s.taskList)
	mux.HandleFunc("GET /tasks/{workflowId}", s.taskPage)
	mux.HandleFunc("POST /tasks/{workflowId}", s.taskAnswer)
	mux.HandleFunc("POST /tasks/{workflowId}/evidence", s.taskSubmit)
	mux.HandleFunc("GET /evidence/{sha256}", s.evidenceDownload)
	if store, ok := wf.(*workforce.Store); ok && store != nil {
		api := s.workforceAPI(store)
		mux.Handle("/api/workforce", api)
		mux.Handle("/api/workforce/", api)
	}
}

// isEvidencePath says whether p is where an evidence form posts.
func isEvidencePath(p string) bool {
	return strings.HasPrefix(p, "/tasks/") && strings.HasSuffix(p, "/evidence") && strings.Count(p, "/") == 3
}

// ---- the list ----

type taskRow struct {
	WorkflowID string
	Title      string
	Address    string
	Stage      string
	Deadline   string
	DeadlineIn string
	Offer      bool
	Problem    string
	due        time.Time
}

type tasksView struct {
	Rows     []taskRow
	Declined bool
}

func (s *Server) taskList(w http.ResponseWriter, r *http.Request) {
	wk, ok := s.requireWorker(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	refs, err := s.tasks.WorkerTasks(ctx, wk.ID)
	if err != nil {
		s.log.ErrorContext(r.Context(), "list tasks", "worker", wk.ID, "err", err)
		s.fail(w, r, http.StatusBadGateway, "Tasks unavailable", "Could not list your tasks: "+err.Error())
		return
	}
	pg := s.workerPage(w, r, "My tasks", wk)
	pg.Data = tasksView{Rows: s.taskRows(ctx, wk.ID, zoneOf(wk), refs), Declined: r.URL.Query().Get("declined") != ""}
	s.render(w, r, http.StatusOK, "tasks", pg)
}

// taskRows reads each listed task's status, a few at a time, and keeps the
// ones that are the worker's now (visibility lags a little).
func (s *Server) taskRows(ctx context.Context, me string, loc *time.Location, refs []TaskRef) []taskRow {
	rows := make([]*taskRow, len(refs))
	sem := make(chan struct{}, taskStatusWorkers)
	var wg sync.WaitGroup
	for i, ref := range refs {
		// The query restricts the queue; the type is checked here, so no
		// other workflow's answer is shown as a task.
		if ref.WorkflowType != humantask.Workflow || ref.TaskQueue != process.TaskQueue || !slices.Contains(s.wfTypes, ref.WorkflowType) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			qctx, cancel := context.WithTimeout(ctx, taskStatusTimeout)
			defer cancel()
			st, err := s.tasks.TaskStatus(qctx, ref.WorkflowID)
			if err != nil {
				rows[i] = &taskRow{WorkflowID: ref.WorkflowID, Title: ref.WorkflowID, Problem: "status unavailable", due: ref.StartedAt}
				return
			}
			if humantask.WorkflowID(st.TaskID) != ref.WorkflowID || (st.OpenFor != me && st.Assignee != me) {
				return
			}
			row := &taskRow{WorkflowID: ref.WorkflowID, Title: st.Title, Address: st.Address, Stage: workerStage(me, st)}
			if d, offer := deadlineOf(me, st); !d.IsZero() {
				row.due, row.Offer = d, offer
				row.Deadline = d.In(loc).Format(timeLayout)
				row.DeadlineIn = until(d.Sub(s.now()))
			}
			rows[i] = row
		}()
	}
	wg.Wait()
	out := []taskRow{}
	for _, r := range rows {
		if r != nil {
			out = append(out, *r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].due.Before(out[j].due) })
	return out
}

// timeLayout is how the task pages show a time, in the worker's zone.
const timeLayout = "Mon 2 Jan 15:04 MST"

// zoneOf is the worker's time zone (UTC when it is not a known one).
func zoneOf(wk workforce.Worker) *time.Location {
	if wk.TimeZone != "" && wk.TimeZone != "Local" {
		if loc, err := time.LoadLocation(wk.TimeZone); err == nil {
			return loc
		}
	}
	return time.UTC
}

// deadlineOf is when the worker must act: the open offer's deadline, or
// the assignment's due time.
func deadlineOf(me string, st humantask.Status) (time.Time, bool) {
	if st.OpenFor == me && strings.HasPrefix(st.OpenStep, "offer-") {
		for _, o := range st.Offers {
			if o.Step == st.OpenStep {
				return o.Deadline, true
			}
		}
	}
	if st.Assignee == me && st.DueAt != nil {
		return *st.DueAt, false
	}
	return time.Time{}, false
}

// workerStage says where the task is, for the worker.
func workerStage(me string, st humantask.Status) string {
	switch {
	case st.Stage == humantask.StageDone:
		return "done: " + strings.ReplaceAll(st.Outcome, "_", " ")
	case st.OpenFor == me && strings.HasPrefix(st.OpenStep, "offer-"):
		return "offered to you"
	case st.OpenFor == me:
		return "assigned to you: evidence to send"
	case st.Stage == humantask.StageChecking:
		return "checking your evidence"
	case st.Stage == humantask.StageAwaitingApproval:
		return "evidence in review"
	case st.Assignee == me:
		return "assigned to you"
	default:
		return st.Stage
	}
}

// until renders a time left coarsely; a past deadline says so.
func until(d time.Duration) string {
	if d < 0 {
		return "overdue by " + ago(-d)
	}
	return "in " + ago(d)
}

// ---- one task ----

type offerView struct {
	Step     string
	Deadline string
	In       string
	Reasons  []string
}

type docField struct {
	evidence.DocumentSpec
	Accept string
}

type evidenceForm struct {
	Step        string
	Photos      []evidence.PhotoSpec
	Documents   []docField
	Signature   bool
	Questions   []evidence.Question
	CheckInMaxM float64
	NeedCheckIn bool
}

type submissionView struct {
	Step    string
	At      string
	Overall string
	Items   []evidence.Item
	Review  string
}

type taskView struct {
	WorkflowID  string
	Status      humantask.Status
	Stage       string
	MapURL      string
	Window      string
	Due         string
	Offer       *offerView
	Assigned    bool
	Context     []actionField
	Form        *evidenceForm
	Submissions []submissionView
	Waiting     string
	// RefreshAfter reloads the page while Waiting, in seconds.
	RefreshAfter int
	Done         string // the outcome, for the worker, once the task ended
	Completed    bool
	Sent         string // "accept" or the submission step just sent
	Error        string // the workflow's refusal, or what is wrong in the form
	// Values typed into the form, kept after a refusal.
	Answers   map[string]string
	TypedName string
}

// noSuchTask is the answer for a task that does not exist, is not ours, or
// is not the worker's: the same for all three, so nobody learns which.
func noSuchTask(id string) *refusal {
	return &refusal{http.StatusNotFound, "No such task", fmt.Sprintf("There is no task %q for you.", shorten(id, 200))}
}

// lookupTask reads the task id names: Temporal's record of its current run
// (a HumanTask of ours, on our queue), then its status query, which must
// name the same task.
func (s *Server) lookupTask(ctx context.Context, id string) (Execution, humantask.Status, *refusal) {
	ex, err := s.wf.Describe(ctx, id)
	if errors.Is(err, errNotFound) {
		return ex, humantask.Status{}, noSuchTask(id)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "describe task", "workflowId", id, "err", err)
		return ex, humantask.Status{}, &refusal{http.StatusBadGateway, "Task unavailable", "Could not read the task from Temporal: " + err.Error()}
	}
	if ex.TaskQueue != process.TaskQueue || ex.WorkflowType != humantask.Workflow || !slices.Contains(s.wfTypes, ex.WorkflowType) {
		s.log.WarnContext(ctx, "foreign workflow refused as a task", "workflowId", id, "workflowType", ex.WorkflowType, "taskQueue", ex.TaskQueue)
		return ex, humantask.Status{}, noSuchTask(id)
	}
	st, err := s.tasks.TaskStatus(ctx, id)
	if errors.Is(err, errNotFound) {
		return ex, st, noSuchTask(id)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "task status query", "workflowId", id, "err", err)
		return ex, st, &refusal{http.StatusBadGateway, "Task unavailable", "Could not read the task's status: " + err.Error()}
	}
	if humantask.WorkflowID(st.TaskID) != id {
		s.log.WarnContext(ctx, "task status names another task", "workflowId", id, "claimedTaskId", st.TaskID)
		return ex, st, &refusal{http.StatusConflict, "Task changed",
			"The task's answer does not match its workflow, so it is not shown and nothing can be sent. Reload in a moment; if this persists, tell a coordinator."}
	}
	return ex, st, nil
}

// involves says whether the task is the worker's to see: offered to them
// now, held by them, or holding evidence they sent.
func involves(me string, st humantask.Status) bool {
	if st.OpenFor == me || st.Assignee == me {
		return true
	}
	return slices.ContainsFunc(st.Submissions, func(r humantask.SubmissionRecord) bool { return r.WorkerID == me })
}

// loadTask is lookupTask for the signed-in worker; it answers and returns
// false when the task is not theirs.
func (s *Server) loadTask(ctx context.Context, w http.ResponseWriter, r *http.Request, id, me string) (Execution, humantask.Status, bool) {
	ex, st, ref := s.lookupTask(ctx, id)
	if ref == nil && !involves(me, st) {
		s.log.WarnContext(r.Context(), "task of another worker refused", "workflowId", id, "worker", me)
		ref = noSuchTask(id)
	}
	if ref != nil {
		s.fail(w, r, ref.status, ref.heading, ref.message)
		return ex, st, false
	}
	return ex, st, true
}

// taskViewOf builds the page of a task the worker may see.
func (s *Server) taskViewOf(wk workforce.Worker, id string, ex Execution, st humantask.Status, sent string) taskView {
	me, loc := wk.ID, zoneOf(wk)
	v := taskView{WorkflowID: id, Status: st, Stage: workerStage(me, st), Sent: sent}
	if st.Place.Lat != 0 || st.Place.Lon != 0 {
		lat, lon := strconv.FormatFloat(st.Place.Lat, 'f', 6, 64), strconv.FormatFloat(st.Place.Lon, 'f', 6, 64)
		v.MapURL = "https://www.openstreetmap.org/?mlat=" + lat + "&mlon=" + lon + "#map=17/" + lat + "/" + lon
	}
	if !st.Start.IsZero() {
		v.Window = st.Start.In(loc).Format("Mon 2 Jan 15:04") + " to " + st.End.In(loc).Format(timeLayout)
	}
	running := ex.Running && st.Stage != humantask.StageDone
	if running && st.OpenFor == me && strings.HasPrefix(st.OpenStep, "offer-") {
		o := &offerView{Step: st.OpenStep}
		for _, of := range st.Offers {
			if of.Step == st.OpenStep {
				o.Deadline, o.In, o.Reasons = of.Deadline.In(loc).Format(timeLayout), until(of.Deadline.Sub(s.now())), of.Reasons
			}
		}
		v.Offer = o
	}
	mine := st.Assignee == me
	for i := len(st.Submissions) - 1; i >= 0; i-- {
		if sub := st.Submissions[i]; sub.WorkerID == me {
			// The last word on the task is the worker's evidence accepted.
			if st.Outcome == humantask.OutcomeCompleted && st.Accepted != nil && i == len(st.Submissions)-1 {
				mine, v.Completed = true, true
			}
			break
		}
	}
	if mine {
		v.Assigned = true
		keys := make([]string, 0, len(st.Context))
		for k := range st.Context {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v.Context = append(v.Context, actionField{Name: k, Value: st.Context[k]})
		}
		if st.DueAt != nil {
			v.Due = st.DueAt.In(loc).Format(timeLayout) + " (" + until(st.DueAt.Sub(s.now())) + ")"
		}
	}
	if running && st.OpenFor == me && strings.HasPrefix(st.OpenStep, "submission-") {
		v.Form = formOf(st)
	}
	for _, sub := range st.Submissions {
		if sub.WorkerID == me {
			v.Submissions = append(v.Submissions, submissionView{Step: sub.Step, At: sub.At.In(loc).Format("2006-01-02 15:04 MST"),
				Overall: sub.Verdict.Overall, Items: sub.Verdict.Items, Review: sub.Review})
		}
	}
	// The step just sent may still show as open until the workflow has
	// taken it: it is not offered again.
	if v.Offer != nil && sent == humantask.ActionAccept {
		v.Offer = nil
	}
	if v.Form != nil && sent == v.Form.Step {
		v.Form = nil
	}
	v.RefreshAfter = 3
	switch {
	case !running:
		v.Done = strings.ReplaceAll(orDefault(st.Outcome, "ended"), "_", " ")
	case v.Offer != nil || v.Form != nil:
	case st.Stage == humantask.StageAwaitingApproval:
		v.Waiting, v.RefreshAfter = "Your evidence needs a coordinator's review. This page reloads until they decide.", 30
	case st.Stage == humantask.StageChecking || strings.HasPrefix(sent, "submission-"):
		v.Waiting = "Your evidence is being checked. This page reloads until the verdict is in."
	case mine || sent == humantask.ActionAccept:
		v.Waiting = "The task is being handed over to you. This page reloads until your evidence form is ready."
	}
	return v
}

func formOf(st humantask.Status) *evidenceForm {
	f := &evidenceForm{Step: st.OpenStep, Photos: st.Evidence.Photos, Signature: st.Evidence.Signature, Questions: st.Evidence.Questions,
		CheckInMaxM: st.Evidence.CheckInMaxDistanceM, NeedCheckIn: len(st.Evidence.Photos) > 0}
	if f.CheckInMaxM == 0 {
		f.CheckInMaxM = evidence.DefaultCheckInMaxDistanceM
	}
	for _, d := range st.Evidence.Documents {
		types := d.Types
		if len(types) == 0 {
			types = evidence.AllowedTypes()
		}
		f.Documents = append(f.Documents, docField{DocumentSpec: d, Accept: strings.Join(types, ",")})
	}
	return f
}

// taskCSP allows the task page's own inline script (geolocation and the
// signature pad), and nothing else.
func taskCSP(nonce string) string {
	return "default-src 'none'; script-src 'nonce-" + nonce + "'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// renderTask renders a task page with its script allowed.
func (s *Server) renderTask(w http.ResponseWriter, r *http.Request, status int, wk workforce.Worker, v taskView) {
	pg := s.workerPage(w, r, v.Status.Title, wk)
	pg.Nonce = randomString(18)
	if v.Waiting != "" {
		pg.Refresh = v.RefreshAfter
	}
	pg.Data = v
	w.Header().Set("Content-Security-Policy", taskCSP(pg.Nonce))
	s.render(w, r, status, "task", pg)
}

func (s *Server) taskPage(w http.ResponseWriter, r *http.Request) {
	wk, ok := s.requireWorker(w, r)
	if !ok {
		return
	}
	id := r.PathValue("workflowId")
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	ex, st, ok := s.loadTask(ctx, w, r, id, wk.ID)
	if !ok {
		return
	}
	sent := r.URL.Query().Get("sent")
	if sent != humantask.ActionAccept && (!strings.HasPrefix(sent, "submission-") || !stepRE.MatchString(sent)) {
		sent = ""
	}
	s.renderTask(w, r, http.StatusOK, wk, s.taskViewOf(wk, id, ex, st, sent))
}

// rerenderTask shows the task as it is now with a problem: the workflow's
// refusal or what is wrong in the form.
func (s *Server) rerenderTask(w http.ResponseWriter, r *http.Request, status int, wk workforce.Worker, id, problem string, keep func(*taskView)) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	ex, st, ok := s.loadTask(ctx, w, r, id, wk.ID)
	if !ok {
		return
	}
	v := s.taskViewOf(wk, id, ex, st, "")
	v.Error = problem
	if keep != nil {
		keep(&v)
	}
	s.renderTask(w, r, status, wk, v)
}

// signTask makes the assertion that the worker took req's step on the given
// run of the task.
func (s *Server) signTask(me, workflowID, runID string, req humantask.TaskRequest) (string, error) {
	if s.signer == nil {
		return "", errors.New("web: no signing key configured")
	}
	req.Proof = ""
	digest, err := humantask.RequestDigest(req)
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	return s.signer.Sign(proof.Assertion{
		Kind: proof.KindTask, WorkflowID: workflowID, RunID: runID, Slot: req.Step,
		ActionDigest: digest, Decision: req.Action, Subject: me, Method: s.proofMethod(),
		IssuedAt: now, ExpiresAt: now.Add(proofLifetime),
	})
}

// send signs req and sends it; on failure it answers and returns false.
func (s *Server) send(ctx context.Context, w http.ResponseWriter, r *http.Request, wk workforce.Worker, id string, ex Execution, req humantask.TaskRequest, keep func(*taskView)) bool {
	var err error
	if req.Proof, err = s.signTask(wk.ID, id, ex.RunID, req); err != nil {
		s.log.ErrorContext(r.Context(), "sign task step", "workflowId", id, "err", err)
		s.fail(w, r, http.StatusInternalServerError, "Not sent", "The web app could not sign your step.")
		return false
	}
	err = s.tasks.SendTask(ctx, id, req)
	if err == nil {
		s.log.InfoContext(r.Context(), "task step recorded", "workflowId", id, "worker", wk.ID, "action", req.Action, "step", req.Step)
		return true
	}
	var refused *TaskRefusedError
	switch {
	case errors.As(err, &refused):
		s.log.InfoContext(r.Context(), "task step refused by workflow", "workflowId", id, "worker", wk.ID, "action", req.Action, "reason", refused.Reason)
		s.rerenderTask(w, r, http.StatusUnprocessableEntity, wk, id, "The workflow did not accept your "+stepNoun(req.Action)+": "+refused.Reason, keep)
	case errors.Is(err, ErrTaskNotRunning):
		s.fail(w, r, http.StatusConflict, "Task has ended", "This task has finished or does not exist; your "+stepNoun(req.Action)+" was not recorded.")
	default:
		s.log.ErrorContext(r.Context(), "send task step", "workflowId", id, "worker", wk.ID, "err", err)
		s.fail(w, r, http.StatusBadGateway, "Not confirmed", "The workflow did not confirm your "+stepNoun(req.Action)+" in time, so it may not have been recorded. Open the task again to check before retrying.")
	}
	return false
}

func stepNoun(action string) string {
	switch action {
	case humantask.ActionAccept:
		return "acceptance"
	case humantask.ActionDecline:
		return "refusal"
	default:
		return "evidence"
	}
}

// taskAnswer is the worker's accept or decline of an offer.
func (s *Server) taskAnswer(w http.ResponseWriter, r *http.Request) {
	wk, ok := s.requireWorker(w, r)
	if !ok {
		return
	}
	id := r.PathValue("workflowId")
	if !s.parseForm(w, r, map[string]int{"action": maxDecision, "step": maxStep, csrfField: maxCSRF}) {
		return
	}
	if !s.csrf.valid(r) {
		s.fail(w, r, http.StatusForbidden, "Form expired", "The form's security token is missing or wrong. Reload the page and try again.")
		return
	}
	action, step := r.PostFormValue("action"), r.PostFormValue("step")
	switch {
	case action != humantask.ActionAccept && action != humantask.ActionDecline:
		s.fail(w, r, http.StatusBadRequest, "Bad form", fmt.Sprintf("action: %q is not accept or decline.", action))
		return
	case !stepRE.MatchString(step) || !strings.HasPrefix(step, "offer-"):
		s.fail(w, r, http.StatusBadRequest, "Bad form", "step: missing or not an offer; reload the task page.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), decideTimeout)
	defer cancel()
	ex, st, ok := s.loadTask(ctx, w, r, id, wk.ID)
	if !ok {
		return
	}
	// The workflow checks all this again; checking here too means the app
	// never signs a step it can see is not the worker's to take.
	if !ex.Running || st.OpenFor != wk.ID || st.OpenStep != step {
		s.rerenderTask(w, r, http.StatusConflict, wk, id, "This offer is no longer open for you; your answer was not sent.", nil)
		return
	}
	if !s.send(ctx, w, r, wk, id, ex, humantask.TaskRequest{Action: action, Worker: wk.ID, Step: step}, nil) {
		return
	}
	if action == humantask.ActionDecline {
		http.Redirect(w, r, "/tasks?declined=1", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/tasks/"+url.PathEscape(id)+"?sent=accept", http.StatusSeeOther)
}

// formProblem is a field of the evidence form at fault.
type formProblem struct {
	status  int
	field   string
	message string
}

func (p *formProblem) text() string { return p.field + ": " + p.message }

func problem(status int, field, format string, args ...any) *formProblem {
	return &formProblem{status: status, field: field, message: fmt.Sprintf(format, args...)}
}

// taskSubmit is the worker's evidence: check-in, files, signature and
// answers in one multipart form.
func (s *Server) taskSubmit(w http.ResponseWriter, r *http.Request) {
	wk, ok := s.requireWorker(w, r)
	if !ok {
		return
	}
	id := r.PathValue("workflowId")
	// A phone on a slow network needs longer than the server's read
	// timeout to send a few photos.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(uploadTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(uploadTimeout + time.Minute))
	if err := r.ParseMultipartForm(multipartMemory); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || strings.Contains(err.Error(), "request body too large") {
			s.fail(w, r, http.StatusRequestEntityTooLarge, "Too large",
				fmt.Sprintf("The evidence is larger than %d MiB in all; send smaller photos or fewer files.", maxEvidenceRequestBytes>>20))
			return
		}
		s.fail(w, r, http.StatusBadRequest, "Bad form", "The evidence form could not be read (it must be sent as multipart/form-data).")
		return
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	caps := map[string]int{csrfField: maxCSRF, "step": maxStep, "lat": maxCoordinate, "lon": maxCoordinate, "accuracy": maxCoordinate,
		"checkinAt": maxCoordinate, "signature": maxSignatureField, "signatureName": maxTypedName}
	for name := range r.MultipartForm.Value {
		if strings.HasPrefix(name, "answer:") {
			caps[name] = evidence.MaxTextAnswer
		}
	}
	if msg := tooLong(r.MultipartForm.Value, caps); msg != "" {
		s.fail(w, r, http.StatusBadRequest, "Bad form", msg)
		return
	}
	if !s.csrf.valid(r) {
		s.fail(w, r, http.StatusForbidden, "Form expired", "The form's security token is missing or wrong. Reload the page and try again.")
		return
	}
	step := r.PostFormValue("step")
	if !stepRE.MatchString(step) || !strings.HasPrefix(step, "submission-") {
		s.fail(w, r, http.StatusBadRequest, "Bad form", "step: missing or not a submission; reload the task page.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	ex, st, ok := s.loadTask(ctx, w, r, id, wk.ID)
	if !ok {
		return
	}
	keep := keepForm(r)
	if !ex.Running || st.OpenFor != wk.ID || st.OpenStep != step {
		s.rerenderTask(w, r, http.StatusConflict, wk, id, "This task is not waiting for your evidence now; nothing was sent.", nil)
		return
	}
	sub, prob := s.submission(ctx, r, wk.ID, st)
	if prob != nil {
		s.log.InfoContext(r.Context(), "evidence form refused", "workflowId", id, "worker", wk.ID, "field", prob.field, "problem", prob.message)
		s.rerenderTask(w, r, prob.status, wk, id, prob.text(), keep)
		return
	}
	sctx, scancel := context.WithTimeout(r.Context(), decideTimeout)
	defer scancel()
	if !s.send(sctx, w, r, wk, id, ex, humantask.TaskRequest{Action: humantask.ActionSubmit, Worker: wk.ID, Step: step, Submission: &sub}, keep) {
		return
	}
	http.Redirect(w, r, "/tasks/"+url.PathEscape(id)+"?sent="+url.QueryEscape(step), http.StatusSeeOther)
}

// keepForm keeps what the worker typed, to show it again after a refusal.
func keepForm(r *http.Request) func(*taskView) {
	answers := map[string]string{}
	for name, vs := range r.MultipartForm.Value {
		if qid, ok := strings.CutPrefix(name, "answer:"); ok && len(vs) > 0 {
			answers[qid] = vs[0]
		}
	}
	name := r.PostFormValue("signatureName")
	return func(v *taskView) { v.Answers, v.TypedName = answers, name }
}

// submission checks the evidence form against the task's spec, stores its
// files in the evidence store and returns what the workflow is sent.
// Everything that can be checked is checked before anything is stored.
func (s *Server) submission(ctx context.Context, r *http.Request, me string, st humantask.Status) (evidence.Submission, *formProblem) {
	form := r.MultipartForm
	spec := st.Evidence
	sub := evidence.Submission{TaskID: st.TaskID, WorkerID: me}

	checkIn, prob := s.checkIn(r)
	if prob != nil {
		return sub, prob
	}
	if checkIn == nil && len(spec.Photos) > 0 {
		return sub, problem(http.StatusBadRequest, "check-in", "your position is missing: allow this page to use your location and tap “Check in again”")
	}
	sub.CheckIn = checkIn

	type upload struct {
		field, item string
		fh          *multipart.FileHeader
		into        map[string]string
		name        string
	}
	var uploads []upload
	file := func(field string) *multipart.FileHeader {
		if fhs := form.File[field]; len(fhs) > 0 && fhs[0].Size > 0 {
			return fhs[0]
		}
		return nil
	}
	for _, p := range spec.Photos {
		field := evidence.PhotoItem(p.Name)
		fh := file(field)
		if fh == nil {
			if p.Required {
				return sub, problem(http.StatusBadRequest, field, "a photo is required")
			}
			continue
		}
		if sub.Photos == nil {
			sub.Photos = map[string]string{}
		}
		uploads = append(uploads, upload{field: field, item: field, fh: fh, into: sub.Photos, name: p.Name})
	}
	for _, d := range spec.Documents {
		field := evidence.DocumentItem(d.Name)
		fh := file(field)
		if fh == nil {
			if d.Required {
				return sub, problem(http.StatusBadRequest, field, "a document is required")
			}
			continue
		}
		if sub.Documents == nil {
			sub.Documents = map[string]string{}
		}
		uploads = append(uploads, upload{field: field, item: field, fh: fh, into: sub.Documents, name: d.Name})
	}
	total := int64(0)
	for _, u := range uploads {
		if u.fh.Size > evidence.MaxUploadBytes {
			return sub, problem(http.StatusRequestEntityTooLarge, u.field, "the file is larger than %d MiB", evidence.MaxUploadBytes>>20)
		}
		total += u.fh.Size
	}
	if total > maxEvidenceRequestBytes {
		return sub, problem(http.StatusRequestEntityTooLarge, "files", "larger than %d MiB in all", maxEvidenceRequestBytes>>20)
	}

	var sigPNG []byte
	if spec.Signature {
		raw := r.PostFormValue("signature")
		if raw == "" {
			return sub, problem(http.StatusBadRequest, "signature", "draw your signature in the box")
		}
		b64, ok := strings.CutPrefix(raw, signaturePrefix)
		if !ok {
			return sub, problem(http.StatusBadRequest, "signature", "the drawn signature must be a PNG image")
		}
		png, err := base64.StdEncoding.DecodeString(b64)
		switch {
		case err != nil:
			return sub, problem(http.StatusBadRequest, "signature", "the drawn signature could not be read")
		case len(png) > maxSignatureBytes:
			return sub, problem(http.StatusRequestEntityTooLarge, "signature", "the drawn signature is larger than %d MiB", maxSignatureBytes>>20)
		case len(png) == 0:
			return sub, problem(http.StatusBadRequest, "signature", "draw your signature in the box")
		}
		name := strings.Join(strings.Fields(r.PostFormValue("signatureName")), " ")
		if name == "" {
			return sub, problem(http.StatusBadRequest, "signatureName", "type your full name under the signature")
		}
		sigPNG = png
		sub.Signature = &evidence.Signature{TypedName: name}
	}

	answers, prob := answersOf(r, spec.Questions)
	if prob != nil {
		return sub, prob
	}
	sub.Answers = answers

	// Now store: each file is content-addressed, so a retry stores nothing twice.
	stored := func(field string, up evidence.Upload, err error) (string, *formProblem) {
		var fe *evidence.FieldError
		switch {
		case err == nil:
			return up.SHA256, nil
		case errors.Is(err, evidence.ErrTooLarge):
			return "", problem(http.StatusRequestEntityTooLarge, field, "the file is larger than %d MiB", evidence.MaxUploadBytes>>20)
		case errors.As(err, &fe):
			return "", problem(http.StatusBadRequest, field, "%s", fe.Message)
		default:
			s.log.ErrorContext(ctx, "store evidence", "taskId", st.TaskID, "field", field, "err", err)
			return "", problem(http.StatusBadGateway, field, "the file could not be stored; try again in a moment")
		}
	}
	for _, u := range uploads {
		f, err := u.fh.Open()
		if err != nil {
			return sub, problem(http.StatusBadRequest, u.field, "the file could not be read")
		}
		up, err := s.evidence.Put(ctx, evidence.PutRequest{TaskID: st.TaskID, Item: u.item, UploadedBy: me, Body: f, DeclaredType: u.fh.Header.Get("Content-Type")})
		f.Close()
		sha, prob := stored(u.field, up, err)
		if prob != nil {
			return sub, prob
		}
		u.into[u.name] = sha
	}
	if sigPNG != nil {
		up, err := s.evidence.Put(ctx, evidence.PutRequest{TaskID: st.TaskID, Item: evidence.SignatureItem, UploadedBy: me,
			Body: bytes.NewReader(sigPNG), DeclaredType: evidence.TypePNG})
		sha, prob := stored("signature", up, err)
		if prob != nil {
			return sub, prob
		}
		sub.Signature.SHA256 = sha
	}
	return sub, nil
}

// checkIn reads the position the page's script filled in; none is nil.
func (s *Server) checkIn(r *http.Request) (*evidence.GeoPoint, *formProblem) {
	latS, lonS := strings.TrimSpace(r.PostFormValue("lat")), strings.TrimSpace(r.PostFormValue("lon"))
	if latS == "" && lonS == "" {
		return nil, nil
	}
	num := func(v string) (float64, bool) {
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	lat, okLat := num(latS)
	lon, okLon := num(lonS)
	if !okLat || !okLon || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return nil, problem(http.StatusBadRequest, "check-in", "the position %q, %q is not a latitude and longitude", shorten(latS, 32), shorten(lonS, 32))
	}
	p := &evidence.GeoPoint{Lat: lat, Lon: lon}
	if a, ok := num(strings.TrimSpace(r.PostFormValue("accuracy"))); ok && a >= 0 {
		p.AccuracyM = a
	}
	// When the position was taken, by the phone's clock; anything
	// implausible is replaced by the time the form arrived.
	now := s.now().UTC()
	p.At = now
	if ms, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("checkinAt")), 10, 64); err == nil {
		if at := time.UnixMilli(ms).UTC(); !at.After(now.Add(time.Minute)) && at.After(now.Add(-2*time.Hour)) {
			p.At = at.Truncate(time.Millisecond)
		}
	}
	return p, nil
}

// answersOf reads the answers to the spec's questions: text as typed, a
// checkbox as true or false, a number as a number.
func answersOf(r *http.Request, qs []evidence.Question) (map[string]any, *formProblem) {
	var out map[string]any
	set := func(id string, v any) {
		if out == nil {
			out = map[string]any{}
		}
		out[id] = v
	}
	for _, q := range qs {
		field := "answer:" + q.ID
		v := strings.TrimSpace(r.PostFormValue(field))
		switch q.Type {
		case evidence.QuestionBool:
			set(q.ID, v != "")
		case evidence.QuestionNumber:
			if v == "" {
				if q.Required {
					return nil, problem(http.StatusBadRequest, field, "an answer is required")
				}
				continue
			}
			f, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", "."), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, problem(http.StatusBadRequest, field, "%q is not a number", shorten(v, 32))
			}
			set(q.ID, f)
		default:
			if v == "" {
				if q.Required {
					return nil, problem(http.StatusBadRequest, field, "an answer is required")
				}
				continue
			}
			set(q.ID, v)
		}
	}
	return out, nil
}

// ---- uploads ----

// evidenceDownload serves an upload to the worker who made it, or to a
// field coordinator; to anyone else it does not exist.
func (s *Server) evidenceDownload(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha256")
	notFound := func() { s.fail(w, r, http.StatusNotFound, "Not found", "There is no upload here for you.") }
	if s.evidence == nil || !evidence.ValidSHA256(sha) {
		notFound()
		return
	}
	worker := ""
	if me, ok := s.auth.Person(r); ok {
		if !s.dir.HasRole(me, CoordinatorRole) {
			notFound()
			return
		}
	} else if wk, ok := s.workerOf(r); ok {
		worker = wk.ID
	} else {
		http.Redirect(w, r, s.signInURL(r.URL.Path), http.StatusSeeOther)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	body, up, err := s.evidence.Blob(ctx, sha)
	if errors.Is(err, evidence.ErrNotFound) {
		notFound()
		return
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "open upload", "sha256", sha, "err", err)
		s.fail(w, r, http.StatusBadGateway, "Upload unavailable", "The upload could not be read right now.")
		return
	}
	defer body.Close()
	if worker != "" && up.UploadedBy != worker {
		notFound()
		return
	}
	ext := map[string]string{evidence.TypeJPEG: "jpg", evidence.TypePNG: "png", evidence.TypePDF: "pdf"}[up.ContentType]
	h := w.Header()
	h.Set("Content-Type", up.ContentType)
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": sha[:16] + "." + orDefault(ext, "bin")}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; object-src 'self'; frame-ancestors 'none'; base-uri 'none'")
	if up.Size > 0 {
		h.Set("Content-Length", strconv.FormatInt(up.Size, 10))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, body)
	}
}

// ---- workforce REST API ----

// workforceAPI serves workforce.NewHandler to field coordinators. It takes
// JSON only: a cross-site form can post url-encoded, multipart or plain
// text, never application/json, and never PUT or DELETE.
func (s *Server) workforceAPI(store *workforce.Store) http.Handler {
	api := workforce.NewHandler(store, s.authorizeCoordinator, s.log.With("part", "workforce-api"))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			ct := r.Header.Get("Content-Type")
			mt, _, err := mime.ParseMediaType(ct)
			bodyless := ct == "" && r.ContentLength == 0 && r.Method == http.MethodDelete
			if !bodyless && (err != nil || mt != "application/json") {
				writeAPIError(w, http.StatusUnsupportedMediaType, "the workforce API takes Content-Type: application/json only")
				return
			}
		}
		api.ServeHTTP(w, r)
	})
}

// authorizeCoordinator admits a signed-in person holding CoordinatorRole.
func (s *Server) authorizeCoordinator(r *http.Request) (string, bool) {
	me, ok := s.auth.Person(r)
	if !ok || !s.dir.HasRole(me, CoordinatorRole) {
		return "", false
	}
	return me, true
}

func writeAPIError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(workforce.ErrorBody{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

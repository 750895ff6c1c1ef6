package agentapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
)

// Tasks is what the gateway does with an agent's human tasks: work for a
// person in the field, closed when the evidence it asks for is checked.
// Every call names the agent the gateway authenticated from the bearer
// key; the implementation answers only with that agent's tasks (another's
// is humantask.ErrNotFound) and refuses a request by field
// (*humantask.FieldError).
type Tasks interface {
	Create(ctx context.Context, agent string, req humantask.CreateRequest) (humantask.Status, error)
	Get(ctx context.Context, agent, taskID string) (humantask.Status, error)
	Evidence(ctx context.Context, agent, taskID string) (humantask.TaskEvidence, error)
	// Blob opens a file uploaded for the task, with its content type; the
	// caller closes it.
	Blob(ctx context.Context, agent, taskID, sha string) (io.ReadCloser, string, error)
}

// The Temporal-backed client is the production Tasks.
var _ Tasks = (*humantask.AgentClient)(nil)

// Task tool names.
const (
	ToolCreateTask   = "create_task"
	ToolGetTask      = "get_task"
	ToolTaskEvidence = "get_task_evidence"
)

// TaskToolNames lists the task tools, served when Config.Tasks is set.
func TaskToolNames() []string { return []string{ToolCreateTask, ToolGetTask, ToolTaskEvidence} }

// taskInstructions add the task tools to the model's instructions.
const taskInstructions = `You can also ask for work by a person in the field (verify an identity in person, confirm a delivery, collect a signature) with create_task: say what, where, when, which skills, and what evidence the person must submit. The task is routed to a person, who accepts it, does it and submits the evidence; it is done when the evidence passes its checks.
Use one taskId per intended task: creating again with the same taskId returns the same task. Follow it with get_task, and read the checked evidence with get_task_evidence.`

// taskIDInput is get_task's and get_task_evidence's arguments.
type taskIDInput struct {
	TaskID string `json:"taskId" jsonschema:"the task id create_task returned (<agent>.<taskId>), or your own taskId"`
}

// taskOutputSchemas derives the task tools' output schemas.
func taskOutputSchemas() (status, ev *jsonschema.Schema, err error) {
	opts := &jsonschema.ForOptions{TypeSchemas: map[reflect.Type]*jsonschema.Schema{reflect.TypeFor[json.RawMessage](): {}}}
	if status, err = jsonschema.For[humantask.Status](opts); err != nil {
		return nil, nil, fmt.Errorf("agentapi: task status output schema: %w", err)
	}
	if ev, err = jsonschema.For[humantask.TaskEvidence](opts); err != nil {
		return nil, nil, fmt.Errorf("agentapi: task evidence output schema: %w", err)
	}
	return status, ev, nil
}

// createTaskInputSchema is create_task's input schema: CreateRequest's,
// with the evidence spec's optional fields optional (the evidence package's
// JSON tags do not say so) and the evidence itself optional (none asks for
// nothing but the check-in).
func createTaskInputSchema() (*jsonschema.Schema, error) {
	s, err := jsonschema.For[humantask.CreateRequest](nil)
	if err != nil {
		return nil, fmt.Errorf("agentapi: create_task input schema: %w", err)
	}
	s.Required = slices.DeleteFunc(s.Required, func(r string) bool { return r == "evidence" })
	ev := s.Properties["evidence"]
	if ev == nil {
		return nil, errors.New("agentapi: create_task input schema has no evidence")
	}
	for list, keep := range map[string][]string{"photos": {"name", "maxDistanceM"}, "documents": {"name"}, "questions": {"id", "type"}} {
		p := ev.Properties[list]
		if p == nil || p.Items == nil {
			return nil, fmt.Errorf("agentapi: create_task input schema has no evidence.%s items", list)
		}
		p.Items.Required = keep
	}
	return s, nil
}

// addTaskTools registers the task tools on s.
func (g *Gateway) addTaskTools(s *mcp.Server) error {
	statusSchema, evidenceSchema, err := taskOutputSchemas()
	if err != nil {
		return err
	}
	createSchema, err := createTaskInputSchema()
	if err != nil {
		return err
	}
	yes := true
	mcp.AddTool(s, &mcp.Tool{
		Name:        ToolCreateTask,
		InputSchema: createSchema,
		Description: "Create a task for a person in the field: what to do, where (lat/lon), between start and end, which skills, " +
			"and what evidence to submit (photos near the place, documents, a signature, answers). It is routed to a person, " +
			"offered, and done when the evidence passes its checks. Answers at once with the task's status; follow it with get_task.",
		OutputSchema: statusSchema,
		Annotations:  &mcp.ToolAnnotations{Title: "Create a human task", IdempotentHint: true, DestructiveHint: &yes, OpenWorldHint: &yes},
	}, g.toolCreateTask)
	mcp.AddTool(s, &mcp.Tool{
		Name:         ToolGetTask,
		Description:  "Get the status of one of your tasks: stage, who it is offered or assigned to, when it is due, submissions and their verdicts, outcome.",
		OutputSchema: statusSchema,
		Annotations:  &mcp.ToolAnnotations{Title: "Get a task", ReadOnlyHint: true},
	}, g.toolGetTask)
	mcp.AddTool(s, &mcp.Tool{
		Name: ToolTaskEvidence,
		Description: "Get the evidence submitted for one of your tasks: each submission's items with verdict, reasons and hashes, " +
			"and the uploaded files with the REST path to download each (GET it with your key).",
		OutputSchema: evidenceSchema,
		Annotations:  &mcp.ToolAnnotations{Title: "Get a task's evidence", ReadOnlyHint: true},
	}, g.toolTaskEvidence)
	return nil
}

// taskToolErr is toolErr for Tasks.
func (g *Gateway) taskToolErr(tool, agent string, err error) error {
	var fe *humantask.FieldError
	switch {
	case errors.As(err, &fe):
		return fmt.Errorf("refused: field %q: %s", fe.Field, fe.Message)
	case errors.Is(err, humantask.ErrNotFound):
		return errors.New("no such task")
	case errors.Is(err, humantask.ErrConflict):
		return fmt.Errorf("refused: field %q: %s; nothing was started", "taskId", humantask.ErrConflict)
	}
	g.log.Error("agent tool call failed", "tool", tool, "agent", agent, "error", err)
	return errors.New("internal error in the agent gateway; it logged the detail, try again later")
}

// textResult is a summary for the model, then v as JSON for clients that
// do not read structured content.
func textResult(summary string, v any) *mcp.CallToolResult {
	content := []mcp.Content{&mcp.TextContent{Text: summary}}
	if b, err := json.Marshal(v); err == nil {
		content = append(content, &mcp.TextContent{Text: string(b)})
	}
	return &mcp.CallToolResult{Content: content}
}

func (g *Gateway) toolCreateTask(ctx context.Context, req *mcp.CallToolRequest, in humantask.CreateRequest) (*mcp.CallToolResult, humantask.Status, error) {
	agent, err := caller(req, ScopeTasksCreate)
	if err != nil {
		return nil, humantask.Status{}, err
	}
	st, err := g.tasks.Create(ctx, agent, in)
	if err != nil {
		return nil, humantask.Status{}, g.taskToolErr(ToolCreateTask, agent, err)
	}
	g.log.Info("task created", "agent", agent, "task", st.TaskID, "via", "mcp")
	return textResult(TaskSummary(st), st), st, nil
}

func (g *Gateway) toolGetTask(ctx context.Context, req *mcp.CallToolRequest, in taskIDInput) (*mcp.CallToolResult, humantask.Status, error) {
	agent, err := caller(req, ScopeTasksRead)
	if err != nil {
		return nil, humantask.Status{}, err
	}
	st, err := g.tasks.Get(ctx, agent, in.TaskID)
	if err != nil {
		return nil, humantask.Status{}, g.taskToolErr(ToolGetTask, agent, err)
	}
	return textResult(TaskSummary(st), st), st, nil
}

func (g *Gateway) toolTaskEvidence(ctx context.Context, req *mcp.CallToolRequest, in taskIDInput) (*mcp.CallToolResult, humantask.TaskEvidence, error) {
	agent, err := caller(req, ScopeTasksRead)
	if err != nil {
		return nil, humantask.TaskEvidence{}, err
	}
	ev, err := g.tasks.Evidence(ctx, agent, in.TaskID)
	if err != nil {
		return nil, humantask.TaskEvidence{}, g.taskToolErr(ToolTaskEvidence, agent, err)
	}
	return textResult(EvidenceSummary(ev), ev), ev, nil
}

// taskRoutes are the REST routes of tasks; none without Config.Tasks.
func (g *Gateway) taskRoutes() []route {
	if g.tasks == nil {
		return nil
	}
	return []route{
		{"POST", "/v1/tasks", ScopeTasksCreate, g.createTask},
		{"GET", "/v1/tasks/{id}", ScopeTasksRead, g.getTask},
		{"GET", "/v1/tasks/{id}/evidence", ScopeTasksRead, g.taskEvidence},
		{"GET", "/v1/tasks/{id}/evidence/{sha256}", ScopeTasksRead, g.taskBlob},
	}
}

func (g *Gateway) createTask(w http.ResponseWriter, r *http.Request, agent string) {
	var req humantask.CreateRequest
	if !g.decode(w, r, &req) {
		return
	}
	st, err := g.tasks.Create(r.Context(), agent, req)
	if err != nil {
		g.taskFail(w, r, agent, err)
		return
	}
	g.log.Info("task created", "agent", agent, "task", st.TaskID, "via", "rest")
	writeJSON(w, http.StatusAccepted, st)
}

func (g *Gateway) getTask(w http.ResponseWriter, r *http.Request, agent string) {
	st, err := g.tasks.Get(r.Context(), agent, r.PathValue("id"))
	if err != nil {
		g.taskFail(w, r, agent, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (g *Gateway) taskEvidence(w http.ResponseWriter, r *http.Request, agent string) {
	ev, err := g.tasks.Evidence(r.Context(), agent, r.PathValue("id"))
	if err != nil {
		g.taskFail(w, r, agent, err)
		return
	}
	writeJSON(w, http.StatusOK, ev)
}

// taskBlob serves one uploaded file of one of the agent's tasks, as an
// attachment of its stored content type, never sniffed.
func (g *Gateway) taskBlob(w http.ResponseWriter, r *http.Request, agent string) {
	sha := r.PathValue("sha256")
	// Checked here too, before Tasks: a blob is named only by its hash,
	// never by anything that could be a path.
	if !evidence.ValidSHA256(sha) {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "sha256: must be a SHA-256, 64 lowercase hex digits", Field: "sha256"})
		return
	}
	rc, contentType, err := g.tasks.Blob(r.Context(), agent, r.PathValue("id"), sha)
	if err != nil {
		g.taskFail(w, r, agent, err)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", sha+extension(contentType)))
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil && r.Context().Err() == nil {
		g.log.Warn("serve task evidence", "agent", agent, "sha256", sha, "error", err)
	}
}

// extension is a file name extension for an evidence content type.
func extension(contentType string) string {
	switch contentType {
	case evidence.TypeJPEG:
		return ".jpg"
	case evidence.TypePNG:
		return ".png"
	case evidence.TypePDF:
		return ".pdf"
	}
	return ""
}

// taskFail is fail for Tasks: a refused field is 400 naming it, a missing
// or foreign task 404, a reused taskId 409; anything else is logged and
// answered without detail.
func (g *Gateway) taskFail(w http.ResponseWriter, r *http.Request, agent string, err error) {
	var fe *humantask.FieldError
	switch {
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: fe.Field + ": " + fe.Message, Field: fe.Field})
	case errors.Is(err, humantask.ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody{Error: humantask.ErrNotFound.Error()})
	case errors.Is(err, humantask.ErrConflict):
		writeJSON(w, http.StatusConflict, errorBody{Error: humantask.ErrConflict.Error(), Field: "taskId"})
	case r.Context().Err() != nil && errors.Is(err, context.Canceled):
		g.log.Info("agent request abandoned", "agent", agent, "path", r.URL.Path)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "request cancelled"})
	default:
		g.log.Error("agent request failed", "agent", agent, "method", r.Method, "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal error; the gateway logged the detail, try again later"})
	}
}

// TaskSummary is one line about a task for a model to read, e.g. "Task
// ops-bot.idv-1 (Verify identity): assigned to w-17, due 2026-05-04 16:00
// UTC; waiting for evidence".
func TaskSummary(st humantask.Status) string {
	head := fmt.Sprintf("Task %s (%s): ", st.TaskID, orUnknown(st.Title))
	subs := ""
	if n := len(st.Submissions); n > 0 {
		last := st.Submissions[n-1]
		subs = fmt.Sprintf("; %d submission(s), the last %s", n, orUnknown(last.Verdict.Overall))
	}
	switch {
	case st.Outcome == humantask.OutcomeCompleted:
		s := head + "done, outcome completed — the evidence was accepted"
		if st.Assignee != "" {
			s += " from " + st.Assignee
		}
		return s + "; get_task_evidence has it"
	case st.Outcome != "":
		s := head + "done, outcome " + st.Outcome
		if st.Reason != "" {
			s += " — " + st.Reason
		}
		return s + subs
	case st.Stage == humantask.StageRouting:
		return head + "looking for a person with the skills, near the place and available" + subs
	case st.Stage == humantask.StageOffered:
		s := head + "offered to " + orUnknown(st.OpenFor) + ", waiting for them to accept"
		if n := len(st.Offers); n > 0 && !st.Offers[n-1].Deadline.IsZero() {
			s += " until " + formatTime(st.Offers[n-1].Deadline)
		}
		return s + subs
	case st.Stage == humantask.StageAssigned:
		s := head + "assigned to " + orUnknown(st.Assignee)
		if st.DueAt != nil {
			s += ", due " + formatTime(*st.DueAt)
		}
		return s + "; waiting for evidence" + subs
	case st.Stage == humantask.StageChecking:
		return head + "checking the evidence " + orUnknown(st.Assignee) + " submitted" + subs
	case st.Stage == humantask.StageAwaitingApproval:
		return head + "the evidence needs a coordinator's review" + subs
	case st.Stage == "":
		return head + "status not known yet"
	}
	return head + "in progress, stage " + st.Stage + subs
}

// EvidenceSummary is a few lines about a task's evidence for a model: each
// submission's verdict and what was wrong with it.
func EvidenceSummary(ev humantask.TaskEvidence) string {
	lines := []string{fmt.Sprintf("Task %s: %d submission(s), %d uploaded file(s).", ev.TaskID, len(ev.Submissions), len(ev.Uploads))}
	for _, s := range ev.Submissions {
		line := fmt.Sprintf("- %s by %s at %s: %s", s.Step, orUnknown(s.WorkerID), formatTime(s.At), orUnknown(s.Verdict))
		if s.Review != "" {
			line += " (review: " + s.Review + ")"
		}
		var bad []string
		for _, it := range s.Items {
			if it.Verdict == evidence.Accepted {
				continue
			}
			b := it.Item + " " + it.Verdict
			if len(it.Reasons) > 0 {
				b += ": " + strings.Join(it.Reasons, "; ")
			}
			bad = append(bad, b)
		}
		if len(bad) > 0 {
			line += " — " + strings.Join(bad, " | ")
		} else if len(s.Items) > 0 {
			line += fmt.Sprintf(" — all %d item(s) accepted", len(s.Items))
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

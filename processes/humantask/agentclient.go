package humantask

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// Limits of a CreateRequest, beyond what the workflow checks itself.
const (
	// MaxCreateBytes is the largest CreateRequest, as JSON, the agent
	// gateway reads (its default body limit is sized by it).
	MaxCreateBytes = 64 << 10
	// MaxSkills bounds the skills a task asks for.
	MaxSkills = 20
	// MaxAcceptTimeout and MaxDueAfter bound the agent's timeouts.
	MaxAcceptTimeout = 24 * time.Hour
	MaxDueAfter      = 30 * 24 * time.Hour
	// MinTimeout is the shortest acceptTimeout or dueAfter an agent may ask.
	MinTimeout = time.Minute
)

// Limits the workflow enforces too (validateInput), named for errors.
const (
	maxTitleLen        = 200
	maxInstructionsLen = 4000
	maxAddressLen      = 500
	maxContext         = 30
	maxContextKeyLen   = 64
	maxContextValueLen = 1000
	maxSkillNameLen    = 64
	maxTaskIDLen       = 64
)

// Memo key set at an agent's start: a repeated taskId is compared by it.
const memoRequestDigest = "requestDigest"

// agentStartProofLifetime is how long the gateway's start proof is good
// for: the start follows the signature at once.
const agentStartProofLifetime = 2 * time.Minute

// Errors of AgentClient besides *FieldError.
var (
	// ErrNotFound: no such task, or not the asking agent's (an agent cannot
	// tell another's task from one that does not exist).
	ErrNotFound = errors.New("no such task")
	// ErrConflict: the taskId was used before for a different task; nothing
	// was started.
	ErrConflict = errors.New("taskId already used for a different task")
)

// FieldError is a refused CreateRequest (or argument): Field names what is
// wrong as a JSON path ("skills[0].level", "evidence.photos[1].name").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Place is where the work happens.
type Place struct {
	Lat float64 `json:"lat" jsonschema:"latitude in degrees, -90 to 90"`
	Lon float64 `json:"lon" jsonschema:"longitude in degrees, -180 to 180"`
}

// CreateRequest is the part of Input an agent chooses. The requester, its
// proof, the offer limits and the coordinators are the gateway's.
type CreateRequest struct {
	// TaskID is the agent's own id for the task; the task's id is
	// "<agent>.<taskId>" (AgentTaskID), so agents never collide with each
	// other or with the processes' tasks. The same taskId with the same
	// request returns the same task; with another request it is ErrConflict.
	TaskID       string            `json:"taskId" jsonschema:"your id for this task (letters, digits, '.', '_', '-'; starts with a letter or digit); the task's id becomes <agent>.<taskId>, and the same taskId with the same request returns the same task"`
	Title        string            `json:"title" jsonschema:"what is to be done, for the person in the field (at most 200 bytes)"`
	Instructions string            `json:"instructions,omitempty" jsonschema:"how to do it (at most 4000 bytes)"`
	Context      map[string]string `json:"context,omitempty" jsonschema:"facts handed over to the person once they accept, e.g. customer name and phone (at most 30 entries)"`
	Skills       []workforce.Skill `json:"skills" jsonschema:"the skills the person needs, each a name and a level from 1 to 5"`
	Place        Place             `json:"place" jsonschema:"where the work happens"`
	Address      string            `json:"address,omitempty" jsonschema:"the address, for people (at most 500 bytes)"`
	Start        time.Time         `json:"start" jsonschema:"when the work may start (RFC 3339)"`
	End          time.Time         `json:"end" jsonschema:"when it must be done by (RFC 3339), after start"`
	Evidence     evidence.Spec     `json:"evidence" jsonschema:"what the person must submit: photos (taken within maxDistanceM of the place), documents, a signature, answers to questions"`
	// AcceptTimeoutSeconds is how long one offer stays open (0 => 15 min).
	AcceptTimeoutSeconds int `json:"acceptTimeoutSeconds,omitempty" jsonschema:"how long one person has to accept an offer, 60 to 86400 seconds (default 900)"`
	// DueAfterSeconds is how long the assignee has after accepting (0 =>
	// until End).
	DueAfterSeconds int `json:"dueAfterSeconds,omitempty" jsonschema:"how long the person has after accepting, 60 to 2592000 seconds (default: until end)"`
}

// RequestDigest identifies what an agent asked for, so a reused taskId
// with a different request is told apart from a retry. Times count by
// instant, not by how they were written.
func (r CreateRequest) RequestDigest() (string, error) {
	r.Start, r.End = r.Start.UTC(), r.End.UTC()
	return action.Digest(r)
}

// EvidenceReader is what AgentClient reads of the evidence store;
// *evidence.Store is the production one.
type EvidenceReader interface {
	ForTask(ctx context.Context, taskID string) ([]evidence.Upload, error)
	Blob(ctx context.Context, sha string) (io.ReadCloser, evidence.Upload, error)
}

var _ EvidenceReader = (*evidence.Store)(nil)

// AgentClient is what the agent gateway does with human tasks, through
// Temporal. Every call is on behalf of one authenticated agent; a task of
// anyone else is ErrNotFound.
type AgentClient struct {
	Temporal tclient.Client
	// Signer is the gateway's key (issuer gateway): each start carries its
	// assertion that the agent asked.
	Signer *proof.Signer
	// EvidenceStore is where the workers' uploads are (nil: Evidence and
	// Blob fail). (Not "Evidence": that is the method.)
	EvidenceStore EvidenceReader
	Now           func() time.Time
	// DataConverter is Temporal's client's (with the payload codec): memo
	// values are encoded with it. nil => the default converter.
	DataConverter converter.DataConverter
}

// dc decodes memo values as the client encoded them.
func (c *AgentClient) dc() converter.DataConverter {
	if c.DataConverter != nil {
		return c.DataConverter
	}
	return converter.GetDefaultDataConverter()
}

func (c *AgentClient) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

var agentNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

func validAgentName(name string) bool { return agentNameRE.MatchString(name) }

var ownTaskIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// AgentTaskID is the task id of agent's own taskId: "<agent>.<taskId>".
func AgentTaskID(agent, taskID string) string { return agent + "." + taskID }

// MaxAgentTaskIDLen is the longest taskId agent may choose.
func MaxAgentTaskIDLen(agent string) int { return maxTaskIDLen - len(agent) - 1 }

// ValidateCreate checks what agent asks for; the error is a *FieldError
// naming the first field that is wrong.
func ValidateCreate(agent string, r CreateRequest) error {
	if !validAgentName(agent) {
		return fieldErr("agent", "%q is not an agent name", clip(agent))
	}
	if n := MaxAgentTaskIDLen(agent); r.TaskID == "" || len(r.TaskID) > n || !ownTaskIDRE.MatchString(r.TaskID) {
		return fieldErr("taskId", "%q is not a task id: 1-%d letters, digits, '.', '_' or '-', starting with a letter or digit", clip(r.TaskID), n)
	}
	switch {
	case strings.TrimSpace(r.Title) == "":
		return fieldErr("title", "required")
	case len(r.Title) > maxTitleLen:
		return fieldErr("title", "longer than %d bytes", maxTitleLen)
	case len(r.Instructions) > maxInstructionsLen:
		return fieldErr("instructions", "longer than %d bytes", maxInstructionsLen)
	case len(r.Address) > maxAddressLen:
		return fieldErr("address", "longer than %d bytes", maxAddressLen)
	case len(r.Context) > maxContext:
		return fieldErr("context", "more than %d entries", maxContext)
	}
	for _, f := range []struct{ name, v string }{{"title", r.Title}, {"instructions", r.Instructions}, {"address", r.Address}} {
		if !utf8.ValidString(f.v) {
			return fieldErr(f.name, "not valid UTF-8")
		}
	}
	keys := make([]string, 0, len(r.Context))
	for k := range r.Context {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch v := r.Context[k]; {
		case strings.TrimSpace(k) == "" || len(k) > maxContextKeyLen || !utf8.ValidString(k):
			return fieldErr("context", "key %q: 1-%d bytes of UTF-8", clip(k), maxContextKeyLen)
		case len(v) > maxContextValueLen || !utf8.ValidString(v):
			return fieldErr("context."+k, "at most %d bytes of UTF-8", maxContextValueLen)
		}
	}
	switch {
	case len(r.Skills) == 0:
		return fieldErr("skills", "at least one skill is required")
	case len(r.Skills) > MaxSkills:
		return fieldErr("skills", "at most %d", MaxSkills)
	}
	for i, s := range r.Skills {
		at := fmt.Sprintf("skills[%d]", i)
		switch {
		case strings.TrimSpace(s.Name) == "" || len(s.Name) > maxSkillNameLen || !utf8.ValidString(s.Name):
			return fieldErr(at+".name", "required, at most %d bytes", maxSkillNameLen)
		case s.Level < 1 || s.Level > 5:
			return fieldErr(at+".level", "must be from 1 to 5, not %d", s.Level)
		}
	}
	switch p := r.Place; {
	case math.IsNaN(p.Lat) || p.Lat < -90 || p.Lat > 90:
		return fieldErr("place.lat", "must be from -90 to 90")
	case math.IsNaN(p.Lon) || p.Lon < -180 || p.Lon > 180:
		return fieldErr("place.lon", "must be from -180 to 180")
	case p.Lat == 0 && p.Lon == 0:
		return fieldErr("place", "lat and lon of the place are required")
	}
	switch {
	case r.Start.IsZero():
		return fieldErr("start", "required (RFC 3339)")
	case r.End.IsZero():
		return fieldErr("end", "required (RFC 3339)")
	case !r.End.After(r.Start):
		return fieldErr("end", "must be after start")
	}
	if err := evidence.ValidateSpec(r.Evidence); err != nil {
		var fe *evidence.FieldError
		if errors.As(err, &fe) {
			return fieldErr("evidence."+fe.Field, "%s", fe.Message)
		}
		return fieldErr("evidence", "%v", err)
	}
	if err := checkSeconds("acceptTimeoutSeconds", r.AcceptTimeoutSeconds, MaxAcceptTimeout); err != nil {
		return err
	}
	if err := checkSeconds("dueAfterSeconds", r.DueAfterSeconds, MaxDueAfter); err != nil {
		return err
	}
	return nil
}

// checkSeconds: 0 (the default) or from MinTimeout to limit.
func checkSeconds(field string, secs int, limit time.Duration) error {
	if secs != 0 && (secs < int(MinTimeout/time.Second) || secs > int(limit/time.Second)) {
		return fieldErr(field, "must be 0 (the default) or from %d to %d seconds", int(MinTimeout/time.Second), int(limit/time.Second))
	}
	return nil
}

// Input is the workflow input agent's request stands for (without the
// proof).
func (r CreateRequest) Input(agent string) Input {
	return Input{
		TaskID: AgentTaskID(agent, r.TaskID), Title: r.Title, Instructions: r.Instructions,
		Context: r.Context, Skills: r.Skills, Place: evidence.GeoPoint{Lat: r.Place.Lat, Lon: r.Place.Lon},
		Address: r.Address, Start: r.Start.UTC(), End: r.End.UTC(), Evidence: r.Evidence,
		AcceptTimeout: time.Duration(r.AcceptTimeoutSeconds) * time.Second,
		DueAfter:      time.Duration(r.DueAfterSeconds) * time.Second,
		RequestedBy:   "agent:" + agent,
	}
}

// Create starts the task agent asks for, or returns the task already
// started with the same taskId. It never starts a second one.
func (c *AgentClient) Create(ctx context.Context, agent string, req CreateRequest) (Status, error) {
	if err := ValidateCreate(agent, req); err != nil {
		return Status{}, err
	}
	rd, err := req.RequestDigest()
	if err != nil {
		return Status{}, fieldErr("taskId", "%v", err)
	}
	in := req.Input(agent)
	// The workflow refuses what it would not run; say so now, by field.
	if err := validateInput(in); err != nil {
		return Status{}, inputFieldError(err)
	}
	id := WorkflowID(in.TaskID)
	now := c.now().UTC()
	if in.RequesterProof, err = c.Signer.Sign(proof.Assertion{
		Kind: proof.KindStart, WorkflowID: id, Subject: in.RequestedBy, Method: proof.MethodAgentKey,
		// Bound to this request and short-lived: it is used at once.
		ActionDigest: rd, IssuedAt: now, ExpiresAt: now.Add(agentStartProofLifetime),
	}); err != nil {
		return Status{}, fmt.Errorf("sign start of %s: %w", id, err)
	}
	if len(in.RequesterProof) > proof.MaxTokenLen {
		return Status{}, fmt.Errorf("start of %s: the gateway's proof is longer than %d bytes", id, proof.MaxTokenLen)
	}
	opts := StartOptions(in)
	opts.StaticSummary = fmt.Sprintf("Agent **%s** asks for human task **%s**: %s", agent, in.TaskID, in.Title)
	opts.Memo = map[string]any{memoRequestDigest: rd}
	_, err = c.Temporal.ExecuteWorkflow(ctx, opts, Workflow, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &already) {
		return Status{}, fmt.Errorf("start task %s: %w", id, err)
	}
	// Started now, joined, or finished before: in each case the task is the
	// one recorded under this id, which must be this request.
	d, err := c.Temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return Status{}, fmt.Errorf("describe task %s: %w", id, err)
	}
	var got string
	if f := d.GetWorkflowExecutionInfo().GetMemo().GetFields()[memoRequestDigest]; f != nil {
		_ = c.dc().FromPayload(f, &got)
	}
	if got != rd {
		return Status{}, ErrConflict
	}
	return c.Get(ctx, agent, in.TaskID)
}

// inputFieldError turns validateInput's error ("field: message") into a
// *FieldError.
func inputFieldError(err error) error {
	msg := err.Error()
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		msg = ae.Message()
	}
	field, rest, ok := strings.Cut(msg, ": ")
	if !ok {
		return fieldErr("taskId", "%s", msg)
	}
	return fieldErr(field, "%s", rest)
}

// resolveTaskID is the task id agent means by id: the id create_task
// returned ("<agent>.<taskId>"), or the agent's own taskId. Either way the
// result is in agent's namespace, so no id reaches another's task.
func resolveTaskID(agent, id string) (string, bool) {
	if !validAgentName(agent) || id == "" {
		return "", false
	}
	if !strings.HasPrefix(id, agent+".") {
		id = AgentTaskID(agent, id)
	}
	return id, taskIDRE.MatchString(id)
}

// describe returns the description of agent's task taskID, if it is one:
// a HumanTask on our task queue requested by "agent:<agent>".
func (c *AgentClient) describe(ctx context.Context, agent, taskID string) (string, *workflowservice.DescribeWorkflowExecutionResponse, error) {
	taskID, ok := resolveTaskID(agent, taskID)
	if !ok {
		return "", nil, ErrNotFound
	}
	id := WorkflowID(taskID)
	d, err := c.Temporal.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return "", nil, ErrNotFound
	}
	if err != nil {
		return "", nil, fmt.Errorf("describe task %s: %w", id, err)
	}
	info := d.GetWorkflowExecutionInfo()
	// Only our workflow on our queue: anyone who reaches the frontend could
	// start one of that name elsewhere to feed the agent a made-up status.
	if info.GetType().GetName() != Workflow || d.GetExecutionConfig().GetTaskQueue().GetName() != process.TaskQueue {
		return "", nil, ErrNotFound
	}
	// The requester the task was started with, when visibility has it: a
	// process's task (or another agent's) is refused before any query.
	if f := info.GetSearchAttributes().GetIndexedFields()[process.SARequester.GetName()]; f != nil {
		var by string
		if err := converter.GetDefaultDataConverter().FromPayload(f, &by); err != nil || by != "agent:"+agent {
			return "", nil, ErrNotFound
		}
	}
	return taskID, d, nil
}

// Get returns the status of one of agent's tasks (taskID as Create
// returned it, or agent's own taskId).
func (c *AgentClient) Get(ctx context.Context, agent, taskID string) (Status, error) {
	taskID, d, err := c.describe(ctx, agent, taskID)
	if err != nil {
		return Status{}, err
	}
	id := WorkflowID(taskID)
	info := d.GetWorkflowExecutionInfo()
	var st Status
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		err = c.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &st)
	default:
		st, err = QueryStatus(ctx, c.Temporal, id)
	}
	if err != nil {
		if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return Status{}, fmt.Errorf("query task %s: %w", id, err)
		}
		// A run that ended without a result (invalid input, terminated,
		// timed out) still answers with what Temporal knows, if the
		// requester visibility recorded is the agent.
		if info.GetSearchAttributes().GetIndexedFields()[process.SARequester.GetName()] == nil {
			return Status{}, ErrNotFound
		}
		st = Status{TaskID: taskID, RequestedBy: "agent:" + agent, Stage: StageDone, Outcome: OutcomeFailed,
			Reason: "the task's workflow ended " + strings.ToLower(strings.TrimPrefix(info.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_"))}
		if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED {
			st.Outcome = OutcomeAborted
		}
	}
	if st.RequestedBy != "agent:"+agent || st.TaskID != taskID {
		return Status{}, ErrNotFound
	}
	return redactForAgent(st), nil
}

// redactForAgent drops what is the workforce's business, not the agent's:
// the routing (every candidate's and excluded person's load, distance and
// reasons) and the refused signals (what others tried to send).
func redactForAgent(st Status) Status {
	st.Routing = nil
	st.Refused = nil
	return st
}

// TaskEvidence is what was submitted for one of an agent's tasks and how
// it was checked, with the uploaded files.
type TaskEvidence struct {
	TaskID  string `json:"taskId"`
	Stage   string `json:"stage"`
	Outcome string `json:"outcome,omitempty"`
	// Submissions are the checked submissions, oldest first.
	Submissions []EvidenceSubmission `json:"submissions"`
	// Uploads are the files uploaded for the task, oldest first, whether
	// or not a submission used them.
	Uploads []EvidenceUpload `json:"uploads"`
}

// EvidenceSubmission is one checked submission.
type EvidenceSubmission struct {
	Step     string    `json:"step"`
	WorkerID string    `json:"workerId"`
	At       time.Time `json:"at"`
	// Digest identifies the submission (RFC 8785 SHA-256).
	Digest string `json:"digest"`
	// Verdict is the check's overall verdict: accepted, rejected or
	// needs_review.
	Verdict string `json:"verdict"`
	// Review is the coordinator's decision when the verdict needed one.
	Review string         `json:"review,omitempty"`
	Items  []EvidenceItem `json:"items"`
}

// EvidenceItem is one checked piece of a submission.
type EvidenceItem struct {
	Item    string             `json:"item"`
	SHA256  string             `json:"sha256,omitempty"`
	Verdict string             `json:"verdict"`
	Reasons []string           `json:"reasons,omitempty"`
	GPS     *evidence.GeoPoint `json:"gps,omitempty"`
	TakenAt *time.Time         `json:"takenAt,omitempty"`
	// Download is the gateway path of the file, when the item is one.
	Download string `json:"download,omitempty"`
}

// EvidenceUpload is one file uploaded for the task.
type EvidenceUpload struct {
	SHA256      string    `json:"sha256"`
	Item        string    `json:"item"`
	ContentType string    `json:"contentType"`
	Size        int64     `json:"size"`
	UploadedBy  string    `json:"uploadedBy"`
	UploadedAt  time.Time `json:"uploadedAt"`
	// Download is the gateway path of the file:
	// /v1/tasks/<taskId>/evidence/<sha256>.
	Download string `json:"download"`
}

// DownloadPath is where the gateway serves an uploaded file of a task.
func DownloadPath(taskID, sha string) string { return "/v1/tasks/" + taskID + "/evidence/" + sha }

// errNoEvidenceStore: the client was built without an evidence store.
var errNoEvidenceStore = errors.New("humantask: AgentClient.EvidenceStore is not configured")

// Evidence returns the submissions of one of agent's tasks with each
// item's verdict and reasons, and the task's uploads with download paths.
func (c *AgentClient) Evidence(ctx context.Context, agent, taskID string) (TaskEvidence, error) {
	st, err := c.Get(ctx, agent, taskID)
	if err != nil {
		return TaskEvidence{}, err
	}
	if c.EvidenceStore == nil {
		return TaskEvidence{}, errNoEvidenceStore
	}
	ups, err := c.EvidenceStore.ForTask(ctx, st.TaskID)
	if err != nil {
		return TaskEvidence{}, fmt.Errorf("evidence of %s: %w", st.TaskID, err)
	}
	out := TaskEvidence{TaskID: st.TaskID, Stage: st.Stage, Outcome: st.Outcome,
		Submissions: []EvidenceSubmission{}, Uploads: []EvidenceUpload{}}
	stored := map[string]bool{}
	for _, u := range ups {
		if !evidence.ValidSHA256(u.SHA256) || u.TaskID != st.TaskID {
			continue
		}
		stored[u.SHA256] = true
		out.Uploads = append(out.Uploads, EvidenceUpload{SHA256: u.SHA256, Item: u.Item, ContentType: u.ContentType, Size: u.Size,
			UploadedBy: u.UploadedBy, UploadedAt: u.UploadedAt, Download: DownloadPath(st.TaskID, u.SHA256)})
	}
	for _, s := range st.Submissions {
		sub := EvidenceSubmission{Step: s.Step, WorkerID: s.WorkerID, At: s.At, Digest: s.Digest, Verdict: s.Verdict.Overall,
			Review: s.Review, Items: []EvidenceItem{}}
		for _, it := range s.Verdict.Items {
			item := EvidenceItem{Item: it.Item, SHA256: it.SHA256, Verdict: it.Verdict, Reasons: it.Reasons, GPS: it.GPS, TakenAt: it.TakenAt}
			if stored[it.SHA256] {
				item.Download = DownloadPath(st.TaskID, it.SHA256)
			}
			sub.Items = append(sub.Items, item)
		}
		out.Submissions = append(out.Submissions, sub)
	}
	return out, nil
}

// Blob opens a file uploaded for one of agent's tasks, with its content
// type; the caller closes it. A sha that is not 64 lowercase hex digits is
// a *FieldError (it never reaches a path); a file of another task is
// ErrNotFound.
func (c *AgentClient) Blob(ctx context.Context, agent, taskID, sha string) (io.ReadCloser, string, error) {
	if !evidence.ValidSHA256(sha) {
		return nil, "", fieldErr("sha256", "%q is not a SHA-256 (64 lowercase hex digits)", clip(sha))
	}
	// The status, not only the description: a task is the agent's by the
	// requester it runs for, which visibility may not have recorded yet.
	st, err := c.Get(ctx, agent, taskID)
	if err != nil {
		return nil, "", err
	}
	taskID = st.TaskID
	if c.EvidenceStore == nil {
		return nil, "", errNoEvidenceStore
	}
	ups, err := c.EvidenceStore.ForTask(ctx, taskID)
	if err != nil {
		return nil, "", fmt.Errorf("evidence of %s: %w", taskID, err)
	}
	i := slices.IndexFunc(ups, func(u evidence.Upload) bool { return u.SHA256 == sha && u.TaskID == taskID })
	if i < 0 {
		return nil, "", ErrNotFound
	}
	rc, _, err := c.EvidenceStore.Blob(ctx, sha)
	if errors.Is(err, evidence.ErrNotFound) {
		return nil, "", ErrNotFound
	}
	if err != nil {
		return nil, "", fmt.Errorf("open evidence %s of %s: %w", sha, taskID, err)
	}
	ct := ups[i].ContentType
	if !slices.Contains(evidence.AllowedTypes(), ct) {
		ct = "application/octet-stream"
	}
	return rc, ct, nil
}

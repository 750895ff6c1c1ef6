// Package humantask is the human-task process: work a person must do in the
// field or with judgment (verify an identity in person, confirm a delivery,
// sign a document). The task is routed by skill, place and availability,
// offered to one person at a time, handed over with its context, and closed
// only when the evidence the spec asks for has been checked. Any process
// runs one as a child workflow; agents create them through the gateway.
// This file is its public contract.
package humantask

import (
	"time"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// ProcessName is the EOProcess value and the name in processes.All.
const ProcessName = "human-task"

// Names that make up the public contract.
const (
	Workflow    = "HumanTask"
	StatusQuery = "status"
	// TaskUpdate and TaskSignal carry a worker's step (accept, decline,
	// submit): the web app sends the Update, the Temporal UI the Signal.
	TaskUpdate = "task"
	TaskSignal = "task"
	// Review of evidence that needs a person is the kernel's approval.
	ApprovalUpdate = approvals.UpdateName
	ApprovalsQuery = approvals.QueryName
)

// WorkflowID is the workflow id of a task.
func WorkflowID(taskID string) string { return "human-task-" + taskID }

// Worker actions (TaskRequest.Action); the proof's decision.
const (
	ActionAccept  = "accept"
	ActionDecline = "decline"
	ActionSubmit  = "submit"
)

// Input starts a HumanTask.
type Input struct {
	// TaskID is the business id ("idv-ACC-1001"); the workflow id is
	// WorkflowID(TaskID).
	TaskID       string `json:"taskId"`
	Title        string `json:"title"`
	Instructions string `json:"instructions"`
	// Context is handed over to the person who accepts (customer name,
	// phone, what to check).
	Context map[string]string `json:"context,omitempty"`
	Skills  []workforce.Skill `json:"skills"`
	// Place is where the work happens; Address is for people.
	Place   evidence.GeoPoint `json:"place"`
	Address string            `json:"address"`
	// The work happens between Start and End.
	Start    time.Time     `json:"start"`
	End      time.Time     `json:"end"`
	Evidence evidence.Spec `json:"evidence"`
	// AcceptTimeout is how long one offer stays open (0 => 15m).
	AcceptTimeout time.Duration `json:"acceptTimeout,omitempty"`
	// DueAfter is how long the assignee has after accepting (0 => until
	// End); a reminder goes out halfway, and an overdue task is escalated
	// to the coordinators and offered to the next person.
	DueAfter time.Duration `json:"dueAfter,omitempty"`
	// MaxOffers bounds offers before the task ends no_worker_available
	// (0 => 5). MaxSubmissions bounds rejected submissions per assignee
	// before the task moves on to the next person (0 => 2).
	MaxOffers      int `json:"maxOffers,omitempty"`
	MaxSubmissions int `json:"maxSubmissions,omitempty"`
	// CoordinatorRole is the org directory role that reviews evidence
	// needing a person and receives escalations (default field-coordinator).
	CoordinatorRole string `json:"coordinatorRole,omitempty"`
	RequestedBy     string `json:"requestedBy"`
	// RequesterProof, when given, is a start assertion for this workflow id
	// (as for the other processes); an agent's comes from the gateway.
	RequesterProof string `json:"requesterProof,omitempty"`
}

// Stages a HumanTask moves through.
const (
	StageRouting          = "routing"
	StageOffered          = "offered"
	StageAssigned         = "assigned"
	StageChecking         = "checking"
	StageAwaitingApproval = approvals.StageAwaitingApproval // evidence review
	StageDone             = "done"
)

// Outcomes a HumanTask ends with.
const (
	// OutcomeCompleted: the evidence was accepted (by the checks, or by a
	// coordinator's review).
	OutcomeCompleted = "completed"
	// OutcomeNoWorker: nobody fits, or every offer was declined or timed
	// out; escalated to the coordinators.
	OutcomeNoWorker = "no_worker_available"
	// OutcomeEvidenceRejected: every person the task reached submitted
	// evidence that was rejected.
	OutcomeEvidenceRejected = "evidence_rejected"
	// OutcomeAborted: cancelled (Temporal cancellation by an operator or
	// the parent workflow).
	OutcomeAborted = "aborted"
	OutcomeFailed  = "failed"
)

// TaskRequest is the payload of the "task" Update and Signal: one step of
// the person the step belongs to, proven.
type TaskRequest struct {
	Action string `json:"action"` // accept, decline, submit
	Worker string `json:"worker"` // workforce id
	// Step is the open step it answers: "offer-<n>" or "submission-<n>"
	// (Status.OpenStep).
	Step       string               `json:"step"`
	Submission *evidence.Submission `json:"submission,omitempty"`
	// Proof is an assertion (proof.KindTask) by the web app after the
	// worker signed in, for this run, Step, Action, Worker and
	// RequestDigest(request).
	Proof string `json:"proof"`
}

// Offer is one offer of the task to one person.
type Offer struct {
	Step     string    `json:"step"`
	WorkerID string    `json:"workerId"`
	At       time.Time `json:"at"`
	Deadline time.Time `json:"deadline"`
	// Response: accepted, declined, expired, or "" while open.
	Response string   `json:"response,omitempty"`
	Reasons  []string `json:"reasons,omitempty"` // why this person was chosen
}

// SubmissionRecord is one checked submission.
type SubmissionRecord struct {
	Step     string           `json:"step"`
	WorkerID string           `json:"workerId"`
	At       time.Time        `json:"at"`
	Digest   string           `json:"digest"`
	Verdict  evidence.Verdict `json:"verdict"`
	// Review is the coordinator's decision when the verdict needed one.
	Review string `json:"review,omitempty"`
}

// Escalation is one time the coordinators were told.
type Escalation struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	To     []string  `json:"to,omitempty"`
}

// Status is what the "status" query returns, and the result.
type Status struct {
	TaskID       string            `json:"taskId"`
	Title        string            `json:"title"`
	Instructions string            `json:"instructions,omitempty"`
	Address      string            `json:"address,omitempty"`
	Place        evidence.GeoPoint `json:"place"`
	Start        time.Time         `json:"start"`
	End          time.Time         `json:"end"`
	Evidence     evidence.Spec     `json:"evidence"`
	RequestedBy  string            `json:"requestedBy,omitempty"`
	Stage        string            `json:"stage"`
	// OpenStep is the step a TaskRequest may answer now, and OpenFor who.
	OpenStep string `json:"openStep,omitempty"`
	OpenFor  string `json:"openFor,omitempty"`
	// Context is handed over once someone has accepted.
	Context     map[string]string  `json:"context,omitempty"`
	Routing     *workforce.Routing `json:"routing,omitempty"`
	Offers      []Offer            `json:"offers,omitempty"`
	Assignee    string             `json:"assignee,omitempty"`
	AcceptedAt  *time.Time         `json:"acceptedAt,omitempty"`
	DueAt       *time.Time         `json:"dueAt,omitempty"`
	Submissions []SubmissionRecord `json:"submissions,omitempty"`
	Escalations []Escalation       `json:"escalations,omitempty"`
	// Refused are TaskRequests (signals) that were ignored, and why.
	Refused []approvals.RejectedMessage `json:"refused,omitempty"`
	Outcome string                      `json:"outcome,omitempty"`
	Reason  string                      `json:"reason,omitempty"`
	// Accepted is the verdict of the evidence that closed the task, and
	// Answers the answers of that submission (a parent reads them).
	Accepted *evidence.Verdict `json:"accepted,omitempty"`
	Answers  map[string]any    `json:"answers,omitempty"`
}

// Result is what a HumanTask returns.
type Result = Status

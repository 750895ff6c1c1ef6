// Package customerescalation is the customer-escalation process: a P1
// ticket, a drop in an account's health or an agent starts it; owners are
// assigned per team, an engineering ticket is opened or linked, the
// account's channel and the owners are told, and SLA timers per severity
// watch the acknowledgement and the customer updates. A breach walks the
// engineering escalation chain, recorded as handoffs. People act through
// the "escalation" Update (web app, chat through the web app) or Signal,
// each step proven. A resolution counts when ticketing shows the
// engineering ticket resolved and the customer confirms (or does not object
// in time); otherwise the escalation reopens. This file is its contract.
package customerescalation

import (
	"time"

	"github.com/execution-orchestrator/orchestrator/approvals"
)

// ProcessName is the EOProcess value and the name in processes.All.
const ProcessName = "customer-escalation"

// Names that make up the public contract.
const (
	Workflow    = "CustomerEscalation"
	StatusQuery = "status"
	// EscalationUpdate and EscalationSignal carry a person's step
	// (EscalationRequest): the web app sends the Update, the Temporal UI
	// the Signal.
	EscalationUpdate = "escalation"
	EscalationSignal = "escalation"
	// CustomerSignal carries the customer's answer (CustomerAnswer) from
	// the confirm/object link emailed to them.
	CustomerSignal = "customer"
)

// WorkflowID is the workflow id of an escalation.
func WorkflowID(ref string) string { return "escalation-" + ref }

// Severities.
const (
	Sev1 = "sev1"
	Sev2 = "sev2"
	Sev3 = "sev3"
)

// Triggers.
const (
	TriggerTicket = "ticket" // a P1 support ticket found by a detector
	TriggerHealth = "health" // CRM health dropped below a threshold
	TriggerAgent  = "agent"  // an agent through the gateway, or a person
)

// Actions of EscalationRequest; the proof's decision.
const (
	ActionAck      = "ack"
	ActionReassign = "reassign"
	ActionUpdate   = "update"
	ActionResolve  = "resolve"
)

// Customer answers.
const (
	AnswerConfirmed = "confirmed"
	AnswerNotFixed  = "not_fixed"
)

// Ways a step reached the workflow (EscalationRequest.Via).
const (
	ViaWeb  = "web"
	ViaChat = "chat"
)

// SLA states (EOSLAState).
const (
	SLAOK       = "ok"
	SLABreached = "breached"
	SLAMet      = "met"
)

// Input starts a CustomerEscalation.
type Input struct {
	// Ref is the business id ("SUP-1", "health-ACC-HOOLI-2026-03-10");
	// the workflow id is WorkflowID(Ref).
	Ref       string `json:"ref"`
	AccountID string `json:"accountId"`
	Severity  string `json:"severity"` // sev1, sev2, sev3
	Trigger   string `json:"trigger"`  // ticket, health, agent
	// TicketID is the support ticket that triggered it, if any; the
	// engineering ticket is linked to it.
	TicketID    string `json:"ticketId,omitempty"`
	Summary     string `json:"summary"`
	RequestedBy string `json:"requestedBy"`
	// RequesterProof, when given, is a start assertion (proof.KindStart)
	// for this workflow id and RequestedBy.
	RequesterProof string `json:"requesterProof,omitempty"`
}

// EscalationRequest is the payload of the "escalation" Update and Signal.
type EscalationRequest struct {
	Action string `json:"action"` // ack, reassign, update, resolve
	// Person is who acts (a directory person id); the proof's subject.
	Person string `json:"person"`
	// To is the person a reassign hands the escalation to.
	To string `json:"to,omitempty"`
	// Message is the customer update's text (update), or a note.
	Message string `json:"message,omitempty"`
	// Via is web (default) or chat; from chat, ChatHandle is the handle
	// that wrote, and it must be Person's in the directory.
	Via        string `json:"via,omitempty"`
	ChatHandle string `json:"chatHandle,omitempty"`
	// Step is the open step (Status.OpenStep, "cycle-<n>"): the proof's slot.
	Step string `json:"step"`
	// Proof is an assertion (proof.KindTask) by the web app for this run,
	// slot Step, decision ProofDecision ("submit"), subject Person and
	// RequestDigest(request), which binds the action.
	Proof string `json:"proof"`
}

// CustomerAnswer is the payload of the "customer" Signal.
type CustomerAnswer struct {
	Answer string `json:"answer"` // confirmed, not_fixed
	// Token is the one-time link token emailed to the customer for this
	// cycle; it is redeemed once.
	Token   string `json:"token"`
	Comment string `json:"comment,omitempty"`
}

// Stages a CustomerEscalation moves through.
const (
	StageAssigning        = "assigning"
	StageAwaitingAck      = "awaiting_ack"
	StageWorking          = "working"
	StageAwaitingCustomer = "awaiting_customer"
	StageClosing          = "closing"
	StageDone             = "done"
)

// Outcomes.
const (
	OutcomeResolved            = "resolved"
	OutcomeResolvedUnconfirmed = "resolved_unconfirmed"
	// OutcomeReopened ends a cycle (recorded in the audit and the status),
	// never the workflow: the cycle repeats.
	OutcomeReopened  = "reopened"
	OutcomeCancelled = "cancelled"
	OutcomeFailed    = "failed"
)

// Person is someone the escalation involves.
type Person struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Chat  string `json:"chat,omitempty"`
	// Role says why: "account owner (sales)", "engineering on-call", ...
	Role string `json:"role,omitempty"`
}

// ChainStep is one step of the engineering escalation chain.
type ChainStep struct {
	Person Person        `json:"person"`
	After  time.Duration `json:"after"`
	Reason string        `json:"reason,omitempty"`
}

// Handoff is one change of who holds the escalation.
type Handoff struct {
	At   time.Time `json:"at"`
	From string    `json:"from,omitempty"`
	To   string    `json:"to"`
	Why  string    `json:"why"` // assigned, breach, accepted, reassigned
	Note string    `json:"note,omitempty"`
}

// Breach is one missed SLA.
type Breach struct {
	At       time.Time `json:"at"`
	SLA      string    `json:"sla"` // ack, update
	Cycle    int       `json:"cycle"`
	Holder   string    `json:"holder"`
	Notified []string  `json:"notified,omitempty"`
}

// CustomerUpdate is one update sent to the customer.
type CustomerUpdate struct {
	At        time.Time `json:"at"`
	By        string    `json:"by"`
	MessageID string    `json:"messageId"`
	Delivered bool      `json:"delivered"`
	Detail    string    `json:"detail,omitempty"`
}

// Event is one line of the timeline (the closing CRM note).
type Event struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

// Status is what the "status" query returns, and the result.
type Status struct {
	Ref         string `json:"ref"`
	AccountID   string `json:"accountId"`
	AccountName string `json:"accountName,omitempty"`
	Severity    string `json:"severity"`
	Trigger     string `json:"trigger"`
	Summary     string `json:"summary"`
	RequestedBy string `json:"requestedBy"`
	Stage       string `json:"stage"`
	Cycle       int    `json:"cycle"`
	// OpenStep is the step an EscalationRequest may answer now.
	OpenStep string `json:"openStep,omitempty"`
	// Holder holds the escalation now, since HeldSince.
	Holder     string    `json:"holder,omitempty"`
	HolderRole string    `json:"holderRole,omitempty"`
	HeldSince  time.Time `json:"heldSince"`
	Owners     []Person  `json:"owners,omitempty"`
	// Involved may act (owners, chain steps reached, people handed to).
	Involved      []string         `json:"involved,omitempty"`
	SLAState      string           `json:"slaState"`
	Acknowledged  bool             `json:"acknowledged"`
	AckedBy       string           `json:"ackedBy,omitempty"`
	AckDeadline   *time.Time       `json:"ackDeadline,omitempty"`
	NextUpdateDue *time.Time       `json:"nextUpdateDue,omitempty"`
	SupportTicket string           `json:"supportTicket,omitempty"`
	EngTicket     string           `json:"engTicket,omitempty"`
	Channel       string           `json:"channel,omitempty"`
	Handoffs      []Handoff        `json:"handoffs,omitempty"`
	Breaches      []Breach         `json:"breaches,omitempty"`
	Updates       []CustomerUpdate `json:"updates,omitempty"`
	Timeline      []Event          `json:"timeline,omitempty"`
	// CycleOutcomes are the outcomes of the cycles so far (reopened, ...).
	CycleOutcomes []string `json:"cycleOutcomes,omitempty"`
	// Refused are signals (steps and customer answers) that were ignored.
	Refused []approvals.RejectedMessage `json:"refused,omitempty"`
	Outcome string                      `json:"outcome,omitempty"`
	Reason  string                      `json:"reason,omitempty"`
}

// Result is what a CustomerEscalation returns.
type Result = Status

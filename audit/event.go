// Package audit is the tamper-evident ledger of ExecutionOrchestrator: every
// action proposed, gate decision, approval with its proof, handoff,
// evidence verdict, side effect and verified outcome, appended once per
// event id to a hash chain with signed checkpoints. Processes record through
// one call (Recorder.Record in workflow code, which runs the AppendActivity);
// `orchestrator audit verify|show|export` read it back.
package audit

import (
	"encoding/json"
	"time"
)

// Kind says what an entry records. The set is closed: the operations view
// and the KPIs read Data by Kind.
type Kind string

const (
	// KindProposed: an action was asked for. Data: ProposedData.
	KindProposed Kind = "proposed"
	// KindGate: the policy gate decided. Data: GateData.
	KindGate Kind = "gate"
	// KindApproval: a person approved or rejected, with a verified proof.
	// Data: ApprovalData.
	KindApproval Kind = "approval"
	// KindHandoff: work moved to other people (reminder, escalation up a
	// chain, delegation, offer to a worker, child workflow). Data: HandoffData.
	KindHandoff Kind = "handoff"
	// KindEvidence: submitted evidence was checked. Data: EvidenceData.
	KindEvidence Kind = "evidence"
	// KindSideEffect: a connector changed an outside system. Data: SideEffectData.
	KindSideEffect Kind = "side_effect"
	// KindVerification: a verification activity confirmed (or could not
	// confirm) the resolution. Data: VerificationData.
	KindVerification Kind = "verification"
	// KindException: people were asked to take over. Data: ExceptionData.
	KindException Kind = "exception"
	// KindOutcome: the run ended. Data: OutcomeData.
	KindOutcome Kind = "outcome"
)

// Kinds lists every Kind, in the order of a typical run.
var Kinds = []Kind{KindProposed, KindGate, KindApproval, KindHandoff, KindEvidence, KindSideEffect, KindVerification, KindException, KindOutcome}

// Event is what a process records. ID makes the append idempotent: the
// same ID appended twice adds one entry (the second append returns the
// first). Workflow code gets IDs from Recorder ("<workflowId>/<runId>/<n>").
type Event struct {
	ID          string `json:"id"`
	Process     string `json:"process"`
	BusinessKey string `json:"businessKey,omitempty"`
	WorkflowID  string `json:"workflowId,omitempty"`
	RunID       string `json:"runId,omitempty"`
	Kind        Kind   `json:"kind"`
	// Actor is who acted: a person id ("maria"), an agent ("agent:deploy-bot"),
	// a field worker ("worker:w-ana") or "system" (the workflow itself).
	Actor string `json:"actor"`
	// Summary is one readable line ("Approved by maria (finance-manager)").
	Summary string `json:"summary"`
	// At is when it happened (workflow time for recorded events).
	At time.Time `json:"at"`
	// Data is a JSON object whose shape Kind names (the *Data types below).
	Data json.RawMessage `json:"data,omitempty"`
	// Links are workflow ids of related runs (a child workflow); `audit
	// show` follows them one level.
	Links []string `json:"links,omitempty"`
}

// Entry is an Event as stored: its place in the chain and its hashes.
// Hash = SHA-256 over the canonical encoding of Seq, the Event, RecordedAt
// and PrevHash (see hash.go); the first entry's PrevHash is the genesis
// value GenesisHash.
type Entry struct {
	Seq        int64     `json:"seq"`
	Event      Event     `json:"event"`
	RecordedAt time.Time `json:"recordedAt"`
	PrevHash   string    `json:"prevHash"`
	Hash       string    `json:"hash"`
}

// Checkpoint is a signed statement "the ledger had Seq entries and its head
// hash was Hash": Ed25519 over the canonical encoding of Seq, Hash and At.
// Exported checkpoints let a copy outside the database prove truncation.
type Checkpoint struct {
	Seq       int64     `json:"seq"`
	Hash      string    `json:"hash"`
	At        time.Time `json:"at"`
	KeyID     string    `json:"keyId"`
	Signature string    `json:"signature"` // base64url, no padding
}

// Filter selects entries. Zero fields select everything.
type Filter struct {
	BusinessKey string
	WorkflowIDs []string
	Kinds       []Kind
	Process     string
	Since       time.Time // Event.At >= Since
	Until       time.Time // Event.At < Until
	AfterSeq    int64
	Limit       int // 0: no limit
}

// ProposedData is KindProposed's Data.
type ProposedData struct {
	ActionKind        string `json:"actionKind,omitempty"`
	Target            string `json:"target,omitempty"`
	ActionDigest      string `json:"actionDigest,omitempty"`
	RequestedBy       string `json:"requestedBy"`
	RequesterVerified bool   `json:"requesterVerified"`
}

// GateReason is one rule that denied.
type GateReason struct {
	Policy   string `json:"policy"`
	Message  string `json:"message,omitempty"`
	Approval bool   `json:"approval,omitempty"` // people may lift it
}

// GateData is KindGate's Data.
type GateData struct {
	// Where is "plan" (before approval) or "side_effect" (right before the call).
	Where         string       `json:"where"`
	Permit        bool         `json:"permit"`
	PolicySetHash string       `json:"policySetHash"`
	ActionDigest  string       `json:"actionDigest,omitempty"`
	Reasons       []GateReason `json:"reasons,omitempty"`
}

// ProofData says how a decision was proven.
type ProofData struct {
	Verified bool   `json:"verified"`
	Method   string `json:"method,omitempty"` // oidc, link, totp, dev, ...
	Issuer   string `json:"issuer,omitempty"`
	KeyID    string `json:"keyId,omitempty"`
	Nonce    string `json:"nonce,omitempty"`
	// Token is the signed assertion itself, so an auditor can verify it
	// again against the trusted keys.
	Token string `json:"token,omitempty"`
}

// ApprovalData is KindApproval's Data.
type ApprovalData struct {
	Decision      string    `json:"decision"` // approve, reject
	Slot          string    `json:"slot"`     // the role decided for
	OnBehalfOf    string    `json:"onBehalfOf,omitempty"`
	ActionDigest  string    `json:"actionDigest,omitempty"`
	Comment       string    `json:"comment,omitempty"`
	WaitedSeconds float64   `json:"waitedSeconds"`
	Proof         ProofData `json:"proof"`
}

// HandoffData is KindHandoff's Data.
type HandoffData struct {
	// Why: reminder, escalation, delegation, offer, accepted, declined,
	// expired, child, reassigned.
	Why  string   `json:"why"`
	From []string `json:"from,omitempty"`
	To   []string `json:"to,omitempty"`
	Role string   `json:"role,omitempty"`
}

// EvidenceData is KindEvidence's Data.
type EvidenceData struct {
	Accepted bool     `json:"accepted"`
	Items    []string `json:"items,omitempty"` // sha256 of each file
	Problems []string `json:"problems,omitempty"`
}

// SideEffectData is KindSideEffect's Data.
type SideEffectData struct {
	System         string `json:"system"`    // treasury, email, erp, deploy, crm, ...
	Operation      string `json:"operation"` // release, send, mark_paid, ...
	Reference      string `json:"reference,omitempty"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	AmountMinor    int64  `json:"amountMinor,omitempty"`
	Currency       string `json:"currency,omitempty"`
}

// VerificationData is KindVerification's Data.
type VerificationData struct {
	What     string `json:"what"` // settlement, delivery, deployment, ...
	Verified bool   `json:"verified"`
	Detail   string `json:"detail,omitempty"`
}

// ExceptionData is KindException's Data.
type ExceptionData struct {
	Reason string   `json:"reason"` // closed set, as eo_exceptions_total
	To     []string `json:"to,omitempty"`
}

// OutcomeData is KindOutcome's Data.
type OutcomeData struct {
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason,omitempty"`
	Autonomous bool   `json:"autonomous"`
}

package approvals

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// maxRejectedMessages bounds the ignored signals kept in the status, so a
// misbehaving sender cannot grow the query result without limit.
const maxRejectedMessages = 20

// CodeCheck asks a worker activity to check a one-time code for a decision
// and, if it is right, to sign an assertion of it (method "totp").
type CodeCheck struct {
	WorkflowID   string `json:"workflowId"`
	RunID        string `json:"runId"`
	Slot         string `json:"slot"`
	ActionDigest string `json:"actionDigest"`
	Decision     string `json:"decision"`
	Approver     string `json:"approver"`
	Code         string `json:"code"`
}

// Host is what the wait needs from the process that owns it. Each method
// runs in workflow code; those that reach outside do it with activities.
type Host interface {
	// SetStage records the stage and the line shown in the Temporal UI.
	SetStage(ctx workflow.Context, stage, details string)
	// NotifyApprovers asks people to decide; a failure is the host's to log.
	NotifyApprovers(ctx workflow.Context, kind string, slot Slot, people []string, expiry time.Time)
	// CheckApprovers says which approvals no longer count because their
	// approver lost the role or the stand-in.
	CheckApprovers(ctx workflow.Context, approvals []Approval) ([]Problem, error)
	// Ended is called when the wait ends without approval (rejected or
	// expired), before the wait returns, for notes and notifications.
	Ended(ctx workflow.Context, outcome, reason string)
	// LoadTrust returns the keys proofs are verified against (an activity,
	// so the answer is in history and replays).
	LoadTrust(ctx workflow.Context) (proof.Trust, error)
	// CheckCode verifies a one-time code (an activity) and returns the
	// signed assertion that proves it.
	CheckCode(ctx workflow.Context, req CodeCheck) (string, error)
}

// Config sets up a Waiter.
type Config struct {
	Host        Host
	Rules       Rules
	RequestedBy string
	// ActionDigest returns the digest of the action awaiting approval now.
	ActionDigest func() string
	// Target returns the target of that action; nil records none.
	Target func() string
	// Stage returns the workflow's stage now (for refusals).
	Stage func() string
	// UpdateDescription is shown by the Temporal UI next to the Update.
	UpdateDescription string
	// Process labels the metrics the wait records (the EOProcess value).
	Process string
	// Audit records requests, reminders, escalations and decisions with
	// their proofs to the ledger; nil records nothing.
	Audit *audit.Recorder
}

// Waiter holds the approvals of one execution and waits for them. Handlers
// and the workflow coroutine share it; Temporal runs them one at a time.
type Waiter struct {
	cfg    Config
	logger log.Logger
	wfID   string
	runID  string

	// What the approvals query and the process's own status show.
	Approvals        []Approval
	RejectedMessages []RejectedMessage
	AwaitingSlot     string
	PendingApprovers []string
	AwaitingSince    *time.Time
	Escalated        bool
	Rounds           int

	plan    *Plan
	slot    int       // index of the awaited slot in plan.Slots, -1 when none
	awaited []awaitee // who may decide on the awaited slot
	decided bool      // a decision arrived for the awaited slot
	reject  *Approval // the rejection that ends the wait, if any
	// lastDecision is the decision accepted for the awaited slot, kept
	// for the ledger, which the wait's own coroutine writes.
	lastDecision *Approval
	lastWaited   time.Duration
	trust        proof.Trust
	nonces       []string // proof nonces used in this run
	// codeFailures counts refused one-time codes per person (personKey);
	// only looked up, never ranged over, so map order cannot matter.
	codeFailures map[string]int
}

// New returns a Waiter and installs the "approval" Update (validated, so a
// refused request never enters history) and the "approval" Signal reader.
// Both exist from the start so the Temporal UI offers them at once.
func New(ctx workflow.Context, cfg Config) (*Waiter, error) {
	info := workflow.GetInfo(ctx)
	w := &Waiter{cfg: cfg, logger: workflow.GetLogger(ctx), wfID: info.WorkflowExecution.ID, runID: info.WorkflowExecution.RunID, slot: -1}
	desc := cfg.UpdateDescription
	if desc == "" {
		desc = "Approve or reject the action awaiting a decision"
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateName,
		func(ctx workflow.Context, req Request) (Receipt, error) {
			v, err := w.decide(ctx, req)
			if err != nil {
				return Receipt{}, err
			}
			return w.accept(ctx, req, v), nil
		},
		workflow.UpdateHandlerOptions{
			Validator: func(ctx workflow.Context, req Request) error {
				_, err := check(req, w.view(ctx))
				return err
			},
			Description: desc,
		})
	if err != nil {
		return nil, fmt.Errorf("register %s update: %w", UpdateName, err)
	}
	ch := workflow.GetSignalChannel(ctx, SignalName)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			// Received raw: a payload the SDK cannot decode into Request
			// would be dropped with only a log line, and a refused signal
			// must show in the status.
			var raw json.RawMessage
			if more := ch.Receive(ctx, &raw); !more {
				return
			}
			req, err := decodeSignal(raw, cfg.Rules.Strict || cfg.Rules.RequireProof)
			var v verdict
			if err == nil {
				v, err = w.decide(ctx, req)
			}
			if err != nil {
				w.refused(ctx, req, err)
				continue
			}
			w.accept(ctx, req, v)
		}
	})
	return w, nil
}

// decide applies the rules and, for a one-time code, has an activity check
// it and then applies the rules again to the signed result (the state may
// have moved while the activity ran).
func (w *Waiter) decide(ctx workflow.Context, req Request) (verdict, error) {
	v, err := check(req, w.view(ctx))
	if err != nil || !v.NeedsCode {
		return v, err
	}
	token, err := w.cfg.Host.CheckCode(ctx, CodeCheck{
		WorkflowID: w.wfID, RunID: w.runID, Slot: w.AwaitingSlot, ActionDigest: req.ActionDigest,
		Decision: req.Decision, Approver: req.Approver, Code: strings.TrimSpace(req.Proof),
	})
	if err != nil {
		if w.codeFailures == nil {
			w.codeFailures = map[string]int{}
		}
		w.codeFailures[personKey(req.Approver)]++
		return verdict{}, fmt.Errorf("proof: one-time code refused: %s", process.FailureMessage(err))
	}
	req.Proof = token
	v, err = check(req, w.view(ctx))
	if err == nil && v.NeedsCode {
		return verdict{}, fmt.Errorf("proof: the code check returned no assertion")
	}
	return v, err
}

func (w *Waiter) refused(ctx workflow.Context, req Request, err error) {
	w.logger.Warn("Ignored approval signal", "approver", clip(req.Approver), "reason", err.Error())
	w.RejectedMessages = append(w.RejectedMessages, RejectedMessage{
		Approver: clip(req.Approver), Decision: clip(req.Decision), ActionDigest: clipTo(req.ActionDigest, MaxDigestLen),
		Reason: err.Error(), At: workflow.Now(ctx).UTC(),
	})
	if n := len(w.RejectedMessages); n > maxRejectedMessages {
		w.RejectedMessages = slices.Clone(w.RejectedMessages[n-maxRejectedMessages:])
	}
}

// clipTo is clip with a limit of n bytes, for a field whose real values are
// longer than clip keeps: a "sha256:" digest is 71 bytes, and a refused
// signal's digest must stay whole to be compared with the action's.
func clipTo(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (w *Waiter) view(ctx workflow.Context) view {
	return view{
		Stage:        w.cfg.Stage(),
		Slot:         w.AwaitingSlot,
		Awaited:      w.awaited,
		RequestedBy:  w.cfg.RequestedBy,
		ActionDigest: w.cfg.ActionDigest(),
		Approvals:    w.Approvals,
		Rules:        w.cfg.Rules,
		WorkflowID:   w.wfID,
		RunID:        w.runID,
		Trust:        w.trust,
		Now:          workflow.Now(ctx).UTC(),
		UsedNonces:   w.nonces,
		CodeFailures: w.codeFailures,
	}
}

// accept records a valid decision and stops awaiting the slot, so a second
// decision in the same workflow task is refused rather than double-counted.
func (w *Waiter) accept(ctx workflow.Context, req Request, v verdict) Receipt {
	a := Approval{
		Slot: w.AwaitingSlot, Approver: req.Approver, OnBehalfOf: v.OnBehalfOf, Decision: req.Decision,
		Comment: req.Comment, ActionDigest: req.ActionDigest, At: workflow.Now(ctx).UTC(), Proof: v.Proof,
	}
	if w.cfg.Target != nil && w.cfg.Rules.RequireProof {
		a.Target = w.cfg.Target()
	}
	if v.Proof != nil {
		w.nonces = append(w.nonces, v.Proof.Nonce)
	}
	w.logger.Info("Approval decision accepted", "slot", a.Slot, "approver", a.Approver, "decision", a.Decision)
	w.lastDecision, w.lastWaited = &a, 0
	if w.AwaitingSince != nil {
		w.lastWaited = a.At.Sub(*w.AwaitingSince)
		// Through the workflow's handler, which is silent on replay, and
		// from workflow time, so the figure is the one history shows.
		process.RecordTimeToApproval(workflow.GetMetricsHandler(ctx), w.cfg.Process, a.Decision, a.At.Sub(*w.AwaitingSince))
	}
	if a.Decision == DecisionReject {
		w.reject = &a
	} else {
		w.Approvals = append(w.Approvals, a)
	}
	w.decided = true
	w.AwaitingSlot, w.awaited = "", nil
	receipt := Receipt{Slot: a.Slot, Decision: a.Decision, OnBehalfOf: v.OnBehalfOf}
	if a.Decision == DecisionApprove && w.plan != nil {
		for i := FirstOpenSlot(*w.plan, w.Approvals); i >= 0 && i < len(w.plan.Slots); i++ {
			receipt.Remaining = append(receipt.Remaining, w.plan.Slots[i].Role)
		}
	}
	return receipt
}

// SetPlan records the plan the approvals are collected for.
func (w *Waiter) SetPlan(plan Plan) { w.plan = &plan }

// Complete reports whether the approvals fill every slot of plan.
func (w *Waiter) Complete(plan Plan) bool { return FirstOpenSlot(plan, w.Approvals) < 0 }

// Drop removes approvals that no longer admit the action: for another digest,
// older than plan.Validity, for a slot not in the plan, or whose approver
// lost the role. What is left still counts; missing slots are asked again.
func (w *Waiter) Drop(ctx workflow.Context, plan Plan, digest string) error {
	now := workflow.Now(ctx).UTC()
	var kept []Approval
	for _, a := range w.Approvals {
		switch {
		case a.ActionDigest != digest:
			w.logger.Info("Approval dropped: action changed", "approver", a.Approver, "approvedDigest", a.ActionDigest, "digest", digest)
		case plan.Validity > 0 && now.Sub(a.At) > plan.Validity:
			w.logger.Info("Approval dropped: older than validity", "approver", a.Approver, "at", a.At, "validity", plan.Validity)
		case !slices.ContainsFunc(plan.Slots, func(s Slot) bool { return s.Role == a.Slot }):
			w.logger.Info("Approval dropped: slot not in plan", "approver", a.Approver, "slot", a.Slot, "tier", plan.Tier)
		default:
			kept = append(kept, a)
		}
	}
	if len(kept) > 0 {
		problems, err := w.cfg.Host.CheckApprovers(ctx, kept)
		if err != nil {
			return fmt.Errorf("check approvers: %s", process.FailureMessage(err))
		}
		kept = slices.DeleteFunc(kept, func(a Approval) bool {
			for _, p := range problems {
				if p.Approver == a.Approver && p.Slot == a.Slot {
					w.logger.Info("Approval dropped: approver may no longer approve", "approver", a.Approver, "slot", a.Slot, "reason", p.Reason)
					return true
				}
			}
			return false
		})
	}
	w.Approvals = kept
	return nil
}

// Ending is how a wait ended without the approvals: rejected, expired, or
// failed because nobody may decide.
type Ending struct {
	Outcome string
	Reason  string
}

// Collect waits for the open slots of plan in order. A non-nil Ending ends
// the process's action; an error is cancellation.
func (w *Waiter) Collect(ctx workflow.Context, plan Plan) (*Ending, error) {
	w.plan = &plan
	for {
		idx := FirstOpenSlot(plan, w.Approvals)
		if idx < 0 {
			return nil, nil
		}
		end, err := w.awaitSlot(ctx, plan, idx)
		if err != nil || end != nil {
			return end, err
		}
	}
}

func (w *Waiter) awaitSlot(ctx workflow.Context, plan Plan, idx int) (*Ending, error) {
	slot := plan.Slots[idx]
	if w.cfg.Rules.RequireProof {
		// Fresh for every slot, so a rotated or revoked key counts from the
		// next slot on; the answer is in history, so checks replay.
		trust, err := w.cfg.Host.LoadTrust(ctx)
		if err != nil {
			return &Ending{Outcome: OutcomeFailed, Reason: "load trusted keys: " + process.FailureMessage(err)}, nil
		}
		w.trust = trust
	}
	since := workflow.Now(ctx).UTC()
	expiry := since.Add(plan.ExpireAfter)
	w.decided, w.reject, w.lastDecision = false, nil, nil
	escalated := false
	w.openSlot(ctx, idx, since, escalated)
	if len(w.awaited) == 0 {
		// Everyone who could decide is excluded (e.g. already filled a
		// slot): go straight to the escalation targets.
		escalated = true
		w.openSlot(ctx, idx, since, escalated)
	}
	if len(w.awaited) == 0 {
		w.Close(ctx)
		return &Ending{Outcome: OutcomeFailed, Reason: fmt.Sprintf("nobody may approve slot %q: every candidate and escalation target is excluded", slot.Role)}, nil
	}
	w.cfg.Host.NotifyApprovers(ctx, NotifyRequest, slot, w.notifyTargets(idx, nil), expiry)
	w.recordHandoff(ctx, "asked", slot.Role, nil, w.PendingApprovers)

wait:
	for _, d := range slotDeadlines(plan, since, escalated) {
		ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      max(d.at.Sub(workflow.Now(ctx)), time.Millisecond),
			TimerOptions: workflow.TimerOptions{Summary: "approval " + d.kind + " (" + slot.Role + ")"},
		}, func() bool { return w.decided })
		if err != nil {
			return nil, err
		}
		// A decision accepted in the task that also fired the timer counts:
		// it must neither be lost to the deadline's action nor wait for the
		// next deadline.
		if ok || w.decided {
			break wait
		}
		switch d.kind {
		case NotifyReminder:
			w.cfg.Host.NotifyApprovers(ctx, NotifyReminder, slot, w.notifyTargets(idx, nil), expiry)
			w.recordHandoff(ctx, "reminder", slot.Role, nil, w.PendingApprovers)
		case NotifyEscalation:
			before := w.awaited
			from := w.PendingApprovers
			w.openSlot(ctx, idx, since, true)
			w.cfg.Host.NotifyApprovers(ctx, NotifyEscalation, slot, w.notifyTargets(idx, before), expiry)
			w.recordHandoff(ctx, "escalation", slot.Role, from, w.PendingApprovers)
		default:
			// A timeout is never a denial: the wait ends "expired" and the
			// process escalates or notes it; nothing executes.
			from := w.PendingApprovers
			w.Close(ctx)
			reason := fmt.Sprintf("no decision for slot %q within %s", slot.Role, plan.ExpireAfter)
			w.recordHandoff(ctx, "expired", slot.Role, from, nil)
			w.cfg.Host.Ended(ctx, OutcomeExpired, reason)
			return &Ending{Outcome: OutcomeExpired, Reason: reason}, nil
		}
	}
	w.Close(ctx)
	w.recordDecision(ctx)
	if a := w.reject; a != nil {
		reason := fmt.Sprintf("rejected by %s (%s)", a.Approver, a.Slot)
		if a.Comment != "" {
			reason += ": " + a.Comment
		}
		w.Approvals = append(w.Approvals, *a)
		w.cfg.Host.Ended(ctx, OutcomeRejected, reason)
		return &Ending{Outcome: OutcomeRejected, Reason: reason}, nil
	}
	return nil, nil
}

// recordDecision writes the decision just accepted, and how it was proven,
// to the ledger.
func (w *Waiter) recordDecision(ctx workflow.Context) {
	a := w.lastDecision
	if a == nil || !w.cfg.Audit.Enabled() {
		return
	}
	data := audit.ApprovalData{
		Decision: a.Decision, Slot: a.Slot, OnBehalfOf: a.OnBehalfOf, ActionDigest: a.ActionDigest,
		Comment: a.Comment, WaitedSeconds: w.lastWaited.Seconds(),
	}
	how := "without proof"
	if p := a.Proof; p != nil {
		// The validator verified it before the decision was accepted.
		data.Proof = audit.ProofData{Verified: w.cfg.Rules.RequireProof, Method: p.Method, KeyID: p.KeyID, Nonce: p.Nonce, Token: p.Token}
		how = "proof " + p.Method
		if !data.Proof.Verified {
			how += " (not required, not verified)"
		}
	}
	verb := "Approved"
	if a.Decision == DecisionReject {
		verb = "Rejected"
	}
	by := a.Approver
	if a.OnBehalfOf != "" {
		by += " for " + a.OnBehalfOf
	}
	w.cfg.Audit.Record(ctx, audit.KindApproval, a.Approver, fmt.Sprintf("%s by %s (%s), %s", verb, by, a.Slot, how), data)
}

// recordHandoff writes who the approval moved to, and why.
func (w *Waiter) recordHandoff(ctx workflow.Context, why, role string, from, to []string) {
	if !w.cfg.Audit.Enabled() {
		return
	}
	var summary string
	switch why {
	case "asked":
		summary = fmt.Sprintf("Approval (%s) asked of %s", role, strings.Join(to, ", "))
	case "reminder":
		summary = fmt.Sprintf("Reminder: approval (%s) still awaited from %s", role, strings.Join(to, ", "))
	case "escalation":
		summary = fmt.Sprintf("Approval (%s) escalated from %s to %s", role, strings.Join(from, ", "), strings.Join(to, ", "))
	default:
		summary = fmt.Sprintf("Approval (%s) %s: no decision from %s", role, why, strings.Join(from, ", "))
	}
	w.cfg.Audit.Record(ctx, audit.KindHandoff, "system", summary, audit.HandoffData{Why: why, From: from, To: to, Role: role})
}

// openSlot records that slot idx is awaited and by whom.
func (w *Waiter) openSlot(ctx workflow.Context, idx int, since time.Time, escalated bool) {
	slot := w.plan.Slots[idx]
	w.slot = idx
	strict := w.cfg.Rules.Strict || w.cfg.Rules.RequireProof
	w.awaited = awaitedFor(slot, escalated, w.cfg.RequestedBy, w.Approvals, strict)
	ids := make([]string, len(w.awaited))
	for i, a := range w.awaited {
		ids[i] = a.ID
	}
	w.AwaitingSlot, w.PendingApprovers, w.AwaitingSince, w.Escalated = slot.Role, ids, &since, escalated
	w.cfg.Host.SetStage(ctx, StageAwaitingApproval, fmt.Sprintf("Awaiting approval (%s) from %s since %s",
		slot.Role, strings.Join(ids, ", "), since.Format(time.RFC3339)))
	upsert(ctx, w.logger, process.SAPendingApprovers.ValueSet(ids))
}

// Close stops awaiting any slot.
func (w *Waiter) Close(ctx workflow.Context) {
	if w.slot < 0 && w.PendingApprovers == nil {
		return
	}
	w.slot, w.awaited = -1, nil
	w.AwaitingSlot, w.PendingApprovers, w.AwaitingSince, w.Escalated = "", nil, nil, false
	upsert(ctx, w.logger, process.SAPendingApprovers.ValueUnset())
}

// notifyTargets lists whom to email for slot idx: awaited people except
// absent candidates (their delegate is asked instead) and except those in
// already, who were notified before.
func (w *Waiter) notifyTargets(idx int, already []awaitee) []string {
	slot := w.plan.Slots[idx]
	var out []string
	for _, a := range w.awaited {
		absent := a.OnBehalfOf == "" && slices.ContainsFunc(slot.Candidates, func(c Candidate) bool {
			return c.ID == a.ID && c.Delegate != ""
		})
		notified := slices.ContainsFunc(already, func(o awaitee) bool { return o.ID == a.ID })
		if !absent && !notified {
			out = append(out, a.ID)
		}
	}
	return out
}

// Fill copies the approval part of the state into st.
func (w *Waiter) Fill(st *Status) {
	st.AwaitingSlot, st.PendingApprovers, st.AwaitingSince, st.Escalated = w.AwaitingSlot, w.PendingApprovers, w.AwaitingSince, w.Escalated
	st.Approvals, st.RejectedMessages = w.Approvals, w.RejectedMessages
	st.ProofRequired = w.cfg.Rules.RequireProof
	st.RunID = w.runID
}

func upsert(ctx workflow.Context, logger log.Logger, updates ...temporal.SearchAttributeUpdate) {
	process.Upsert(ctx, logger, updates...)
}

package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// maxRejectedMessages bounds the ignored signals kept in the status, so a
// misbehaving sender cannot grow the query result without limit.
const maxRejectedMessages = 20

// awaitee is a person who may decide on the awaited slot, possibly on behalf
// of a candidate (as delegate or escalation target).
type awaitee struct {
	ID         string
	OnBehalfOf string
}

// approvalView is what the approval rules look at.
type approvalView struct {
	Stage        string
	Slot         string // role awaited; "" when no decision is awaited
	Awaited      []awaitee
	RequestedBy  string
	ActionDigest string
	Approvals    []Approval
	// Strict compares people by personKey instead of exact string; see
	// changeStrictApprovals.
	Strict bool
}

// checkApproval applies the approval rules to req. It is the single rule set
// for the Update validator, the Update handler and the Signal handler. It
// returns whom the approver acts for ("" for themselves) or why req is refused.
func checkApproval(req ApprovalRequest, v approvalView) (onBehalfOf string, err error) {
	switch {
	case req.Decision != DecisionApprove && req.Decision != DecisionReject:
		return "", fmt.Errorf("decision: must be %q or %q, got %q", DecisionApprove, DecisionReject, req.Decision)
	case strings.TrimSpace(req.Approver) == "":
		return "", fmt.Errorf("approver: required")
	case isAgent(req.Approver) || v.Strict && isAgent(personKey(req.Approver)):
		return "", fmt.Errorf("approver: %q is an agent; only people may decide", req.Approver)
	case samePerson(req.Approver, v.RequestedBy, v.Strict):
		return "", fmt.Errorf("approver: %q requested this payment (as %q) and cannot decide on it", req.Approver, v.RequestedBy)
	case v.Slot == "":
		return "", fmt.Errorf("no decision is awaited (stage %s)", v.Stage)
	case req.ActionDigest != v.ActionDigest:
		return "", fmt.Errorf("actionDigest: %q is not the current action %q", req.ActionDigest, v.ActionDigest)
	}
	for _, a := range v.Approvals {
		if samePerson(a.Approver, req.Approver, v.Strict) {
			return "", fmt.Errorf("approver: %q already approved slot %q; one person cannot fill two slots", req.Approver, a.Slot)
		}
	}
	ids := make([]string, 0, len(v.Awaited))
	for _, w := range v.Awaited {
		if w.ID == req.Approver {
			return w.OnBehalfOf, nil
		}
		ids = append(ids, w.ID)
	}
	return "", fmt.Errorf("approver: %q may not decide on slot %q (awaiting %s)", req.Approver, v.Slot, strings.Join(ids, ", "))
}

func isAgent(id string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(id)), "agent:")
}

// personKey is the identity a person is compared by under the strict rules:
// lower case, without leading "<scheme>:" prefixes such as "cli:" or
// "user:", which name the channel a request came through, not the person.
// "agent:" is kept, because an agent is never the person of the same name.
func personKey(id string) string {
	s := strings.ToLower(strings.TrimSpace(id))
	for {
		scheme, rest, ok := strings.Cut(s, ":")
		if !ok || scheme == "agent" || !isScheme(scheme) {
			return s
		}
		s = strings.TrimSpace(rest)
	}
}

// isScheme reports whether s looks like a URI scheme (RFC 3986: a letter,
// then letters, digits, '+', '-' or '.').
func isScheme(s string) bool {
	for i, c := range s {
		letter := c >= 'a' && c <= 'z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// samePerson reports whether two identities name the same person: exactly
// equal under the old rules, equal personKeys under the strict ones.
func samePerson(a, b string, strict bool) bool {
	if !strict {
		return a == b
	}
	ka := personKey(a)
	return ka != "" && ka == personKey(b)
}

// awaitedFor lists who may fill slot: its candidates, then delegates of
// absent candidates, then (once escalated) each candidate's manager, or
// delegate if they have no manager. The requester, agents and people who
// already filled a slot are left out; the first reason to await someone wins.
func awaitedFor(slot ApprovalSlot, escalated bool, requester string, approvals []Approval, strict bool) []awaitee {
	var out []awaitee
	add := func(id, onBehalfOf string) {
		if id == "" || samePerson(id, requester, strict) || isAgent(id) {
			return
		}
		if slices.ContainsFunc(approvals, func(a Approval) bool { return samePerson(a.Approver, id, strict) }) {
			return
		}
		if slices.ContainsFunc(out, func(w awaitee) bool { return w.ID == id }) {
			return
		}
		out = append(out, awaitee{ID: id, OnBehalfOf: onBehalfOf})
	}
	for _, c := range slot.Candidates {
		add(c.ID, "")
	}
	for _, c := range slot.Candidates {
		add(c.Delegate, c.ID)
	}
	if escalated {
		for _, c := range slot.Candidates {
			target := c.Manager
			if target == "" {
				target = c.Delegate
			}
			add(target, c.ID)
		}
	}
	return out
}

// firstOpenSlot returns the index of the first slot no approval fills, or -1.
// Approvals fill slots of their role in order, so a plan may repeat a role.
func firstOpenSlot(plan ApprovalPlan, approvals []Approval) int {
	used := make([]bool, len(approvals))
	for i, s := range plan.Slots {
		found := false
		for j, a := range approvals {
			if !used[j] && a.Slot == s.Role && a.Decision == DecisionApprove {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return i
		}
	}
	return -1
}

func (r *run) view() approvalView {
	return approvalView{
		Stage:        r.st.Stage,
		Slot:         r.st.AwaitingSlot,
		Awaited:      r.awaited,
		RequestedBy:  r.in.RequestedBy,
		ActionDigest: r.st.ActionDigest,
		Approvals:    r.st.Approvals,
		Strict:       r.strict,
	}
}

// listenForApprovals installs the "approval" Update (validated, so a refused
// request never enters history) and drains the "approval" Signal channel.
// Both are set up at the start so the Temporal UI offers them at once.
func (r *run) listenForApprovals(ctx workflow.Context) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, ApprovalUpdate,
		func(ctx workflow.Context, req ApprovalRequest) (ApprovalReceipt, error) {
			onBehalfOf, err := checkApproval(req, r.view())
			if err != nil {
				return ApprovalReceipt{}, err
			}
			return r.accept(ctx, req, onBehalfOf), nil
		},
		workflow.UpdateHandlerOptions{
			Validator: func(ctx workflow.Context, req ApprovalRequest) error {
				_, err := checkApproval(req, r.view())
				return err
			},
			Description: "Approve or reject the payment action awaiting a decision",
		})
	if err != nil {
		return fmt.Errorf("register %s update: %w", ApprovalUpdate, err)
	}
	ch := workflow.GetSignalChannel(ctx, ApprovalSignal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			// Received raw: a payload the SDK cannot decode into
			// ApprovalRequest would be dropped with only a log line, and a
			// refused signal must show in the status.
			var raw json.RawMessage
			if more := ch.Receive(ctx, &raw); !more {
				return
			}
			req, err := decodeApprovalSignal(raw, r.strict)
			var onBehalfOf string
			if err == nil {
				onBehalfOf, err = checkApproval(req, r.view())
			}
			if err != nil {
				r.logger.Warn("Ignored approval signal", "approver", req.Approver, "reason", err.Error())
				r.st.RejectedMessages = append(r.st.RejectedMessages, RejectedMessage{
					Approver: req.Approver, Decision: req.Decision, ActionDigest: req.ActionDigest,
					Reason: err.Error(), At: workflow.Now(ctx).UTC(),
				})
				if n := len(r.st.RejectedMessages); n > maxRejectedMessages {
					r.st.RejectedMessages = slices.Clone(r.st.RejectedMessages[n-maxRejectedMessages:])
				}
				continue
			}
			r.accept(ctx, req, onBehalfOf)
		}
	})
	return nil
}

// decodeApprovalSignal decodes an "approval" signal payload; the error names
// the offending field where there is one. The request is returned even on
// error, filled as far as it decoded, so the refusal can say who sent it.
// Unknown fields are refused only under the strict rules
// (changeStrictApprovals): before, the SDK's decoding ignored them and such
// a signal could be accepted, which histories recorded.
func decodeApprovalSignal(raw json.RawMessage, strict bool) (ApprovalRequest, error) {
	var req ApprovalRequest
	if len(bytes.TrimSpace(raw)) == 0 {
		return req, fmt.Errorf("payload: empty; want a JSON object with decision, approver and actionDigest")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if strict {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(&req)
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case err == nil:
		if _, err := dec.Token(); err != io.EOF {
			return req, fmt.Errorf("payload: unexpected data after the JSON object")
		}
		return req, nil
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return req, fmt.Errorf("%s: must be a %s, got a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	case errors.As(err, &typeErr):
		return req, fmt.Errorf("payload: must be a JSON object, got a JSON %s", typeErr.Value)
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return req, fmt.Errorf("payload: not valid JSON (%v)", err)
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if f, uerr := strconv.Unquote(field); uerr == nil {
			field = f
		}
		return req, fmt.Errorf("%s: unknown field; an approval has decision, approver, comment and actionDigest", field)
	}
	return req, fmt.Errorf("payload: %v", err)
}

// accept records a valid decision and stops awaiting the slot, so a second
// decision in the same workflow task is refused rather than double-counted.
func (r *run) accept(ctx workflow.Context, req ApprovalRequest, onBehalfOf string) ApprovalReceipt {
	a := Approval{
		Slot: r.st.AwaitingSlot, Approver: req.Approver, OnBehalfOf: onBehalfOf, Decision: req.Decision,
		Comment: req.Comment, ActionDigest: req.ActionDigest, At: workflow.Now(ctx).UTC(),
	}
	r.logger.Info("Approval decision accepted", "slot", a.Slot, "approver", a.Approver, "decision", a.Decision)
	if a.Decision == DecisionReject {
		r.reject = &a
	} else {
		r.st.Approvals = append(r.st.Approvals, a)
	}
	r.decided = true
	r.st.AwaitingSlot, r.awaited = "", nil
	receipt := ApprovalReceipt{Slot: a.Slot, Decision: a.Decision, OnBehalfOf: onBehalfOf}
	if a.Decision == DecisionApprove && r.plan != nil {
		for i := firstOpenSlot(*r.plan, r.st.Approvals); i >= 0 && i < len(r.plan.Slots); i++ {
			receipt.Remaining = append(receipt.Remaining, r.plan.Slots[i].Role)
		}
	}
	return receipt
}

// gateApprovals drops approvals that no longer admit the action: for another
// digest, older than plan.Validity, or whose approver lost the role. What is
// left still counts; missing slots are requested again.
func (r *run) gateApprovals(ctx workflow.Context, plan ApprovalPlan, digest string) *VendorPaymentResult {
	now := workflow.Now(ctx).UTC()
	var kept []Approval
	for _, a := range r.st.Approvals {
		switch {
		case a.ActionDigest != digest:
			r.logger.Info("Approval dropped: action changed", "approver", a.Approver, "approvedDigest", a.ActionDigest, "digest", digest)
		case plan.Validity > 0 && now.Sub(a.At) > plan.Validity:
			r.logger.Info("Approval dropped: older than validity", "approver", a.Approver, "at", a.At, "validity", plan.Validity)
		case !slices.ContainsFunc(plan.Slots, func(s ApprovalSlot) bool { return s.Role == a.Slot }):
			r.logger.Info("Approval dropped: slot not in plan", "approver", a.Approver, "slot", a.Slot, "tier", plan.Tier)
		default:
			kept = append(kept, a)
		}
	}
	if len(kept) > 0 {
		var check CheckApproversResult
		if err := r.exec(ctx, r.cfg.Read, ActivityCheckApprovers, CheckApproversRequest{Approvals: kept}, &check); err != nil {
			res := r.failed("check approvers: " + failureMessage(err))
			return &res
		}
		kept = slices.DeleteFunc(kept, func(a Approval) bool {
			for _, p := range check.Invalid {
				if p.Approver == a.Approver && p.Slot == a.Slot {
					r.logger.Info("Approval dropped: approver may no longer approve", "approver", a.Approver, "slot", a.Slot, "reason", p.Reason)
					return true
				}
			}
			return false
		})
	}
	r.st.Approvals = kept
	return nil
}

// collectApprovals waits for the open slots in order. A non-nil result ends
// the workflow (rejected, expired); an error is cancellation.
func (r *run) collectApprovals(ctx workflow.Context, plan ApprovalPlan) (*VendorPaymentResult, error) {
	for {
		idx := firstOpenSlot(plan, r.st.Approvals)
		if idx < 0 {
			return nil, nil
		}
		res, err := r.awaitSlot(ctx, plan, idx)
		if err != nil || res != nil {
			return res, err
		}
	}
}

// deadline is a point at which the wait for a slot acts.
type deadline struct {
	at   time.Time
	kind string // NotifyReminder, NotifyEscalation or "expire"
}

func slotDeadlines(plan ApprovalPlan, since time.Time, escalated bool) []deadline {
	var out []deadline
	if plan.ReminderAfter > 0 && plan.ReminderAfter < plan.ExpireAfter &&
		(escalated || plan.EscalateAfter <= 0 || plan.ReminderAfter < plan.EscalateAfter) {
		out = append(out, deadline{since.Add(plan.ReminderAfter), NotifyReminder})
	}
	if !escalated && plan.EscalateAfter > 0 && plan.EscalateAfter < plan.ExpireAfter {
		out = append(out, deadline{since.Add(plan.EscalateAfter), NotifyEscalation})
	}
	return append(out, deadline{since.Add(plan.ExpireAfter), "expire"})
}

func (r *run) awaitSlot(ctx workflow.Context, plan ApprovalPlan, idx int) (*VendorPaymentResult, error) {
	slot := plan.Slots[idx]
	since := workflow.Now(ctx).UTC()
	expiry := since.Add(plan.ExpireAfter)
	r.decided, r.reject = false, nil
	escalated := false
	r.openSlot(ctx, idx, since, escalated)
	if len(r.awaited) == 0 {
		// Everyone who could decide is excluded (e.g. already filled a
		// slot): go straight to the escalation targets.
		escalated = true
		r.openSlot(ctx, idx, since, escalated)
	}
	if len(r.awaited) == 0 {
		r.closeSlot(ctx)
		res := r.failed(fmt.Sprintf("nobody may approve slot %q: every candidate and escalation target is excluded", slot.Role))
		return &res, nil
	}
	r.notifyApprovers(ctx, NotifyRequest, slot, r.notifyTargets(idx, nil), expiry)

wait:
	for _, d := range slotDeadlines(plan, since, escalated) {
		ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      max(d.at.Sub(workflow.Now(ctx)), time.Millisecond),
			TimerOptions: workflow.TimerOptions{Summary: "approval " + d.kind + " (" + slot.Role + ")"},
		}, func() bool { return r.decided })
		if err != nil {
			return nil, err
		}
		// A decision accepted in the task that also fired the timer counts:
		// it must neither be lost to the deadline's action nor wait for the
		// next deadline. (The SDK checks the condition first today; this
		// does not rely on it.)
		if ok || r.decided {
			break wait
		}
		switch d.kind {
		case NotifyReminder:
			r.notifyApprovers(ctx, NotifyReminder, slot, r.notifyTargets(idx, nil), expiry)
		case NotifyEscalation:
			before := r.awaited
			r.openSlot(ctx, idx, since, true)
			r.notifyApprovers(ctx, NotifyEscalation, slot, r.notifyTargets(idx, before), expiry)
		default:
			r.closeSlot(ctx)
			reason := fmt.Sprintf("no decision for slot %q within %s", slot.Role, plan.ExpireAfter)
			r.note(ctx, r.in.InvoiceID, "Payment request expired before release: "+reason+". Nothing was paid.")
			r.notifyRequester(ctx, OutcomeExpired, reason)
			res := r.end(OutcomeExpired, reason)
			return &res, nil
		}
	}
	r.closeSlot(ctx)
	if a := r.reject; a != nil {
		reason := fmt.Sprintf("rejected by %s (%s)", a.Approver, a.Slot)
		if a.Comment != "" {
			reason += ": " + a.Comment
		}
		r.st.Approvals = append(r.st.Approvals, *a)
		r.note(ctx, r.in.InvoiceID, "Payment rejected before release: "+reason+".")
		r.notifyRequester(ctx, OutcomeRejected, reason)
		res := r.end(OutcomeRejected, reason)
		return &res, nil
	}
	return nil, nil
}

// openSlot records that slot idx is awaited and by whom.
func (r *run) openSlot(ctx workflow.Context, idx int, since time.Time, escalated bool) {
	slot := r.plan.Slots[idx]
	r.slot = idx
	r.awaited = awaitedFor(slot, escalated, r.in.RequestedBy, r.st.Approvals, r.strict)
	ids := make([]string, len(r.awaited))
	for i, w := range r.awaited {
		ids[i] = w.ID
	}
	r.st.AwaitingSlot, r.st.PendingApprovers, r.st.AwaitingSince, r.st.Escalated = slot.Role, ids, &since, escalated
	r.setStage(ctx, StageAwaitingApproval, fmt.Sprintf("Awaiting approval (%s) from %s since %s",
		slot.Role, strings.Join(ids, ", "), since.Format(time.RFC3339)))
	r.upsert(ctx, SAPendingApprovers.ValueSet(ids))
}

func (r *run) closeSlot(ctx workflow.Context) {
	if r.slot < 0 && r.st.PendingApprovers == nil {
		return
	}
	r.slot, r.awaited = -1, nil
	r.st.AwaitingSlot, r.st.PendingApprovers, r.st.AwaitingSince, r.st.Escalated = "", nil, nil, false
	r.upsert(ctx, SAPendingApprovers.ValueUnset())
}

// notifyTargets lists whom to email for slot idx: awaited people except
// absent candidates (their delegate is asked instead) and except those in
// already, who were notified before.
func (r *run) notifyTargets(idx int, already []awaitee) []string {
	slot := r.plan.Slots[idx]
	var out []string
	for _, w := range r.awaited {
		absent := w.OnBehalfOf == "" && slices.ContainsFunc(slot.Candidates, func(c ApprovalCandidate) bool {
			return c.ID == w.ID && c.Delegate != ""
		})
		notified := slices.ContainsFunc(already, func(o awaitee) bool { return o.ID == w.ID })
		if !absent && !notified {
			out = append(out, w.ID)
		}
	}
	return out
}

// notifyApprovers emails approval links. A failure is logged, not fatal: the
// approvers can still decide in the UI and the next reminder tries again.
func (r *run) notifyApprovers(ctx workflow.Context, kind string, slot ApprovalSlot, people []string, expiry time.Time) {
	if len(people) == 0 || r.st.Action == nil {
		return
	}
	req := NotifyApproversRequest{
		WorkflowID: r.wfID, Kind: kind, Slot: slot.Role, Approvers: people,
		Action: *r.st.Action, ActionDigest: r.st.ActionDigest, ApprovalReason: r.st.ApprovalReason, Deadline: expiry,
	}
	if err := r.exec(ctx, r.cfg.Notify, ActivityNotifyApprovers, req, nil); err != nil {
		r.logger.Error("Notifying approvers failed", "kind", kind, "approvers", people, "error", err)
	}
}

// notifyRequester tells the requester how the request ended; agents are not
// emailed (the activity skips them) and a failure is only logged.
func (r *run) notifyRequester(ctx workflow.Context, outcome, reason string) {
	if isAgent(r.in.RequestedBy) {
		return
	}
	req := NotifyRequesterRequest{WorkflowID: r.wfID, RequestedBy: r.in.RequestedBy, InvoiceID: r.in.InvoiceID, Outcome: outcome, Reason: reason}
	if err := r.exec(ctx, r.cfg.Notify, ActivityNotifyRequester, req, nil); err != nil {
		r.logger.Error("Notifying requester failed", "requestedBy", r.in.RequestedBy, "error", err)
	}
}

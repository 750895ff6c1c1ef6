package approvals

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

	"github.com/execution-orchestrator/orchestrator/proof"
)

// Rules are the versions of the approval rules an execution applies. They
// are fixed once at the start of a run (workflow.GetVersion), so executions
// started under older code keep the rules their histories recorded.
type Rules struct {
	// Strict compares people without case and channel prefix ("cli:Maria"
	// is maria) and decodes signals strictly.
	Strict bool
	// RequireProof accepts a decision only with a verified proof of who
	// made it (Request.Proof).
	RequireProof bool
}

// awaitee is a person who may decide on the awaited slot, possibly on behalf
// of a candidate (as delegate or escalation target).
type awaitee struct {
	ID         string
	OnBehalfOf string
}

// view is what the approval rules look at.
type view struct {
	Stage        string
	Slot         string // role awaited; "" when no decision is awaited
	Awaited      []awaitee
	RequestedBy  string
	ActionDigest string
	Approvals    []Approval
	Rules        Rules
	// For proofs: the run they must be made for, whom to trust, when now is
	// and which nonces were used already in this run.
	WorkflowID, RunID string
	Trust             proof.Trust
	Now               time.Time
	UsedNonces        []string
	// CodeFailures counts refused one-time codes per person in this run.
	CodeFailures map[string]int
}

// MaxCodeFailures is how many wrong one-time codes a person may send in a
// run before codes are refused without a check: each check is a guess at a
// six-digit secret, and each refused Update still uses up history.
const MaxCodeFailures = 3

// verdict is what check concludes about an acceptable request.
type verdict struct {
	OnBehalfOf string
	Proof      *Proof // the verified proof; nil when none is required
	// NeedsCode: the proof is a one-time code that an activity must check
	// (and turn into a signed assertion) before the decision counts.
	NeedsCode bool
}

// check applies the approval rules to req. It is the single rule set for the
// Update validator, the Update handler and the Signal handler: it is pure
// (no I/O, no clock but v.Now), so it fits the validator.
func check(req Request, v view) (verdict, error) {
	if err := checkShape(req, v.Rules.RequireProof); err != nil {
		return verdict{}, err
	}
	strict := v.Rules.Strict || v.Rules.RequireProof
	switch {
	case isAgent(req.Approver) || strict && isAgent(personKey(req.Approver)):
		return verdict{}, fmt.Errorf("approver: %q is an agent; only people may decide", req.Approver)
	case samePerson(req.Approver, v.RequestedBy, strict):
		return verdict{}, fmt.Errorf("approver: %q requested this action (as %q) and cannot decide on it", req.Approver, v.RequestedBy)
	case v.Slot == "":
		return verdict{}, fmt.Errorf("no decision is awaited (stage %s)", v.Stage)
	case req.ActionDigest != v.ActionDigest:
		return verdict{}, fmt.Errorf("actionDigest: %q is not the current action %q", req.ActionDigest, v.ActionDigest)
	}
	for _, a := range v.Approvals {
		if samePerson(a.Approver, req.Approver, strict) {
			return verdict{}, fmt.Errorf("approver: %q already approved slot %q; one person cannot fill two slots", req.Approver, a.Slot)
		}
	}
	var out verdict
	found := false
	ids := make([]string, 0, len(v.Awaited))
	for _, w := range v.Awaited {
		if w.ID == req.Approver {
			out.OnBehalfOf, found = w.OnBehalfOf, true
			break
		}
		ids = append(ids, w.ID)
	}
	if !found {
		return verdict{}, fmt.Errorf("approver: %q may not decide on slot %q (awaiting %s)", req.Approver, v.Slot, strings.Join(ids, ", "))
	}
	if !v.Rules.RequireProof {
		return out, nil
	}
	p := strings.TrimSpace(req.Proof)
	switch {
	case p == "":
		return verdict{}, errors.New("proof: required; sign in to the web app, use `orchestrator approve` with your key, or put the six-digit code from your authenticator app in \"proof\"")
	case IsOneTimeCode(p):
		if v.CodeFailures[personKey(req.Approver)] >= MaxCodeFailures {
			return verdict{}, fmt.Errorf("proof: %d wrong one-time codes for %q in this run; decide in the web app or with your key", MaxCodeFailures, req.Approver)
		}
		out.NeedsCode = true
		return out, nil
	}
	a, err := proof.Verify(p, v.Trust, proof.Expect{
		Kind: proof.KindApproval, WorkflowID: v.WorkflowID, RunID: v.RunID, Slot: v.Slot,
		ActionDigest: v.ActionDigest, Decision: req.Decision, Subject: req.Approver,
	}, v.Now)
	if err != nil {
		return verdict{}, err
	}
	if slices.Contains(v.UsedNonces, a.Nonce) {
		return verdict{}, fmt.Errorf("proof.nonce: already used in this run; a proof admits one decision")
	}
	out.Proof = &Proof{Method: a.Method, KeyID: a.KeyID, Nonce: a.Nonce, Token: p}
	return out, nil
}

// checkShape refuses malformed requests, naming the field. The length caps
// came with proven approvals; executions before them accepted any length.
func checkShape(req Request, capped bool) error {
	switch {
	case req.Decision != DecisionApprove && req.Decision != DecisionReject:
		return fmt.Errorf("decision: must be %q or %q, got %q", DecisionApprove, DecisionReject, clip(req.Decision))
	case strings.TrimSpace(req.Approver) == "":
		return errors.New("approver: required")
	case !capped:
		return nil
	case len(req.Approver) > MaxApproverLen:
		return fmt.Errorf("approver: longer than %d bytes", MaxApproverLen)
	case len(req.Comment) > MaxCommentLen:
		return fmt.Errorf("comment: longer than %d bytes", MaxCommentLen)
	case len(req.ActionDigest) > MaxDigestLen:
		return fmt.Errorf("actionDigest: longer than %d bytes", MaxDigestLen)
	case len(req.Proof) > MaxProofLen:
		return fmt.Errorf("proof: longer than %d bytes", MaxProofLen)
	}
	return nil
}

// clip shortens a value quoted in an error, so a huge field is not repeated
// into the status.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// IsOneTimeCode reports whether s is a six-digit authenticator code.
func IsOneTimeCode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isAgent(id string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(id)), "agent:")
}

// IsAgent reports whether id names an AI agent ("agent:<name>"), which may
// propose but never decide.
func IsAgent(id string) bool { return isAgent(id) }

// PersonKey is the identity a person is compared by under the strict rules:
// lower case, without leading "<scheme>:" prefixes such as "cli:" or
// "user:", which name the channel a request came through, not the person.
// "agent:" is kept, because an agent is never the person of the same name.
func PersonKey(id string) string { return personKey(id) }

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
func awaitedFor(slot Slot, escalated bool, requester string, approvals []Approval, strict bool) []awaitee {
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

// FirstOpenSlot returns the index of the first slot no approval fills, or -1.
// Approvals fill slots of their role in order, so a plan may repeat a role.
func FirstOpenSlot(plan Plan, approvals []Approval) int {
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

// decodeSignal decodes an "approval" signal payload; the error names the
// offending field where there is one. The request is returned even on error,
// filled as far as it decoded, so the refusal can say who sent it. Unknown
// fields are refused only under the strict rules: before, the SDK's decoding
// ignored them and such a signal could be accepted, which histories recorded.
func decodeSignal(raw json.RawMessage, strict bool) (Request, error) {
	var req Request
	if len(bytes.TrimSpace(raw)) == 0 {
		return req, fmt.Errorf("payload: empty; want a JSON object with decision, approver, actionDigest and proof")
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
		return req, fmt.Errorf("%s: unknown field; an approval has decision, approver, comment, actionDigest and proof", clip(field))
	}
	return req, fmt.Errorf("payload: %v", err)
}

// deadline is a point at which the wait for a slot acts.
type deadline struct {
	at   time.Time
	kind string // NotifyReminder, NotifyEscalation or "expire"
}

func slotDeadlines(plan Plan, since time.Time, escalated bool) []deadline {
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

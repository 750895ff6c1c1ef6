package web

// The audit view: "what happened to invoice X, and who approved it" on one
// page, from the audit ledger's history of a business key (the web twin of
// `orchestrator audit show`).

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/execution-orchestrator/orchestrator/audit"
)

// maxAuditKey bounds a business key in an audit URL.
const maxAuditKey = 200

// maxAuditRows bounds the entries one audit page shows (the newest are
// kept); `orchestrator audit show` reads them all.
const maxAuditRows = 1000

// auditTimeLayout is how the operations and audit views show a time.
const auditTimeLayout = "2006-01-02 15:04:05 MST"

// validAuditKey says what is wrong with a business key from a URL, or "".
func validAuditKey(key string) string {
	switch {
	case key == "":
		return "key: empty."
	case len(key) > maxAuditKey:
		return fmt.Sprintf("key: longer than %d bytes.", maxAuditKey)
	case !utf8.ValidString(key):
		return "key: not valid UTF-8."
	case strings.ContainsFunc(key, func(r rune) bool { return unicode.IsControl(r) || r == utf8.RuneError }):
		return "key: contains control characters."
	case strings.Contains(key, ".."), strings.ContainsRune(key, '\\'):
		return `key: may not contain ".." or "\".`
	case strings.TrimSpace(key) != key:
		return "key: starts or ends with a space."
	}
	return ""
}

type auditRun struct {
	WorkflowID, Process string
	TemporalURL         string
}

type auditApproval struct {
	Approver   personView
	OnBehalfOf string
	Slot       string
	Decision   string
	At         string
	Waited     string
	Comment    string
	Proof      string
	Verified   bool
	// WorkflowID: shown when the key has several runs, since business
	// keys are not unique across processes (a task may be named like an
	// invoice) and an approval must not pass for another run's.
	WorkflowID string
}

type auditOutcome struct {
	Outcome, Reason, At string
	Autonomous          bool
	WorkflowID          string
}

type auditCheck struct {
	What, Detail, At string
	Verified         bool
}

type auditRow struct {
	Seq        int64
	At         string
	Kind       string
	Actor      string
	Summary    string
	WorkflowID string
	Details    []actionField
	// Class marks the row: "outcome", "deny", "problem", "ok" or "".
	Class string
}

type auditView struct {
	Key         string
	Processes   string
	Runs        []auditRun
	Outcomes    []auditOutcome
	Approvals   []auditApproval
	Checks      []auditCheck
	SideEffects []string
	Rows        []auditRow
	Hidden      int // older entries not shown
	ManyRuns    bool
	Head        string // hash of the last entry shown
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if msg := validAuditKey(key); msg != "" {
		s.fail(w, r, http.StatusBadRequest, "Bad request", msg)
		return
	}
	me, ok := s.requireOps(w, r)
	if !ok {
		return
	}
	if s.ops.audit == nil {
		s.fail(w, r, http.StatusNotFound, "Not available", "The audit ledger is not configured on this server.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	entries, err := s.ops.audit.History(ctx, key)
	if err != nil {
		s.log.ErrorContext(r.Context(), "read audit history", "key", key, "err", err)
		s.fail(w, r, http.StatusBadGateway, "Audit unavailable", "Could not read the audit ledger: "+err.Error())
		return
	}
	if len(entries) == 0 {
		s.fail(w, r, http.StatusNotFound, "Nothing recorded", fmt.Sprintf("The audit ledger has nothing for %q.", key))
		return
	}
	pg := s.newPage(w, r, "Audit of "+key, me)
	pg.Data = s.auditViewOf(key, entries)
	s.render(w, r, http.StatusOK, "audit", pg)
}

// auditViewOf builds the audit page of a key's entries, oldest first.
func (s *Server) auditViewOf(key string, entries []audit.Entry) auditView {
	entries = slices.Clone(entries)
	slices.SortStableFunc(entries, func(a, b audit.Entry) int {
		if c := a.Event.At.Compare(b.Event.At); c != 0 {
			return c
		}
		return compareInt(a.Seq, b.Seq)
	})
	v := auditView{Key: key}
	if n := len(entries); n > maxAuditRows {
		v.Hidden = n - maxAuditRows
		entries = entries[n-maxAuditRows:]
	}
	var processes []string
	for _, e := range entries {
		ev := e.Event
		if ev.Process != "" && !slices.Contains(processes, ev.Process) {
			processes = append(processes, ev.Process)
		}
		if ev.WorkflowID != "" && !slices.ContainsFunc(v.Runs, func(r auditRun) bool { return r.WorkflowID == ev.WorkflowID }) {
			v.Runs = append(v.Runs, auditRun{WorkflowID: ev.WorkflowID, Process: ev.Process, TemporalURL: s.ops.temporalLink(ev.WorkflowID)})
		}
		v.Rows = append(v.Rows, s.auditRowOf(e, &v))
		v.Head = e.Hash
	}
	v.Processes = strings.Join(processes, ", ")
	v.ManyRuns = len(v.Runs) > 1
	return v
}

// actorText names an actor: a person of the directory by name.
func (s *Server) actorText(actor string) string {
	if p, ok := s.dir.Person(actor); ok {
		return p.Name + " (" + p.ID + ")"
	}
	return actor
}

// proofText says how a decision was proven.
func proofText(p audit.ProofData) string {
	var how []string
	if p.Method != "" {
		how = append(how, p.Method)
	}
	if p.KeyID != "" {
		how = append(how, "key "+p.KeyID)
	}
	if p.Issuer != "" {
		how = append(how, "issuer "+p.Issuer)
	}
	text := "proof NOT verified"
	if p.Verified {
		text = "proof verified"
	}
	if len(how) > 0 {
		text += " (" + strings.Join(how, ", ") + ")"
	}
	return text
}

// auditRowOf is one entry as the table shows it; it also fills the
// summary of v (outcomes, approvals, checks, side effects).
func (s *Server) auditRowOf(e audit.Entry, v *auditView) auditRow {
	ev := e.Event
	at := ev.At.UTC().Format(auditTimeLayout)
	row := auditRow{Seq: e.Seq, At: at, Kind: string(ev.Kind), Actor: s.actorText(ev.Actor), Summary: ev.Summary, WorkflowID: ev.WorkflowID}
	add := func(name, value string) {
		if value != "" {
			row.Details = append(row.Details, actionField{Name: name, Value: value})
		}
	}
	unreadable := func(err error) auditRow {
		row.Class = "problem"
		add("data", "unreadable: "+err.Error())
		return row
	}
	switch ev.Kind {
	case audit.KindProposed:
		var d audit.ProposedData
		if err := decodeData(ev, &d); err != nil {
			return unreadable(err)
		}
		add("action", d.ActionKind)
		add("target", d.Target)
		req := d.RequestedBy
		if req != "" {
			if d.RequesterVerified {
				req += " (verified)"
			} else {
				req += " (not verified)"
			}
		}
		add("requested by", req)
		add("action digest", d.ActionDigest)
	case audit.KindGate:
		var d audit.GateData
		if err := decodeData(ev, &d); err != nil {
			return unreadable(err)
		}
		decision := "permit"
		if !d.Permit {
			decision, row.Class = "deny", "deny"
		}
		add("decision", decision)
		add("where", d.Where)
		for _, r := range d.Reasons {
			kind := "hard"
			if r.Approval {
				kind = "people may lift it"
			}
			text := r.Policy + " (" + kind + ")"
			if r.Message != "" {
				text += ": " + r.Message
			}
			add("denied by", text)
		}
		add("policy set", d.PolicySetHash)
		add("action digest", d.ActionDigest)
	case audit.KindApproval:
		var d audit.ApprovalData
		if err := decodeData(ev, &d); err != nil {
			return unreadable(err)
		}
		ap := auditApproval{Approver: s.personView(ev.Actor), OnBehalfOf: d.OnBehalfOf, Slot: d.Slot, Decision: d.Decision, At: at,
			Comment: d.Comment, Proof: proofText(d.Proof), Verified: d.Proof.Verified, WorkflowID: ev.WorkflowID}
		if d.WaitedSeconds > 0 {
			ap.Waited = waitText(seconds(d.WaitedSeconds))
		}
		v.Approvals = append(v.Approvals, ap)
		add("decision", d.Decision)
		add("slot", d.Slot)
		if d.OnBehalfOf != "" {
			add("on behalf of", s.actorText(d.OnBehalfOf))
		}
		add("proof", ap.Proof)
		add("waited", ap.Waited)
		add("comment", d.Comment)
		add("action digest", d.ActionDigest)
		if !d.Proof.Verified {
			row.Class = "problem"
		}
	case audit.KindHandoff:
		var d audit.HandoffData
		if err := decodeData(ev, &d); err != nil {
			return unreadable(err)
		}
		add("why", d.Why)
		add("from", strings.Join(d.From, ", "))
		add("to", strings.Join(d.To, ", "))
		add("role", d.Role)
	case audit.KindEvidence:
		var d audit.EvidenceData
		if err := decodeData(ev, &d); err != nil {
			return unreadable(err)
		}
		if d.Accepted {
			add("verdict", "accepted")
		} else {
			add("verdict", "rejected")
			row.Class = "problem"
		}
		if len(d.Items) > 0 {
			add("files", fmt.Sprintf("%d", len(d.Items)))
		}
		add("problems", strings.Join(d.Problems, "; "))
	case audit.KindSideEffect:
		var d audit.SideEffectData
		if err := decodeData(ev, &d); err != nil {
			return unreadable(err)
		}
		add("system", d.System)
		add("operation", d.Operation)
		add("reference", d.Reference)
		if d.Currency != "" {
			add("amount", money(d.AmountMinor, d.Currency))
		}
		add("idempotency key", d.IdempotencyKey)
		se := strings.TrimSpace(d.System + " " + d.Operation)
		if d.Reference != "" {
			se += " (" + d.Reference + ")"
		}
		v.SideEffects = append(v.SideEffects, se+" at "+at)
	case audit.KindVerification:
		var d audit.VerificationData
		if err := decodeData(ev, &d); err != nil {
			return unreadable(err)
		}
		add("what", d.What)
		if d.Verified {
			add("verified", "yes")
			row.Class = "ok"
		} else {
			add("verified", "NO")
			row.Class = "problem"
		}
		add("detail", d.Detail)
		v.Checks = append(v.Checks, auditCheck{What: d.What, Detail: d.Detail, At: at, Verified: d.Verified})
	case audit.KindException:
		var d audit.ExceptionData
		if err := decodeData(ev, &d); err != nil {
			return unreadable(err)
		}
		add("reason", d.Reason)
		add("to", strings.Join(d.To, ", "))
		row.Class = "problem"
	case audit.KindOutcome:
		var d audit.OutcomeData
		if err := decodeData(ev, &d); err != nil {
			return unreadable(err)
		}
		add("outcome", d.Outcome)
		add("reason", d.Reason)
		if d.Autonomous {
			add("autonomous", "yes: no person was asked")
		} else {
			add("autonomous", "no")
		}
		row.Class = "outcome"
		v.Outcomes = append(v.Outcomes, auditOutcome{Outcome: d.Outcome, Reason: d.Reason, At: at, Autonomous: d.Autonomous, WorkflowID: ev.WorkflowID})
	}
	if len(ev.Links) > 0 {
		add("linked runs", strings.Join(ev.Links, ", "))
	}
	return row
}

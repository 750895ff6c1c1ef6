package customerescalation

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/connectors/ticketing"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
)

const (
	maxRefused  = 20
	maxTimeline = 200
	maxMessage  = 4000
)

// CustomerEscalation is the workflow.
type CustomerEscalation struct{ cfg Config }

// New returns the workflow; zero options take the defaults.
func New(cfg Config) *CustomerEscalation {
	def := DefaultConfig()
	for _, o := range []struct{ got, want *workflow.ActivityOptions }{{&cfg.Read, &def.Read}, {&cfg.Write, &def.Write}, {&cfg.Notify, &def.Notify}, {&cfg.Delivery, &def.Delivery}} {
		if o.got.StartToCloseTimeout <= 0 && o.got.ScheduleToCloseTimeout <= 0 {
			*o.got = *o.want
		}
	}
	return &CustomerEscalation{cfg: cfg}
}

// RequestDigest is the digest an EscalationRequest's proof is made over:
// the request without its proof.
func RequestDigest(req EscalationRequest) (string, error) {
	req.Proof = ""
	return action.Digest(req)
}

// ProofDecision is the decision of every step's proof: proof.KindTask
// knows only accept, decline and submit, so a step is a submission and
// its action is bound by the digest (RequestDigest covers Action).
const ProofDecision = proof.TaskSubmit

// CustomerDigest is what the customer's link token of a cycle is bound to.
func CustomerDigest(ref string, cycle int) string {
	return fmt.Sprintf("customer-escalation/%s/confirm-cycle-%d", ref, cycle)
}

type pending struct {
	req EscalationRequest
	seq int
}

type run struct {
	cfg    Config
	sla    SLA
	in     Input
	wfID   string
	runID  string
	logger log.Logger
	st     Status
	audit  *audit.Recorder
	id     Identity
	owners Owners
	nonces []string
	// queue of checked steps for the main coroutine; results by seq for
	// the Update handler waiting on them.
	queue   []pending
	seq     int
	results map[int]error
	done    map[int]bool
	// customer answer of the open cycle.
	customer *CustomerAnswer
	// onResolve is called with who resolved, once verified.
	onResolve         func(by string)
	requesterVerified bool
}

var (
	refRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	accountRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

func bad(field, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(field+": "+fmt.Sprintf(format, args...), ErrTypeInvalidInput, nil)
}

// validateInput checks what anyone reaching the frontend could send; the
// error names the field.
func validateInput(in Input) error {
	switch {
	case !refRE.MatchString(in.Ref):
		return bad("ref", "%q is not an id (1-64 letters, digits, '.', '_', '-')", in.Ref)
	case !accountRE.MatchString(in.AccountID):
		return bad("accountId", "%q is not an account id", in.AccountID)
	case in.Severity != Sev1 && in.Severity != Sev2 && in.Severity != Sev3:
		return bad("severity", "%q is not sev1, sev2 or sev3", in.Severity)
	case in.Trigger != TriggerTicket && in.Trigger != TriggerHealth && in.Trigger != TriggerAgent:
		return bad("trigger", "%q is not ticket, health or agent", in.Trigger)
	case in.Trigger == TriggerTicket && in.TicketID == "":
		return bad("ticketId", "required when the trigger is a ticket")
	case in.TicketID != "" && !refRE.MatchString(in.TicketID):
		return bad("ticketId", "%q is not a ticket id", in.TicketID)
	case strings.TrimSpace(in.Summary) == "" || len(in.Summary) > 500:
		return bad("summary", "required, at most 500 bytes")
	case strings.TrimSpace(in.RequestedBy) == "" || len(in.RequestedBy) > 128:
		return bad("requestedBy", "required, at most 128 bytes")
	case len(in.RequesterProof) > proof.MaxTokenLen:
		return bad("requesterProof", "longer than %d bytes", proof.MaxTokenLen)
	}
	return nil
}

// Run is the workflow function.
func (w *CustomerEscalation) Run(ctx workflow.Context, in Input) (Result, error) {
	info := workflow.GetInfo(ctx)
	r := &run{cfg: w.cfg, sla: w.cfg.sla(in.Severity), in: in, wfID: info.WorkflowExecution.ID, runID: info.WorkflowExecution.RunID,
		logger: workflow.GetLogger(ctx), results: map[int]error{}, done: map[int]bool{}}
	r.audit = audit.NewRecorder(ctx, ProcessName, in.Ref)
	r.st = Status{Ref: in.Ref, AccountID: in.AccountID, Severity: in.Severity, Trigger: in.Trigger, Summary: in.Summary,
		RequestedBy: in.RequestedBy, SupportTicket: in.TicketID, Stage: StageAssigning, SLAState: SLAOK}
	if err := r.register(ctx); err != nil {
		return Result{}, err
	}
	if err := validateInput(in); err != nil {
		r.st.Stage, r.st.Outcome, r.st.Reason = StageDone, OutcomeFailed, err.Error()
		return Result{}, err
	}
	r.upsert(ctx, process.SAProcess.ValueSet(ProcessName), process.SABusinessKey.ValueSet(in.Ref), process.SARequester.ValueSet(in.RequestedBy),
		process.SAAccount.ValueSet(in.AccountID), process.SASeverity.ValueSet(in.Severity), process.SASLAState.ValueSet(SLAOK),
		process.SAStage.ValueSet(StageAssigning))
	outcome, reason, err := r.execute(ctx)
	if ctx.Err() != nil {
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		r.event(dctx, "Cancelled while "+r.st.Stage)
		r.post(dctx, "cancelled", fmt.Sprintf(":no_entry: Escalation %s for %s was cancelled.", in.Ref, r.accountName()))
		r.close(dctx, OutcomeCancelled, "cancelled while "+r.st.Stage)
		return r.st, ctx.Err()
	}
	if err != nil {
		r.finish(ctx, OutcomeFailed, err.Error())
		return r.st, err
	}
	r.close(ctx, outcome, reason)
	return r.st, nil
}

func (r *run) accountName() string {
	if r.owners.AccountName != "" {
		return r.owners.AccountName
	}
	return r.in.AccountID
}

// execute runs the cycles until the escalation is resolved.
func (r *run) execute(ctx workflow.Context) (outcome, reason string, err error) {
	if err := r.exec(ctx, r.cfg.Read, ActivityLoadIdentity, nil, &r.id); err != nil {
		return "", "", fmt.Errorf("load identity: %s", process.FailureMessage(err))
	}
	if r.in.RequesterProof != "" {
		if _, err := proof.Verify(r.in.RequesterProof, r.id.Trust, proof.Expect{Kind: proof.KindStart, WorkflowID: r.wfID, Subject: r.in.RequestedBy},
			workflow.GetInfo(ctx).WorkflowStartTime); err != nil {
			return "", "", temporal.NewNonRetryableApplicationError("requesterProof: "+err.Error(), ErrTypeInvalidInput, nil)
		}
		r.requesterVerified = true
	}
	r.audit.Record(ctx, audit.KindProposed, r.in.RequestedBy, fmt.Sprintf("Escalation %s (%s) for %s requested by %s: %s", r.in.Ref, r.in.Severity, r.in.AccountID, r.in.RequestedBy, r.in.Summary),
		audit.ProposedData{ActionKind: "customer_escalation", Target: r.in.AccountID, RequestedBy: r.in.RequestedBy, RequesterVerified: r.requesterVerified})
	now := workflow.Now(ctx).UTC()
	if err := r.exec(ctx, r.cfg.Read, ActivityResolveOwners, OwnersRequest{AccountID: r.in.AccountID, At: now}, &r.owners); err != nil {
		return "", "", fmt.Errorf("resolve owners: %s", process.FailureMessage(err))
	}
	r.st.AccountName, r.st.Channel = r.owners.AccountName, r.owners.Channel
	for _, p := range []Person{r.owners.Sales, r.owners.CSM, r.owners.Engineering} {
		if p.ID != "" {
			r.st.Owners = append(r.st.Owners, p)
			r.involve(p.ID)
		}
	}
	r.event(ctx, fmt.Sprintf("Escalation opened (%s, trigger %s) by %s: %s", r.in.Severity, r.in.Trigger, r.in.RequestedBy, r.in.Summary))
	r.hand(ctx, r.owners.Engineering.ID, r.owners.Engineering.Role, "assigned", "engineering on-call")

	// The engineering ticket, opened once.
	var issue ticketing.Issue
	treq := TicketRequest{IdempotencyKey: r.wfID + "/eng-ticket", AccountID: r.in.AccountID, SupportTicket: r.in.TicketID,
		Title: fmt.Sprintf("[%s] %s: %s", r.in.Severity, r.accountName(), r.in.Summary), Priority: priority(r.in.Severity),
		Assignee: r.owners.Engineering.ID, Description: fmt.Sprintf("Customer escalation %s (workflow %s).", r.in.Ref, r.wfID)}
	if err := r.exec(ctx, r.cfg.Write, ActivityOpenTicket, treq, &issue); err != nil {
		return "", "", fmt.Errorf("open engineering ticket: %s", process.FailureMessage(err))
	}
	r.st.EngTicket = issue.ID
	r.audit.Record(ctx, audit.KindSideEffect, "system", "Engineering ticket "+issue.ID+" opened"+linkedTo(r.in.TicketID),
		audit.SideEffectData{System: "ticketing", Operation: "create_issue", Reference: issue.ID, IdempotencyKey: treq.IdempotencyKey})
	r.event(ctx, "Engineering ticket "+issue.ID+" opened"+linkedTo(r.in.TicketID))
	r.post(ctx, "opened", fmt.Sprintf(":rotating_light: %s escalation for %s: %s. Engineering ticket %s. Held by %s.", strings.ToUpper(r.in.Severity), r.accountName(), r.in.Summary, issue.ID, r.st.Holder))
	r.notify(ctx, "opened", r.st.Owners, fmt.Sprintf("[%s] Escalation for %s", r.in.Severity, r.accountName()),
		fmt.Sprintf("%s\nEngineering ticket: %s\nHeld by %s; acknowledge within %s.", r.in.Summary, issue.ID, r.st.Holder, r.sla.AckWithin))

	for {
		r.st.Cycle++
		r.st.OpenStep = fmt.Sprintf("cycle-%d", r.st.Cycle)
		r.st.Acknowledged, r.st.AckedBy = false, ""
		if err := r.awaitAck(ctx); err != nil {
			return "", "", err
		}
		resolvedBy, err := r.work(ctx)
		if err != nil {
			return "", "", err
		}
		answer, err := r.askCustomer(ctx, resolvedBy)
		if err != nil {
			return "", "", err
		}
		switch answer {
		case AnswerConfirmed:
			return OutcomeResolved, "resolved by " + resolvedBy + "; the customer confirmed", nil
		case "":
			return OutcomeResolvedUnconfirmed, fmt.Sprintf("resolved by %s; the customer did not object within %s", resolvedBy, r.sla.ConfirmWithin), nil
		}
		r.reopen(ctx)
	}
}

func linkedTo(t string) string {
	if t == "" {
		return ""
	}
	return ", linked to " + t
}

func priority(sev string) string {
	switch sev {
	case Sev1:
		return ticketing.P1
	case Sev2:
		return ticketing.P2
	}
	return ticketing.P3
}

// awaitAck waits for an acknowledgement within AckWithin; on a breach it
// walks the engineering escalation chain, each step at breach + its After.
func (r *run) awaitAck(ctx workflow.Context) error {
	deadline := workflow.Now(ctx).UTC().Add(r.sla.AckWithin)
	r.st.AckDeadline = &deadline
	r.setStage(ctx, StageAwaitingAck)
	if err := r.serveUntil(ctx, deadline, "acknowledge by "+r.st.Holder, func() bool { return r.st.Acknowledged }); err != nil {
		return err
	}
	if r.st.Acknowledged {
		return nil
	}
	breachAt := workflow.Now(ctx).UTC()
	r.breach(ctx, "ack", r.chainAfter(r.st.Holder, 0))
	for i := 1; i < len(r.owners.Chain) && !r.st.Acknowledged; i++ {
		step := r.owners.Chain[i]
		if err := r.serveUntil(ctx, breachAt.Add(step.After), "escalate to "+step.Person.ID, func() bool { return r.st.Acknowledged }); err != nil {
			return err
		}
		if r.st.Acknowledged {
			break
		}
		if step.Person.ID == r.st.Holder {
			continue
		}
		from := r.st.Holder
		r.involve(step.Person.ID)
		r.hand(ctx, step.Person.ID, step.Person.Role, "escalation", fmt.Sprintf("not acknowledged by %s; %s", from, step.Reason))
		r.breachNotify(ctx, fmt.Sprintf("step-%d", i), step.Person, "ack")
		r.setStage(ctx, StageAwaitingAck)
	}
	// The end of the chain: wait for anyone involved.
	return r.serveUntil(ctx, time.Time{}, "", func() bool { return r.st.Acknowledged })
}

// chainAfter is the first chain step after holder (from index from), or
// the zero Person.
func (r *run) chainAfter(holder string, from int) Person {
	for i := from; i < len(r.owners.Chain); i++ {
		if r.owners.Chain[i].Person.ID != holder {
			return r.owners.Chain[i].Person
		}
	}
	return Person{}
}

// work serves steps while the escalation is worked on, with the customer
// update SLA, until a resolution is verified; it returns who resolved.
func (r *run) work(ctx workflow.Context) (string, error) {
	r.setStage(ctx, StageWorking)
	resolvedBy := ""
	for resolvedBy == "" {
		due := r.nextUpdateDue(ctx)
		var err error
		resolvedBy, err = r.serveResolve(ctx, due)
		if err != nil {
			return "", err
		}
		if resolvedBy == "" && !workflow.Now(ctx).Before(due) {
			r.breach(ctx, "update", r.chainAfter(r.st.Holder, 1))
			next := workflow.Now(ctx).UTC().Add(r.sla.UpdateEvery)
			r.st.NextUpdateDue = &next
		}
	}
	return resolvedBy, nil
}

func (r *run) nextUpdateDue(ctx workflow.Context) time.Time {
	if r.st.NextUpdateDue == nil {
		d := workflow.Now(ctx).UTC().Add(r.sla.UpdateEvery)
		r.st.NextUpdateDue = &d
	}
	return *r.st.NextUpdateDue
}

// serveResolve serves steps until due or a verified resolution.
func (r *run) serveResolve(ctx workflow.Context, due time.Time) (string, error) {
	resolvedBy := ""
	r.onResolve = func(by string) { resolvedBy = by }
	defer func() { r.onResolve = nil }()
	err := r.serveUntil(ctx, due, "customer update due", func() bool { return resolvedBy != "" })
	return resolvedBy, err
}

// serveUntil processes queued steps until done() or deadline (zero: no
// deadline). A cancellation is returned.
func (r *run) serveUntil(ctx workflow.Context, deadline time.Time, summary string, done func() bool) error {
	for !done() {
		cond := func() bool { return len(r.queue) > 0 || done() }
		if deadline.IsZero() {
			if err := workflow.Await(ctx, cond); err != nil {
				return err
			}
		} else {
			left := deadline.Sub(workflow.Now(ctx))
			if left <= 0 {
				if len(r.queue) == 0 {
					return nil
				}
			} else {
				ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: left, TimerOptions: workflow.TimerOptions{Summary: summary}}, cond)
				if err != nil {
					return err
				}
				if !ok {
					return nil
				}
			}
		}
		for len(r.queue) > 0 && !done() {
			p := r.queue[0]
			r.queue = r.queue[1:]
			err := r.apply(ctx, p.req)
			r.results[p.seq], r.done[p.seq] = err, true
		}
	}
	return nil
}

// apply carries out one checked step.
func (r *run) apply(ctx workflow.Context, req EscalationRequest) error {
	actor := "person:" + req.Person
	via := req.Via
	if via == "" {
		via = ViaWeb
	}
	switch req.Action {
	case ActionAck:
		if r.st.Acknowledged {
			return fmt.Errorf("action: already acknowledged by %s", r.st.AckedBy)
		}
		r.st.Acknowledged, r.st.AckedBy = true, req.Person
		met := r.st.SLAState != SLABreached
		if req.Person != r.st.Holder {
			r.hand(ctx, req.Person, "acknowledged", "accepted", "acknowledged via "+via)
		}
		r.audit.Record(ctx, audit.KindHandoff, actor, fmt.Sprintf("Acknowledged by %s via %s (proof verified)", req.Person, via), audit.HandoffData{Why: "accepted", To: []string{req.Person}})
		r.event(ctx, fmt.Sprintf("Acknowledged by %s via %s", req.Person, via))
		if met {
			r.setSLA(ctx, SLAMet)
		}
		r.post(ctx, fmt.Sprintf("ack-%d", r.st.Cycle), fmt.Sprintf(":eyes: %s acknowledged escalation %s.", req.Person, r.in.Ref))
		if r.st.Stage == StageAwaitingAck {
			r.setStage(ctx, StageWorking)
		}
	case ActionReassign:
		from := r.st.Holder
		p := r.known(req.To)
		r.involve(req.To)
		r.hand(ctx, req.To, "reassigned by "+req.Person, "reassigned", req.Message)
		if r.st.EngTicket != "" {
			key := fmt.Sprintf("%s/assign/%d", r.wfID, len(r.st.Handoffs))
			if err := r.exec(ctx, r.cfg.Write, ActivityAssignTicket, AssignRequest{IssueID: r.st.EngTicket, IdempotencyKey: key, Assignee: req.To}, nil); err != nil {
				r.logger.Warn("Ticket not reassigned", "error", err)
			}
		}
		r.notify(ctx, fmt.Sprintf("reassign-%d", len(r.st.Handoffs)), []Person{p}, "Escalation "+r.in.Ref+" reassigned to you",
			fmt.Sprintf("%s handed you the escalation for %s (from %s): %s", req.Person, r.accountName(), from, r.in.Summary))
		r.setStage(ctx, r.st.Stage)
	case ActionUpdate:
		n := len(r.st.Updates) + 1
		mid := messageID(r.wfID, "customer-update", fmt.Sprint(n))
		up := CustomerUpdate{At: workflow.Now(ctx).UTC(), By: req.Person, MessageID: mid}
		mail := CustomerMail{AccountID: r.in.AccountID, To: r.owners.AccountEmail, MessageID: mid,
			Subject: "Update on your issue: " + r.in.Summary, Body: req.Message}
		if err := r.exec(ctx, r.cfg.Notify, ActivitySendCustomerUpdate, mail, nil); err != nil {
			up.Detail = "not sent: " + process.FailureMessage(err)
			r.st.Updates = append(r.st.Updates, up)
			return fmt.Errorf("update not sent: %s", process.FailureMessage(err))
		}
		r.audit.Record(ctx, audit.KindSideEffect, actor, "Customer update sent by "+req.Person, audit.SideEffectData{System: "email", Operation: "send", Reference: mid})
		err := r.exec(ctx, r.cfg.Delivery, ActivityVerifyDelivery, DeliveryCheck{MessageID: mid, Email: r.owners.AccountEmail}, nil)
		up.Delivered = err == nil
		if err != nil {
			up.Detail = "delivery not confirmed: " + process.FailureMessage(err)
			process.RecordVerificationFailure(workflow.GetMetricsHandler(ctx), ProcessName, process.VerificationDelivery)
		}
		process.AuditVerification(ctx, r.audit, process.VerificationDelivery, up.Delivered, mid)
		r.st.Updates = append(r.st.Updates, up)
		if !up.Delivered {
			return errors.New(up.Detail)
		}
		next := workflow.Now(ctx).UTC().Add(r.sla.UpdateEvery)
		r.st.NextUpdateDue = &next
		r.event(ctx, "Customer update by "+req.Person+" delivered")
		r.setStage(ctx, r.st.Stage)
	case ActionResolve:
		if !r.st.Acknowledged {
			return errors.New("action: acknowledge before resolving")
		}
		var is ticketing.Issue
		err := r.exec(ctx, r.cfg.Read, ActivityVerifyResolved, TicketCheck{IssueID: r.st.EngTicket}, &is)
		if err != nil {
			msg := "resolution refused: " + process.FailureMessage(err)
			process.AuditVerification(ctx, r.audit, "ticket_resolved", false, r.st.EngTicket+": "+process.FailureMessage(err))
			r.event(ctx, fmt.Sprintf("%s marked resolved; %s", req.Person, msg))
			return errors.New(msg)
		}
		process.AuditVerification(ctx, r.audit, "ticket_resolved", true, fmt.Sprintf("%s is %s", is.ID, is.Status))
		r.event(ctx, fmt.Sprintf("Marked resolved by %s; %s is %s", req.Person, is.ID, is.Status))
		if r.onResolve != nil {
			r.onResolve(req.Person)
		}
	}
	return nil
}

// askCustomer emails the customer a confirm/object link and waits
// ConfirmWithin; it returns the answer, "" when none came.
func (r *run) askCustomer(ctx workflow.Context, resolvedBy string) (string, error) {
	r.customer = nil
	r.st.NextUpdateDue = nil
	r.setStage(ctx, StageAwaitingCustomer)
	mid := messageID(r.wfID, "ask-customer", fmt.Sprint(r.st.Cycle))
	req := AskRequest{AccountID: r.in.AccountID, To: r.owners.AccountEmail, MessageID: mid, Digest: CustomerDigest(r.in.Ref, r.st.Cycle),
		Summary: r.in.Summary, TTL: r.sla.ConfirmWithin}
	if err := r.exec(ctx, r.cfg.Notify, ActivityAskCustomer, req, nil); err != nil {
		r.event(ctx, "Customer not asked: "+process.FailureMessage(err))
		return "", nil
	}
	r.event(ctx, "Customer asked to confirm the fix")
	ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: r.sla.ConfirmWithin, TimerOptions: workflow.TimerOptions{Summary: "customer may object"}},
		func() bool { return r.customer != nil })
	if err != nil {
		return "", err
	}
	if !ok {
		r.event(ctx, "The customer did not object within "+r.sla.ConfirmWithin.String())
		return "", nil
	}
	ans := r.customer
	r.customer = nil
	r.audit.Record(ctx, audit.KindVerification, "customer:"+r.in.AccountID, "Customer answered: "+ans.Answer,
		audit.VerificationData{What: "customer_confirmation", Verified: ans.Answer == AnswerConfirmed, Detail: ans.Comment})
	r.event(ctx, "Customer answered: "+ans.Answer)
	return ans.Answer, nil
}

// reopen records the cycle's outcome and reopens the engineering ticket.
func (r *run) reopen(ctx workflow.Context) {
	r.st.CycleOutcomes = append(r.st.CycleOutcomes, OutcomeReopened)
	process.AuditOutcome(ctx, r.audit, OutcomeReopened, fmt.Sprintf("cycle %d: the customer says it is not fixed", r.st.Cycle), false)
	req := ReopenRequest{IssueID: r.st.EngTicket, IdempotencyKey: fmt.Sprintf("%s/reopen/%d", r.wfID, r.st.Cycle), By: "orchestrator",
		Comment: "Reopened: the customer says the issue is not fixed."}
	if err := r.exec(ctx, r.cfg.Write, ActivityReopenTicket, req, nil); err != nil {
		r.event(ctx, "Ticket not reopened: "+process.FailureMessage(err))
	}
	r.event(ctx, fmt.Sprintf("Reopened after cycle %d: the customer says it is not fixed", r.st.Cycle))
	r.post(ctx, fmt.Sprintf("reopened-%d", r.st.Cycle), fmt.Sprintf(":repeat: Escalation %s reopened: the customer says it is not fixed. Held by %s.", r.in.Ref, r.st.Holder))
	r.setSLA(ctx, SLAOK)
}

// breach records a missed SLA and tells the holder and next.
func (r *run) breach(ctx workflow.Context, sla string, next Person) {
	process.RecordSLABreach(workflow.GetMetricsHandler(ctx), ProcessName, sla)
	r.setSLA(ctx, SLABreached)
	b := Breach{At: workflow.Now(ctx).UTC(), SLA: sla, Cycle: r.st.Cycle, Holder: r.st.Holder}
	process.AuditException(ctx, r.audit, "sla_breach_"+sla, fmt.Sprintf("%s SLA breached while held by %s", sla, r.st.Holder))
	r.event(ctx, fmt.Sprintf("%s SLA breached while held by %s", sla, r.st.Holder))
	var to []Person
	if h := r.known(r.st.Holder); h.ID != "" {
		to = append(to, h)
	}
	if next.ID != "" {
		to = append(to, next)
	}
	b.Notified = r.notify(ctx, fmt.Sprintf("breach-%s-%d-%d", sla, r.st.Cycle, len(r.st.Breaches)+1), to,
		fmt.Sprintf("[%s] SLA breached (%s): %s", r.in.Severity, sla, r.accountName()), fmt.Sprintf("%s\nHeld by %s.", r.in.Summary, r.st.Holder))
	r.st.Breaches = append(r.st.Breaches, b)
	r.post(ctx, fmt.Sprintf("breach-%s-%d-%d", sla, r.st.Cycle, len(r.st.Breaches)), fmt.Sprintf(":warning: %s SLA breached on escalation %s (held by %s).", sla, r.in.Ref, r.st.Holder))
}

func (r *run) breachNotify(ctx workflow.Context, key string, p Person, sla string) {
	r.notify(ctx, fmt.Sprintf("chain-%s-%d-%s", sla, r.st.Cycle, key), []Person{p}, fmt.Sprintf("[%s] Escalated to you: %s", r.in.Severity, r.accountName()),
		fmt.Sprintf("%s\nNot acknowledged in time; you hold it now.", r.in.Summary))
	r.post(ctx, fmt.Sprintf("chain-%s-%d-%s", sla, r.st.Cycle, key), fmt.Sprintf(":arrow_up: Escalation %s escalated to %s.", r.in.Ref, p.ID))
}

// close adds the CRM note with the timeline and finishes.
func (r *run) close(ctx workflow.Context, outcome, reason string) {
	r.setStage(ctx, StageClosing)
	r.event(ctx, "Outcome: "+outcome+" — "+reason)
	if r.owners.AccountName != "" || r.st.AccountName != "" {
		var b strings.Builder
		fmt.Fprintf(&b, "Escalation %s (%s): %s\nOutcome: %s — %s\n", r.in.Ref, r.in.Severity, r.in.Summary, outcome, reason)
		for _, e := range r.st.Timeline {
			fmt.Fprintf(&b, "%s  %s\n", e.At.Format(time.RFC3339), e.Text)
		}
		note := NoteRequest{AccountID: r.in.AccountID, IdempotencyKey: r.wfID + "/" + r.runID + "/closing-note", Text: b.String()}
		if err := r.exec(ctx, r.cfg.Write, ActivityAddNote, note, nil); err != nil {
			r.logger.Error("Closing note not added", "error", err)
		} else {
			r.audit.Record(ctx, audit.KindSideEffect, "system", "CRM note with the timeline added to "+r.in.AccountID,
				audit.SideEffectData{System: "crm", Operation: "add_note", Reference: r.in.AccountID, IdempotencyKey: note.IdempotencyKey})
		}
	}
	if outcome == OutcomeResolved || outcome == OutcomeResolvedUnconfirmed {
		r.post(ctx, "closed", fmt.Sprintf(":white_check_mark: Escalation %s closed: %s.", r.in.Ref, outcome))
	}
	r.finish(ctx, outcome, reason)
}

func (r *run) finish(ctx workflow.Context, outcome, reason string) {
	r.st.OpenStep = ""
	r.st.Stage, r.st.Outcome, r.st.Reason = StageDone, outcome, reason
	r.upsert(ctx, process.SAStage.ValueSet(StageDone), process.SAOutcome.ValueSet(outcome))
	process.RecordCompleted(workflow.GetMetricsHandler(ctx), ProcessName, outcome, false)
	process.AuditOutcome(ctx, r.audit, outcome, reason, false)
	workflow.SetCurrentDetails(ctx, "**"+outcome+"**: "+reason)
}

// hand makes to the holder, recorded as a handoff.
func (r *run) hand(ctx workflow.Context, to, role, why, note string) {
	now := workflow.Now(ctx).UTC()
	from := r.st.Holder
	r.st.Handoffs = append(r.st.Handoffs, Handoff{At: now, From: from, To: to, Why: why, Note: note})
	r.st.Holder, r.st.HolderRole, r.st.HeldSince = to, role, now
	r.upsert(ctx, process.SAOwner.ValueSet(to))
	data := audit.HandoffData{Why: why, To: []string{to}}
	if from != "" {
		data.From = []string{from}
	}
	summary := fmt.Sprintf("Held by %s (%s)", to, role)
	if from != "" {
		summary = fmt.Sprintf("Handed from %s to %s (%s)", from, to, why)
	}
	if note != "" {
		summary += ": " + note
	}
	r.audit.Record(ctx, audit.KindHandoff, "system", summary, data)
	r.event(ctx, summary)
	r.details(ctx)
}

func (r *run) details(ctx workflow.Context) {
	line := fmt.Sprintf("Held by **%s** (%s) since %s", r.st.Holder, r.st.HolderRole, r.st.HeldSince.Format("15:04"))
	switch {
	case r.st.Stage == StageAwaitingAck && r.st.AckDeadline != nil:
		line += " — acknowledge by " + r.st.AckDeadline.Format("15:04")
	case r.st.Stage == StageWorking && r.st.NextUpdateDue != nil:
		line += " — customer update due " + r.st.NextUpdateDue.Format("15:04")
	case r.st.Stage == StageAwaitingCustomer:
		line += " — awaiting the customer's confirmation"
	}
	if r.st.SLAState == SLABreached {
		line += " — **SLA breached**"
	}
	workflow.SetCurrentDetails(ctx, line)
}

func (r *run) setStage(ctx workflow.Context, stage string) {
	r.st.Stage = stage
	r.upsert(ctx, process.SAStage.ValueSet(stage))
	r.details(ctx)
}

func (r *run) setSLA(ctx workflow.Context, state string) {
	r.st.SLAState = state
	r.upsert(ctx, process.SASLAState.ValueSet(state))
}

func (r *run) event(ctx workflow.Context, text string) {
	r.st.Timeline = append(r.st.Timeline, Event{At: workflow.Now(ctx).UTC(), Text: text})
	if n := len(r.st.Timeline); n > maxTimeline {
		r.st.Timeline = slices.Clone(r.st.Timeline[n-maxTimeline:])
	}
}

func (r *run) involve(id string) {
	if id != "" && !slices.Contains(r.st.Involved, id) {
		r.st.Involved = append(r.st.Involved, id)
	}
}

// known returns what the escalation knows of person id.
func (r *run) known(id string) Person {
	for _, p := range r.st.Owners {
		if p.ID == id {
			return p
		}
	}
	for _, s := range r.owners.Chain {
		if s.Person.ID == id {
			return s.Person
		}
	}
	return Person{ID: id}
}

// post posts to the account's channel once per event; a failure is logged.
func (r *run) post(ctx workflow.Context, event, text string) {
	if r.st.Channel == "" {
		return
	}
	req := PostRequest{Channel: r.st.Channel, IdempotencyKey: r.wfID + "/post/" + event, Text: text}
	if err := r.exec(ctx, r.cfg.Notify, ActivityPost, req, nil); err != nil {
		r.logger.Error("Chat post failed", "event", event, "error", err)
		return
	}
	r.audit.Record(ctx, audit.KindSideEffect, "system", "Posted to #"+r.st.Channel+" ("+event+")",
		audit.SideEffectData{System: "chat", Operation: "post", Reference: r.st.Channel, IdempotencyKey: req.IdempotencyKey})
}

// notify emails people once per key; it returns who was told.
func (r *run) notify(ctx workflow.Context, key string, people []Person, subject, body string) []string {
	if len(people) == 0 {
		return nil
	}
	var told []string
	if err := r.exec(ctx, r.cfg.Notify, ActivityNotify, NotifyRequest{Key: key, People: people, Subject: subject, Body: body}, &told); err != nil {
		r.logger.Error("Notify failed", "key", key, "error", err)
	}
	return told
}

func (r *run) upsert(ctx workflow.Context, updates ...temporal.SearchAttributeUpdate) {
	process.Upsert(ctx, r.logger, updates...)
}

func (r *run) exec(ctx workflow.Context, opts workflow.ActivityOptions, name string, arg, out any) error {
	return process.Exec(ctx, opts, name, arg, out)
}

// register installs the status query, the "escalation" Update (validated,
// so a refused step never enters history) and Signal, and the "customer"
// Signal.
func (r *run) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, StatusQuery, func() (Status, error) { return r.st, nil }); err != nil {
		return fmt.Errorf("register %s query: %w", StatusQuery, err)
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, EscalationUpdate,
		func(ctx workflow.Context, req EscalationRequest) (string, error) {
			nonce, err := r.check(ctx, req)
			if err != nil {
				return "", err
			}
			seq := r.enqueue(req, nonce)
			if err := workflow.Await(ctx, func() bool { return r.done[seq] || r.st.Stage == StageDone }); err != nil {
				return "", err
			}
			if !r.done[seq] {
				return "", errors.New("the escalation ended before the step was carried out")
			}
			res := r.results[seq]
			delete(r.results, seq)
			delete(r.done, seq)
			if res != nil {
				return "", res
			}
			return req.Action, nil
		},
		workflow.UpdateHandlerOptions{
			Validator: func(ctx workflow.Context, req EscalationRequest) error {
				_, err := r.check(ctx, req)
				return err
			},
			Description: "A person's step on this escalation (ack, reassign, update, resolve), proven by the web app",
		})
	if err != nil {
		return fmt.Errorf("register %s update: %w", EscalationUpdate, err)
	}
	ch := workflow.GetSignalChannel(ctx, EscalationSignal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var raw json.RawMessage
			if more := ch.Receive(ctx, &raw); !more {
				return
			}
			var req EscalationRequest
			var nonce string
			err := json.Unmarshal(raw, &req)
			if err == nil {
				nonce, err = r.check(ctx, req)
			}
			if err != nil {
				r.refused(ctx, req.Person, req.Action, err)
				continue
			}
			seq := r.enqueue(req, nonce)
			// Nobody waits on a signal's result: a refusal by the main
			// coroutine is recorded.
			workflow.Go(ctx, func(ctx workflow.Context) {
				if workflow.Await(ctx, func() bool { return r.done[seq] }) == nil {
					if res := r.results[seq]; res != nil {
						r.refused(ctx, req.Person, req.Action, res)
					}
					delete(r.results, seq)
					delete(r.done, seq)
				}
			})
		}
	})
	cch := workflow.GetSignalChannel(ctx, CustomerSignal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var raw json.RawMessage
			if more := cch.Receive(ctx, &raw); !more {
				return
			}
			var ans CustomerAnswer
			err := json.Unmarshal(raw, &ans)
			switch {
			case err != nil:
			case r.st.Stage != StageAwaitingCustomer || r.customer != nil:
				err = fmt.Errorf("stage: the customer is not being asked (stage %s)", r.st.Stage)
			case ans.Answer != AnswerConfirmed && ans.Answer != AnswerNotFixed:
				err = fmt.Errorf("answer: %q is not confirmed or not_fixed", clip(ans.Answer))
			case len(ans.Token) > 512 || len(ans.Comment) > maxMessage:
				err = errors.New("token or comment too long")
			}
			cycle := r.st.Cycle
			if err == nil {
				err = r.exec(ctx, r.cfg.Read, ActivityRedeemCustomer, RedeemRequest{Token: ans.Token, Digest: CustomerDigest(r.in.Ref, cycle)}, nil)
			}
			if err == nil && (r.st.Stage != StageAwaitingCustomer || r.st.Cycle != cycle) {
				err = errors.New("stage: the answer came after the window closed")
			}
			if err != nil {
				r.refused(ctx, "customer:"+r.in.AccountID, ans.Answer, errors.New(process.FailureMessage(err)))
				continue
			}
			r.customer = &ans
		}
	})
	return nil
}

func (r *run) enqueue(req EscalationRequest, nonce string) int {
	r.nonces = append(r.nonces, nonce)
	r.seq++
	r.queue = append(r.queue, pending{req: req, seq: r.seq})
	return r.seq
}

// check applies the rules for a person's step: an open step, an allowed
// action, a known person (never an agent) who is involved, a chat handle
// that is theirs, and a proof of who sent it, used once.
func (r *run) check(ctx workflow.Context, req EscalationRequest) (string, error) {
	switch {
	case r.st.OpenStep == "" || (r.st.Stage != StageAwaitingAck && r.st.Stage != StageWorking):
		return "", fmt.Errorf("step: no step is open (stage %s)", r.st.Stage)
	case req.Step != r.st.OpenStep:
		return "", fmt.Errorf("step: %q is not the open step %q", clip(req.Step), r.st.OpenStep)
	case len(r.queue) >= 5:
		return "", errors.New("busy: too many steps waiting; try again")
	case approvals.IsAgent(req.Person):
		return "", fmt.Errorf("person: %s is an agent; only people act on an escalation", clip(req.Person))
	case len(req.Proof) > proof.MaxTokenLen || len(req.Message) > maxMessage:
		return "", fmt.Errorf("proof or message: too long")
	}
	k, ok := r.knownPerson(req.Person)
	if !ok {
		return "", fmt.Errorf("person: %q is not in the directory", clip(req.Person))
	}
	switch req.Via {
	case "", ViaWeb:
		if req.ChatHandle != "" {
			return "", errors.New("chatHandle: only for via chat")
		}
	case ViaChat:
		handle := strings.ToLower(strings.TrimSpace(req.ChatHandle))
		owner := ""
		for _, p := range r.id.People {
			if p.Chat != "" && p.Chat == handle {
				owner = p.ID
			}
		}
		switch {
		case owner == "":
			return "", fmt.Errorf("chatHandle: %q is not a known chat user", clip(req.ChatHandle))
		case owner != k.ID:
			return "", fmt.Errorf("chatHandle: %s is %s's, not %s's", clip(req.ChatHandle), owner, k.ID)
		}
	default:
		return "", fmt.Errorf("via: %q is not web or chat", clip(req.Via))
	}
	switch req.Action {
	case ActionAck:
		if r.st.Acknowledged || r.hasQueued(ActionAck) {
			return "", fmt.Errorf("action: already acknowledged")
		}
	case ActionReassign:
		to, ok := r.knownPerson(req.To)
		switch {
		case approvals.IsAgent(req.To) || !ok:
			return "", fmt.Errorf("to: %q is not a person in the directory", clip(req.To))
		case to.ID == r.st.Holder:
			return "", fmt.Errorf("to: %s already holds it", to.ID)
		}
	case ActionUpdate:
		if strings.TrimSpace(req.Message) == "" {
			return "", errors.New("message: required for an update")
		}
	case ActionResolve:
		if !r.st.Acknowledged && !r.hasQueued(ActionAck) {
			return "", errors.New("action: acknowledge before resolving")
		}
	default:
		return "", fmt.Errorf("action: %q is not ack, reassign, update or resolve", clip(req.Action))
	}
	if !slices.Contains(r.st.Involved, k.ID) {
		return "", fmt.Errorf("person: %s is not involved in this escalation (owners, the chain reached, or handed to)", k.ID)
	}
	digest, err := RequestDigest(req)
	if err != nil {
		return "", fmt.Errorf("request: %v", err)
	}
	if req.Proof == "" {
		return "", errors.New("proof: required: a step is proven by the web app after sign-in")
	}
	as, err := proof.Verify(req.Proof, r.id.Trust, proof.Expect{
		Kind: proof.KindTask, WorkflowID: r.wfID, RunID: r.runID, Slot: req.Step, ActionDigest: digest, Decision: ProofDecision, Subject: req.Person,
	}, workflow.Now(ctx).UTC())
	if err != nil {
		return "", fmt.Errorf("proof.%v", err)
	}
	if as.Method == proof.MethodService || as.Method == proof.MethodAgentKey {
		return "", fmt.Errorf("proof: method %s does not prove a person", as.Method)
	}
	if slices.Contains(r.nonces, as.Nonce) {
		return "", errors.New("proof: already used")
	}
	return as.Nonce, nil
}

func (r *run) hasQueued(action string) bool {
	return slices.ContainsFunc(r.queue, func(p pending) bool { return p.req.Action == action })
}

func (r *run) knownPerson(id string) (Known, bool) {
	for _, p := range r.id.People {
		if p.ID == id {
			return p, true
		}
	}
	return Known{}, false
}

func (r *run) refused(ctx workflow.Context, who, what string, err error) {
	r.logger.Warn("Ignored escalation signal", "person", clip(who), "reason", err.Error())
	r.st.Refused = append(r.st.Refused, approvals.RejectedMessage{Approver: clip(who), Decision: clip(what), Reason: err.Error(), At: workflow.Now(ctx).UTC()})
	if n := len(r.st.Refused); n > maxRefused {
		r.st.Refused = slices.Clone(r.st.Refused[n-maxRefused:])
	}
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

package onboarding

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// Bounded labels of this process's metrics.
const (
	exceptionNoWorker      = "no_worker_available"
	verificationActivation = "activation"
)

// cleanupTimeout bounds what a cancelled run still does (its CRM note), so
// a cancellation ends promptly even when the CRM is down.
const cleanupTimeout = time.Minute

// CustomerOnboarding is the workflow.
type CustomerOnboarding struct{ cfg Config }

// New returns the workflow with cfg; options without any timeout and
// non-positive durations take the defaults.
func New(cfg Config) *CustomerOnboarding { return &CustomerOnboarding{cfg: cfg.withDefaults()} }

// run is the state of one workflow execution; the query handler and the
// main coroutine share it (Temporal runs them one at a time).
type run struct {
	cfg         Config
	in          Input
	wfID, runID string
	logger      log.Logger
	st          Status
	// audit records this execution's events (none for runs from before
	// audit.ChangeLedger).
	audit *audit.Recorder
}

var (
	refRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	// phoneRE is the CRM's: digits, spaces and + ( ) . / -.
	phoneRE = regexp.MustCompile(`^\+?[0-9(][0-9 ()./-]{3,30}$`)
)

// validateInput checks the input; the error names the field and is a
// non-retryable ApplicationError of type InvalidInput.
func validateInput(in Input) error {
	bad := func(field, format string, args ...any) error {
		return temporal.NewNonRetryableApplicationError(field+": "+fmt.Sprintf(format, args...), ErrTypeInvalidInput, nil)
	}
	oneLine := func(s string) bool {
		return !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
	}
	switch {
	case !refRE.MatchString(in.CustomerRef):
		return bad("customerRef", "%q is not an id (1-64 letters, digits, '.', '_' or '-', starting with a letter or digit)", in.CustomerRef)
	case strings.TrimSpace(in.Name) == "" || len(in.Name) > 200 || !oneLine(in.Name):
		return bad("name", "required, one line of at most 200 bytes")
	case strings.TrimSpace(in.Email) == "":
		return bad("email", "required")
	case !bareAddress(in.Email):
		return bad("email", "%q is not a bare email address (e.g. joana@example.com)", in.Email)
	case in.Phone != "" && !phoneRE.MatchString(in.Phone):
		return bad("phone", "%q is not a phone number (digits, spaces and + ( ) . / -)", in.Phone)
	case strings.TrimSpace(in.Address) == "" || len(in.Address) > 500 || !oneLine(in.Address):
		return bad("address", "required, one line of at most 500 bytes")
	case in.Lat < -90 || in.Lat > 90:
		return bad("lat", "must be between -90 and 90")
	case in.Lon < -180 || in.Lon > 180:
		return bad("lon", "must be between -180 and 180")
	case in.Lat == 0 && in.Lon == 0:
		return bad("lat", "lat and lon of the address are required")
	case !slices.Contains(crm.Plans(), in.Plan):
		return bad("plan", "%q is not one of %s", in.Plan, strings.Join(crm.Plans(), ", "))
	case strings.TrimSpace(in.RequestedBy) == "":
		return bad("requestedBy", "required")
	case len(in.RequestedBy) > 128 || strings.ContainsFunc(in.RequestedBy, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return bad("requestedBy", "%q must be an identity without spaces of at most 128 characters", in.RequestedBy)
	case len(in.RequesterProof) > proof.MaxTokenLen:
		return bad("requesterProof", "longer than %d bytes", proof.MaxTokenLen)
	}
	return nil
}

func bareAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && len(s) <= 254
}

func newSteps() []Step {
	return []Step{{Name: StepAccount}, {Name: StepWelcomeEmail}, {Name: StepIdentity}, {Name: StepActivation}, {Name: StepTimelineNote}}
}

// Run is the workflow function.
func (w *CustomerOnboarding) Run(ctx workflow.Context, in Input) (Result, error) {
	info := workflow.GetInfo(ctx)
	r := &run{cfg: w.cfg, in: in, wfID: info.WorkflowExecution.ID, runID: info.WorkflowExecution.RunID, logger: workflow.GetLogger(ctx),
		st: Status{CustomerRef: in.CustomerRef, Stage: StageCreatingAccount, RequestedBy: in.RequestedBy, Steps: newSteps()}}
	if err := workflow.SetQueryHandler(ctx, StatusQuery, func() (Status, error) { return r.status(), nil }); err != nil {
		return Result{}, fmt.Errorf("register %s query: %w", StatusQuery, err)
	}
	r.audit = audit.NewRecorder(ctx, ProcessName, in.CustomerRef)
	err := validateInput(in)
	if err == nil && r.wfID != WorkflowID(in.CustomerRef) {
		// The account's idempotency key comes from the workflow id: one id
		// per customer is what makes one account per customer.
		err = temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("customerRef: the workflow id must be %s, not %s", WorkflowID(in.CustomerRef), r.wfID), ErrTypeInvalidInput, nil)
	}
	if err == nil && in.RequesterProof != "" {
		err = r.verifyRequester(ctx)
	}
	if err != nil {
		r.st.Stage, r.st.Outcome, r.st.Reason = StageDone, OutcomeFailed, err.Error()
		return Result{}, err
	}
	r.upsert(ctx, process.SAProcess.ValueSet(ProcessName), process.SABusinessKey.ValueSet(in.CustomerRef),
		process.SARequester.ValueSet(in.RequestedBy), process.SAStage.ValueSet(r.st.Stage))
	how := "claimed, no proof"
	if in.RequesterProof != "" {
		how = "proof verified"
	}
	r.audit.Record(ctx, audit.KindProposed, in.RequestedBy, fmt.Sprintf("Onboarding of customer %s requested by %s (%s)", in.CustomerRef, in.RequestedBy, how),
		audit.ProposedData{ActionKind: "customer_onboarding", Target: in.CustomerRef, RequestedBy: in.RequestedBy, RequesterVerified: in.RequesterProof != ""})

	outcome, reason := r.execute(ctx)
	if ctx.Err() != nil && outcome != OutcomeActive {
		// Cancelled: what execute made of its cancelled steps is not the
		// outcome. The clean-up runs in a disconnected context.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		why := "cancelled while " + r.st.Stage
		opts := r.cfg.Read
		opts.ScheduleToCloseTimeout = cleanupTimeout
		if opts.StartToCloseTimeout <= 0 || opts.StartToCloseTimeout > cleanupTimeout {
			opts.StartToCloseTimeout = cleanupTimeout
		}
		r.finish(dctx, OutcomeCancelled, why, opts)
		return Result{}, ctx.Err()
	}
	r.finish(ctx, outcome, reason, r.cfg.Read)
	return r.status(), nil
}

// verifyRequester checks the start's proof of who requested, as of when
// the run started (the keys come from an activity, so it replays).
func (r *run) verifyRequester(ctx workflow.Context) error {
	var trust proof.Trust
	if err := r.exec(ctx, r.cfg.Read, ActivityLoadTrust, struct{}{}, &trust); err != nil {
		return fmt.Errorf("requesterProof: load trusted keys: %s", process.FailureMessage(err))
	}
	if _, err := proof.Verify(r.in.RequesterProof, trust, proof.Expect{Kind: proof.KindStart, WorkflowID: r.wfID, Subject: r.in.RequestedBy},
		workflow.GetInfo(ctx).WorkflowStartTime); err != nil {
		return temporal.NewNonRetryableApplicationError("requesterProof: "+err.Error(), ErrTypeInvalidInput, nil)
	}
	r.st.RequesterVerified = true
	return nil
}

func (r *run) status() Status {
	st := r.st
	st.Steps = slices.Clone(r.st.Steps)
	st.EscalatedTo = slices.Clone(r.st.EscalatedTo)
	return st
}

// execute runs the steps; every one is verified before the next. It
// returns the outcome and, for every outcome but active, the reason; an
// empty outcome means the run was cancelled.
func (r *run) execute(ctx workflow.Context) (outcome, reason string) {
	in := r.in
	// (a) The account, pending until the customer is verified.
	r.setStage(ctx, StageCreatingAccount, fmt.Sprintf("Creating the CRM account of customer **%s**", in.CustomerRef))
	var acc crm.Account
	req := CreateAccountRequest{IdempotencyKey: AccountKey(r.wfID), Account: crm.AccountRequest{
		Name: in.Name, Email: in.Email, Phone: in.Phone, Address: in.Address, Lat: in.Lat, Lon: in.Lon, Plan: in.Plan,
	}}
	if err := r.exec(ctx, r.cfg.Write, ActivityCreateAccount, req, &acc); err != nil {
		msg := process.FailureMessage(err)
		r.step(ctx, StepAccount, func(s *Step) { s.Detail = "failed: " + msg })
		return OutcomeFailed, "create account: " + msg
	}
	r.st.AccountID = acc.ID
	r.audit.Record(ctx, audit.KindSideEffect, "system", "CRM account "+acc.ID+" created, "+acc.Status,
		audit.SideEffectData{System: "crm", Operation: "create_account", Reference: acc.ID, IdempotencyKey: req.IdempotencyKey})
	r.step(ctx, StepAccount, func(s *Step) { s.Done, s.Verified, s.Ref, s.Detail = true, true, acc.ID, "created, "+acc.Status })

	// (b) The welcome email, and proof that the mail system has it.
	msgID := WelcomeMessageID(r.wfID)
	// No address here: current details are not encrypted everywhere they show.
	r.setStage(ctx, StageWelcoming, "Emailing the customer and confirming delivery")
	welcome := WelcomeRequest{MessageID: msgID, AccountID: acc.ID, Name: in.Name, Email: in.Email, Plan: in.Plan, Address: in.Address}
	if err := r.exec(ctx, r.cfg.Notify, ActivitySendWelcome, welcome, nil); err != nil {
		msg := process.FailureMessage(err)
		r.step(ctx, StepWelcomeEmail, func(s *Step) { s.Ref, s.Detail = msgID, "not sent: "+msg })
		if process.HasErrorType(err, ErrTypeUndeliverable) {
			process.RecordVerificationFailure(workflow.GetMetricsHandler(ctx), ProcessName, process.VerificationDelivery)
			return OutcomeCustomerUnreachable, fmt.Sprintf("the welcome email to %s was refused: %s", in.Email, msg)
		}
		return OutcomeFailed, "send welcome email: " + msg
	}
	r.step(ctx, StepWelcomeEmail, func(s *Step) { s.Done, s.Ref, s.Detail = true, msgID, "sent" })
	r.audit.Record(ctx, audit.KindSideEffect, "system", "Welcome email "+msgID+" sent",
		audit.SideEffectData{System: "email", Operation: "send", Reference: msgID, IdempotencyKey: msgID})
	var stored email.StoredMessage
	if err := r.exec(ctx, r.cfg.Delivery, ActivityVerifyDelivery, DeliveryCheck{MessageID: msgID, Email: in.Email}, &stored); err != nil {
		msg := process.FailureMessage(err)
		process.RecordVerificationFailure(workflow.GetMetricsHandler(ctx), ProcessName, process.VerificationDelivery)
		process.AuditVerification(ctx, r.audit, process.VerificationDelivery, false, msgID+": "+msg)
		r.step(ctx, StepWelcomeEmail, func(s *Step) { s.Detail = "sent, delivery not confirmed: " + msg })
		return OutcomeCustomerUnreachable, fmt.Sprintf("the welcome email %s to %s was not delivered: %s", msgID, in.Email, msg)
	}
	r.step(ctx, StepWelcomeEmail, func(s *Step) {
		s.Verified, s.Detail = true, "delivered at "+stored.ReceivedAt.UTC().Format(time.RFC3339)
	})
	process.AuditVerification(ctx, r.audit, process.VerificationDelivery, true, msgID+" delivered at "+stored.ReceivedAt.UTC().Format(time.RFC3339))

	// (c) The customer's identity, verified in person by a field worker.
	taskID := TaskID(acc.ID)
	r.st.TaskID = taskID
	r.setStage(ctx, StageVerifyingIdentity, fmt.Sprintf("Waiting for a field worker to verify the identity of the customer (task `%s`)", taskID))
	r.audit.Record(ctx, audit.KindHandoff, "system", "Identity verification handed to human task "+taskID,
		audit.HandoffData{Why: "child", To: []string{humantask.WorkflowID(taskID)}}, humantask.WorkflowID(taskID))
	res, err := r.verifyIdentity(ctx, acc, taskID)
	if ctx.Err() != nil {
		// Cancelled while the task ran: whatever it ended with, nothing
		// more is done for this customer.
		return "", ""
	}
	if err != nil {
		msg := process.FailureMessage(err)
		r.step(ctx, StepIdentity, func(s *Step) { s.Ref, s.Detail = taskID, "task failed: "+msg })
		return OutcomeFailed, fmt.Sprintf("identity verification task %s: %s", taskID, msg)
	}
	r.st.TaskOutcome, r.st.TaskAssignee = res.Outcome, res.Assignee
	switch res.Outcome {
	case humantask.OutcomeCompleted:
		if res.Accepted == nil || res.Accepted.Overall == evidence.Rejected {
			r.step(ctx, StepIdentity, func(s *Step) { s.Ref, s.Detail = taskID, "completed without accepted evidence" })
			return OutcomeFailed, fmt.Sprintf("identity verification task %s completed without accepted evidence", taskID)
		}
		if matches, ok := res.Answers["name-matches"].(bool); !ok || !matches {
			// Evidence can be in order while the person at the door is not
			// the customer: the field worker's answer decides.
			r.step(ctx, StepIdentity, func(s *Step) {
				s.Done, s.Ref, s.Detail = true, taskID, "the name on the document does not match the customer"
			})
			return OutcomeIdentityNotVerified, fmt.Sprintf("task %s: %s answered that the name on the document does not match", taskID, res.Assignee)
		}
		r.step(ctx, StepIdentity, func(s *Step) {
			s.Done, s.Verified, s.Ref, s.Detail = true, true, taskID, "verified in person by "+res.Assignee
		})
		process.AuditVerification(ctx, r.audit, "identity", true, "verified in person by "+res.Assignee+" (task "+taskID+")")
	case humantask.OutcomeEvidenceRejected:
		r.step(ctx, StepIdentity, func(s *Step) { s.Done, s.Ref, s.Detail = true, taskID, "evidence rejected: "+res.Reason })
		return OutcomeIdentityNotVerified, fmt.Sprintf("the evidence of identity verification task %s was rejected: %s", taskID, res.Reason)
	case humantask.OutcomeNoWorker:
		r.step(ctx, StepIdentity, func(s *Step) { s.Ref, s.Detail = taskID, "no worker available: "+res.Reason })
		reason := fmt.Sprintf("nobody could verify the identity in person (task %s): %s", taskID, res.Reason)
		suffix := r.escalate(ctx, "Customer "+in.CustomerRef+": nobody can verify the identity in person",
			fmt.Sprintf("The identity of customer %s (%s, account %s) must be verified in person at %s, but task %s found nobody: %s.\n"+
				"The account stays pending until someone verifies the customer; start the onboarding again or verify and activate by hand.",
				in.CustomerRef, in.Name, acc.ID, in.Address, taskID, res.Reason))
		return OutcomeNoWorker, reason + suffix
	default:
		r.step(ctx, StepIdentity, func(s *Step) { s.Ref, s.Detail = taskID, res.Outcome+": "+res.Reason })
		return OutcomeFailed, fmt.Sprintf("identity verification task %s ended %s: %s", taskID, res.Outcome, res.Reason)
	}

	// (d) Activation, recording what verified the customer.
	r.setStage(ctx, StageActivating, fmt.Sprintf("Activating account `%s`", acc.ID))
	act := ActivateRequest{AccountID: acc.ID, VerifiedBy: taskID}
	if err := r.exec(ctx, r.cfg.Write, ActivityActivate, act, &acc); err != nil {
		msg := process.FailureMessage(err)
		r.step(ctx, StepActivation, func(s *Step) { s.Ref, s.Detail = acc.ID, "failed: "+msg })
		return OutcomeFailed, "activate account: " + msg
	}
	r.step(ctx, StepActivation, func(s *Step) { s.Done, s.Ref, s.Detail = true, acc.ID, "activated" })
	r.audit.Record(ctx, audit.KindSideEffect, "system", "CRM account "+acc.ID+" activated (verified by "+taskID+")",
		audit.SideEffectData{System: "crm", Operation: "activate", Reference: acc.ID})

	// (e) The CRM, read again, must show the account active.
	r.setStage(ctx, StageVerifyingActivation, fmt.Sprintf("Confirming the CRM shows account `%s` active", acc.ID))
	if err := r.exec(ctx, r.cfg.Activation, ActivityVerifyActive, act, &acc); err != nil {
		msg := process.FailureMessage(err)
		process.RecordVerificationFailure(workflow.GetMetricsHandler(ctx), ProcessName, verificationActivation)
		process.AuditVerification(ctx, r.audit, verificationActivation, false, acc.ID+": "+msg)
		r.step(ctx, StepActivation, func(s *Step) { s.Detail = "activated, not confirmed: " + msg })
		return OutcomeFailed, fmt.Sprintf("the CRM does not show account %s active: %s", acc.ID, msg)
	}
	r.st.ActivatedAt = acc.ActivatedAt
	r.step(ctx, StepActivation, func(s *Step) { s.Verified, s.Detail = true, "active, verified by "+acc.VerifiedBy })
	process.AuditVerification(ctx, r.audit, verificationActivation, true, "the CRM shows account "+acc.ID+" active")
	return OutcomeActive, ""
}

// verifyIdentity runs the in-person identity check as a HumanTask child
// workflow and returns how it ended.
func (r *run) verifyIdentity(ctx workflow.Context, acc crm.Account, taskID string) (humantask.Result, error) {
	in := r.in
	now := workflow.Now(ctx).UTC()
	taskCtx := map[string]string{
		"customerName": in.Name, "customerRef": in.CustomerRef, "accountId": acc.ID, "email": in.Email, "plan": in.Plan,
	}
	if in.Phone != "" {
		taskCtx["phone"] = in.Phone
	}
	task := humantask.Input{
		TaskID: taskID,
		Title:  "Verify the identity of the customer of account " + acc.ID,
		Instructions: fmt.Sprintf("Meet %s at %s. Check an official photo ID: photograph the ID document at the address, "+
			"record its number, say whether the name on it matches %q, and have the customer sign.", in.Name, in.Address, in.Name),
		Context: taskCtx,
		Skills:  []workforce.Skill{{Name: SkillIDVerification, Level: IDVerificationLevel}},
		Place:   evidence.GeoPoint{Lat: in.Lat, Lon: in.Lon},
		Address: in.Address,
		Start:   now.Add(r.cfg.TaskStartAfter),
		End:     now.Add(r.cfg.TaskStartAfter + r.cfg.TaskWindow),
		Evidence: evidence.Spec{
			Photos: []evidence.PhotoSpec{{Name: "id-document", Prompt: "The customer's ID document, photographed at the address",
				MaxDistanceM: IDPhotoMaxDistanceM, Required: true}},
			Signature: true, SignedBy: in.Name,
			Questions: []evidence.Question{
				{ID: "document-number", Prompt: "Number of the ID document", Type: evidence.QuestionText, Required: true},
				{ID: "name-matches", Prompt: "Does the name on the ID document match " + in.Name + "?", Type: evidence.QuestionBool, Required: true},
			},
		},
		CoordinatorRole: CoordinatorRole,
		RequestedBy:     in.RequestedBy,
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: humantask.WorkflowID(taskID),
		// A rerun of the onboarding (after a failed run) checks the same
		// account again under the same task id.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		// Closing the onboarding cancels the task, so its worker is freed.
		ParentClosePolicy:   enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WaitForCancellation: true,
		StaticSummary:       fmt.Sprintf("Identity verification of customer **%s** (account %s)", in.CustomerRef, acc.ID),
	})
	var res humantask.Result
	err := workflow.ExecuteChildWorkflow(cctx, humantask.Workflow, task).Get(cctx, &res)
	return res, err
}

// escalate tells the field coordinators and returns the reason suffix
// saying so (or that escalating failed too, so the outcome never
// overstates).
func (r *run) escalate(ctx workflow.Context, subject, body string) string {
	r.st.Escalated = true
	process.RecordException(workflow.GetMetricsHandler(ctx), ProcessName, exceptionNoWorker)
	process.AuditException(ctx, r.audit, exceptionNoWorker, subject, CoordinatorRole)
	req := EscalationRequest{WorkflowID: r.wfID, CustomerRef: r.in.CustomerRef, AccountID: r.st.AccountID, TaskID: r.st.TaskID,
		Role: CoordinatorRole, Subject: subject, Body: body}
	var to []string
	if err := r.exec(ctx, r.cfg.Notify, ActivityEscalate, req, &to); err != nil {
		r.logger.Error("Escalation to the field coordinators failed", "accountId", r.st.AccountID, "error", err)
		return " (escalation failed: " + process.FailureMessage(err) + ")"
	}
	r.st.EscalatedTo = to
	return " (escalated to " + strings.Join(to, ", ") + ")"
}

// finish records the outcome, notes the timeline on the account (when there
// is one) and ends the status.
func (r *run) finish(ctx workflow.Context, outcome, reason string, noteOpts workflow.ActivityOptions) {
	r.st.Outcome, r.st.Reason = outcome, reason
	if r.st.AccountID != "" {
		r.setStage(ctx, StageRecording, fmt.Sprintf("Recording the timeline on account `%s`", r.st.AccountID))
		req := NoteRequest{AccountID: r.st.AccountID, IdempotencyKey: NoteKey(r.wfID, r.runID), Text: r.timeline()}
		if err := r.exec(ctx, noteOpts, ActivityAddNote, req, nil); err != nil {
			// The outcome stands regardless; the status says the note is missing.
			r.logger.Error("Recording the CRM note failed", "accountId", r.st.AccountID, "error", err)
			r.step(ctx, StepTimelineNote, func(s *Step) { s.Ref, s.Detail = r.st.AccountID, "failed: "+process.FailureMessage(err) })
		} else {
			r.step(ctx, StepTimelineNote, func(s *Step) { s.Done, s.Ref = true, r.st.AccountID })
		}
	}
	r.st.Stage = StageDone
	r.upsert(ctx, process.SAStage.ValueSet(StageDone), process.SAOutcome.ValueSet(outcome))
	process.RecordCompleted(workflow.GetMetricsHandler(ctx), ProcessName, outcome, !r.st.Escalated)
	process.AuditOutcome(ctx, r.audit, outcome, reason, !r.st.Escalated)
	line := "**" + outcome + "**"
	if reason != "" {
		line += ": " + reason
	} else if r.st.AccountID != "" {
		line += ": account `" + r.st.AccountID + "` active"
	}
	workflow.SetCurrentDetails(ctx, line)
}

// timeline is the CRM note: the outcome and what each step did, when.
func (r *run) timeline() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Customer onboarding %s (run %s) for %s, requested by %s: %s", r.wfID, r.runID, r.in.CustomerRef, r.in.RequestedBy, r.st.Outcome)
	if r.st.Reason != "" {
		fmt.Fprintf(&b, ": %s", r.st.Reason)
	}
	b.WriteString("\n")
	for _, s := range r.st.Steps {
		if s.At == nil || s.Name == StepTimelineNote {
			continue
		}
		state := "not done"
		switch {
		case s.Verified:
			state = "done, verified"
		case s.Done:
			state = "done, not verified"
		}
		fmt.Fprintf(&b, "- %s %s: %s", s.At.UTC().Format(time.RFC3339), s.Name, state)
		if s.Ref != "" {
			fmt.Fprintf(&b, " [%s]", s.Ref)
		}
		if s.Detail != "" {
			fmt.Fprintf(&b, " (%s)", s.Detail)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// step updates the named step and stamps it with the workflow time.
func (r *run) step(ctx workflow.Context, name string, update func(s *Step)) {
	for i := range r.st.Steps {
		if r.st.Steps[i].Name == name {
			update(&r.st.Steps[i])
			at := workflow.Now(ctx).UTC()
			r.st.Steps[i].At = &at
			return
		}
	}
}

func (r *run) exec(ctx workflow.Context, opts workflow.ActivityOptions, name string, arg, out any) error {
	return process.Exec(ctx, opts, name, arg, out)
}

func (r *run) setStage(ctx workflow.Context, stage, details string) {
	r.st.Stage = stage
	r.upsert(ctx, process.SAStage.ValueSet(stage))
	workflow.SetCurrentDetails(ctx, details)
}

func (r *run) upsert(ctx workflow.Context, updates ...temporal.SearchAttributeUpdate) {
	process.Upsert(ctx, r.logger, updates...)
}

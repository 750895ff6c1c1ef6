package humantask

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// Defaults of Input's optional fields.
const (
	DefaultAcceptTimeout   = 15 * time.Minute
	DefaultMaxOffers       = 5
	DefaultMaxSubmissions  = 2
	DefaultCoordinatorRole = "field-coordinator"
	// maxRefused bounds the ignored signals kept in the status.
	maxRefused = 20
	// maxAnswers bounds one submission's answers and files.
	maxAnswers = 50
)

// HumanTask is the workflow.
type HumanTask struct{ cfg Config }

// New returns the workflow; zero options take the defaults.
func New(cfg Config) *HumanTask {
	def := DefaultConfig()
	if cfg.Read.StartToCloseTimeout <= 0 && cfg.Read.ScheduleToCloseTimeout <= 0 {
		cfg.Read = def.Read
	}
	if cfg.Notify.StartToCloseTimeout <= 0 && cfg.Notify.ScheduleToCloseTimeout <= 0 {
		cfg.Notify = def.Notify
	}
	return &HumanTask{cfg: cfg}
}

type run struct {
	cfg    Config
	in     Input
	wfID   string
	runID  string
	logger log.Logger
	st     Status
	ap     *approvals.Waiter
	trust  proof.Trust
	nonces []string
	// step answered by the worker: set by the handler, read by the main
	// coroutine.
	answer *TaskRequest
	// reviewDigest is the digest of the submission under review.
	reviewDigest string
	// audit records this execution's events (none for runs from before
	// audit.ChangeLedger); requesterVerified: a start proof vouched.
	audit             *audit.Recorder
	requesterVerified bool
}

var (
	taskIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	roleRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)
)

// Caps on what one task may ask for.
const (
	maxOffersCap      = 20
	maxSubmissionsCap = 5
)

// validateInput checks what anyone reaching the frontend could send; the
// error names the field.
func validateInput(in Input) error {
	bad := func(field, format string, args ...any) error {
		return temporal.NewNonRetryableApplicationError(field+": "+fmt.Sprintf(format, args...), ErrTypeInvalidInput, nil)
	}
	switch {
	case !taskIDRE.MatchString(in.TaskID):
		return bad("taskId", "%q is not an id (1-64 letters, digits, '.', '_', '-')", in.TaskID)
	case strings.TrimSpace(in.Title) == "" || len(in.Title) > 200:
		return bad("title", "required, at most 200 bytes")
	case len(in.Instructions) > 4000:
		return bad("instructions", "longer than 4000 bytes")
	case len(in.Context) > 30:
		return bad("context", "more than 30 entries")
	case len(in.Skills) == 0:
		return bad("skills", "at least one skill is required")
	case in.Place.Lat < -90 || in.Place.Lat > 90 || in.Place.Lon < -180 || in.Place.Lon > 180 || (in.Place.Lat == 0 && in.Place.Lon == 0):
		return bad("place", "lat/lon of the place are required")
	case in.Start.IsZero() || !in.End.After(in.Start):
		return bad("end", "the window needs a start and an end after it")
	case in.AcceptTimeout < 0 || in.DueAfter < 0 || in.MaxOffers < 0 || in.MaxSubmissions < 0:
		return bad("acceptTimeout", "timeouts and limits cannot be negative")
	case in.MaxOffers > maxOffersCap || in.MaxSubmissions > maxSubmissionsCap:
		// Each offer and submission adds to the history: bounded.
		return bad("maxOffers", "at most %d offers and %d submissions per person", maxOffersCap, maxSubmissionsCap)
	case in.CoordinatorRole != "" && !roleRE.MatchString(in.CoordinatorRole):
		return bad("coordinatorRole", "%q is not a role name", in.CoordinatorRole)
	case strings.TrimSpace(in.RequestedBy) == "" || len(in.RequestedBy) > 128:
		return bad("requestedBy", "required, at most 128 bytes")
	case len(in.RequesterProof) > proof.MaxTokenLen:
		return bad("requesterProof", "longer than %d bytes", proof.MaxTokenLen)
	}
	for i, s := range in.Skills {
		if s.Name == "" || s.Level < 1 || s.Level > 5 {
			return bad(fmt.Sprintf("skills[%d]", i), "a name and a level from 1 to 5")
		}
	}
	for k, v := range in.Context {
		if len(k) > 64 || len(v) > 1000 {
			return bad("context", "keys up to 64 and values up to 1000 bytes")
		}
	}
	if err := evidence.ValidateSpec(in.Evidence); err != nil {
		return bad("evidence", "%v", err)
	}
	return nil
}

// Run is the workflow function.
func (w *HumanTask) Run(ctx workflow.Context, in Input) (Result, error) {
	info := workflow.GetInfo(ctx)
	r := &run{cfg: w.cfg, in: in, wfID: info.WorkflowExecution.ID, runID: info.WorkflowExecution.RunID, logger: workflow.GetLogger(ctx)}
	r.st = Status{TaskID: in.TaskID, Title: in.Title, Instructions: in.Instructions, Address: in.Address, Place: in.Place,
		Start: in.Start, End: in.End, Evidence: in.Evidence, RequestedBy: in.RequestedBy, Stage: StageRouting}
	if r.in.AcceptTimeout == 0 {
		r.in.AcceptTimeout = DefaultAcceptTimeout
	}
	if r.in.MaxOffers == 0 {
		r.in.MaxOffers = DefaultMaxOffers
	}
	if r.in.MaxSubmissions == 0 {
		r.in.MaxSubmissions = DefaultMaxSubmissions
	}
	if r.in.CoordinatorRole == "" {
		r.in.CoordinatorRole = DefaultCoordinatorRole
	}
	r.audit = audit.NewRecorder(ctx, ProcessName, in.TaskID)
	ap, err := approvals.New(ctx, approvals.Config{
		Host: host{r}, Rules: approvals.Rules{Strict: true, RequireProof: true}, RequestedBy: in.RequestedBy,
		ActionDigest:      func() string { return r.reviewDigest },
		Target:            func() string { return r.in.TaskID },
		Stage:             func() string { return r.st.Stage },
		UpdateDescription: "Accept or reject evidence that needs a person's review",
		Process:           ProcessName,
		Audit:             r.audit,
	})
	if err != nil {
		return Result{}, err
	}
	r.ap = ap
	if err := r.register(ctx); err != nil {
		return Result{}, err
	}
	if err := validateInput(in); err != nil {
		r.st.Stage, r.st.Outcome, r.st.Reason = StageDone, OutcomeFailed, err.Error()
		return Result{}, err
	}
	if in.RequesterProof != "" {
		if err := r.verifyRequester(ctx); err != nil {
			r.st.Stage, r.st.Outcome, r.st.Reason = StageDone, OutcomeFailed, err.Error()
			return Result{}, err
		}
	}
	r.upsert(ctx, process.SAProcess.ValueSet(ProcessName), process.SABusinessKey.ValueSet(in.TaskID),
		process.SARequester.ValueSet(in.RequestedBy), process.SAStage.ValueSet(StageRouting))
	r.audit.Record(ctx, audit.KindProposed, in.RequestedBy, fmt.Sprintf("Task %q requested by %s", in.Title, in.RequestedBy),
		audit.ProposedData{ActionKind: "human_task", Target: in.TaskID, RequestedBy: in.RequestedBy, RequesterVerified: r.requesterVerified})

	outcome, reason := r.execute(ctx)
	if ctx.Err() != nil && outcome != OutcomeCompleted {
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		r.release(dctx, "aborted")
		r.finish(dctx, OutcomeAborted, "cancelled while "+r.st.Stage)
		return Result{}, ctx.Err()
	}
	r.finish(ctx, outcome, reason)
	return r.st, nil
}

func (r *run) verifyRequester(ctx workflow.Context) error {
	trust, err := host{r}.LoadTrust(ctx)
	if err != nil {
		return fmt.Errorf("requesterProof: load trusted keys: %s", process.FailureMessage(err))
	}
	if _, err := proof.Verify(r.in.RequesterProof, trust, proof.Expect{Kind: proof.KindStart, WorkflowID: r.wfID, Subject: r.in.RequestedBy},
		workflow.GetInfo(ctx).WorkflowStartTime); err != nil {
		return temporal.NewNonRetryableApplicationError("requesterProof: "+err.Error(), ErrTypeInvalidInput, nil)
	}
	r.requesterVerified = true
	return nil
}

// register installs the status and approvals queries and the "task" Update
// (validated, so a refused step never enters history) and Signal.
func (r *run) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, StatusQuery, func() (Status, error) { return r.status(), nil }); err != nil {
		return fmt.Errorf("register %s query: %w", StatusQuery, err)
	}
	err := workflow.SetQueryHandler(ctx, ApprovalsQuery, func() (approvals.Status, error) {
		st := approvals.Status{Process: ProcessName, WorkflowID: r.wfID, BusinessKey: r.in.TaskID, Stage: r.st.Stage,
			Title: "Review evidence: " + r.in.Title, RequestedBy: r.in.RequestedBy, Kind: "human_task.evidence", Target: r.in.TaskID,
			ActionDigest: r.reviewDigest, Outcome: r.st.Outcome, Reason: r.st.Reason}
		if n := len(r.st.Submissions); n > 0 {
			last := r.st.Submissions[n-1]
			st.Action = map[string]any{"task": r.in.TaskID, "worker": last.WorkerID, "submission": last.Step, "verdict": last.Verdict.Overall}
			st.ApprovalReason = reviewReason(last.Verdict)
		}
		r.ap.Fill(&st)
		return st, nil
	})
	if err != nil {
		return fmt.Errorf("register %s query: %w", ApprovalsQuery, err)
	}
	err = workflow.SetUpdateHandlerWithOptions(ctx, TaskUpdate,
		func(ctx workflow.Context, req TaskRequest) (string, error) {
			nonce, err := r.check(ctx, req)
			if err != nil {
				return "", err
			}
			r.accept(req, nonce)
			return req.Action, nil
		},
		workflow.UpdateHandlerOptions{
			Validator: func(ctx workflow.Context, req TaskRequest) error {
				_, err := r.check(ctx, req)
				return err
			},
			Description: "A worker's step on this task (accept, decline, submit), proven by the web app",
		})
	if err != nil {
		return fmt.Errorf("register %s update: %w", TaskUpdate, err)
	}
	ch := workflow.GetSignalChannel(ctx, TaskSignal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var raw json.RawMessage
			if more := ch.Receive(ctx, &raw); !more {
				return
			}
			var req TaskRequest
			var nonce string
			err := json.Unmarshal(raw, &req)
			if err == nil {
				nonce, err = r.check(ctx, req)
			}
			if err != nil {
				r.refused(ctx, req, err)
				continue
			}
			r.accept(req, nonce)
		}
	})
	return nil
}

// check applies the rules for a worker's step: the open step, its person,
// an allowed action, a well-formed submission, and a proof of who sent it.
func (r *run) check(ctx workflow.Context, req TaskRequest) (string, error) {
	switch {
	case r.st.OpenStep == "" || r.answer != nil:
		return "", fmt.Errorf("step: no step is open (stage %s)", r.st.Stage)
	case req.Step != r.st.OpenStep:
		return "", fmt.Errorf("step: %q is not the open step %q", clip(req.Step), r.st.OpenStep)
	case req.Worker != r.st.OpenFor:
		return "", fmt.Errorf("worker: step %s is for %s, not %q", r.st.OpenStep, r.st.OpenFor, clip(req.Worker))
	}
	offer := strings.HasPrefix(req.Step, "offer-")
	switch {
	case offer && req.Action != ActionAccept && req.Action != ActionDecline:
		return "", fmt.Errorf("action: an offer is answered with accept or decline, not %q", clip(req.Action))
	case !offer && req.Action != ActionSubmit:
		return "", fmt.Errorf("action: step %s takes submit, not %q", req.Step, clip(req.Action))
	case offer && req.Submission != nil:
		return "", fmt.Errorf("submission: not part of an answer to an offer")
	case !offer && req.Submission == nil:
		return "", fmt.Errorf("submission: required")
	case len(req.Proof) > proof.MaxTokenLen:
		return "", fmt.Errorf("proof: longer than %d bytes", proof.MaxTokenLen)
	}
	if s := req.Submission; s != nil {
		switch {
		case s.TaskID != r.in.TaskID:
			return "", fmt.Errorf("submission.taskId: %q is not this task", clip(s.TaskID))
		case s.WorkerID != req.Worker:
			return "", fmt.Errorf("submission.workerId: must be the worker who submits")
		case len(s.Answers) > maxAnswers || len(s.Photos) > maxAnswers || len(s.Documents) > maxAnswers:
			return "", fmt.Errorf("submission: more than %d answers or files", maxAnswers)
		}
	}
	digest, err := RequestDigest(req)
	if err != nil {
		return "", fmt.Errorf("request: %v", err)
	}
	if req.Proof == "" {
		return "", fmt.Errorf("proof: required: a worker's step is proven by the web app after sign-in")
	}
	as, err := proof.Verify(req.Proof, r.trust, proof.Expect{
		Kind: proof.KindTask, WorkflowID: r.wfID, RunID: r.runID, Slot: req.Step, ActionDigest: digest, Decision: req.Action, Subject: req.Worker,
	}, workflow.Now(ctx).UTC())
	if err != nil {
		return "", fmt.Errorf("proof.%v", err)
	}
	if slices.Contains(r.nonces, as.Nonce) {
		return "", fmt.Errorf("proof: already used")
	}
	return as.Nonce, nil
}

// accept records a checked step for the main coroutine.
func (r *run) accept(req TaskRequest, nonce string) {
	r.nonces = append(r.nonces, nonce)
	r.answer = &req
}

func (r *run) refused(ctx workflow.Context, req TaskRequest, err error) {
	r.logger.Warn("Ignored task signal", "worker", clip(req.Worker), "reason", err.Error())
	r.st.Refused = append(r.st.Refused, approvals.RejectedMessage{Approver: clip(req.Worker), Decision: clip(req.Action), Reason: err.Error(), At: workflow.Now(ctx).UTC()})
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

// status is what the query answers: the handed-over context only once
// someone has accepted.
func (r *run) status() Status {
	st := r.st
	if st.Assignee != "" || st.Outcome == OutcomeCompleted {
		st.Context = r.in.Context
	}
	return st
}

// execute offers the task until someone's evidence is accepted or nobody
// is left.
func (r *run) execute(ctx workflow.Context) (outcome, reason string) {
	var exclude []string
	rejectedAny := false
	for len(r.st.Offers) < r.in.MaxOffers {
		r.setStage(ctx, StageRouting, "Routing: who has the skills, is near enough and available")
		var routing workforce.Routing
		req := RouteRequest{Skills: r.in.Skills, Lat: r.in.Place.Lat, Lon: r.in.Place.Lon, Start: r.in.Start, End: r.in.End, Exclude: exclude}
		if err := r.exec(ctx, r.cfg.Read, ActivityRoute, req, &routing); err != nil {
			return OutcomeFailed, "route: " + process.FailureMessage(err)
		}
		r.st.Routing = &routing
		if len(routing.Candidates) == 0 {
			break
		}
		cand := routing.Candidates[0]
		accepted, err := r.offer(ctx, cand)
		if err != nil {
			return OutcomeAborted, err.Error()
		}
		exclude = append(exclude, cand.WorkerID)
		if !accepted {
			continue
		}
		done, rejected, err := r.work(ctx, cand.WorkerID)
		if err != nil {
			return OutcomeAborted, err.Error()
		}
		if done {
			return OutcomeCompleted, ""
		}
		rejectedAny = rejectedAny || rejected
	}
	if rejectedAny {
		reason := fmt.Sprintf("evidence rejected for everyone the task reached (%d offers)", len(r.st.Offers))
		return OutcomeEvidenceRejected, reason + r.escalate(ctx, "Evidence rejected: "+r.in.Title, reason)
	}
	reason = fmt.Sprintf("nobody accepted the task (%d offers)", len(r.st.Offers))
	if len(r.st.Offers) == 0 {
		reason = "nobody fits: " + excluded(r.st.Routing)
	}
	return OutcomeNoWorker, reason + r.escalate(ctx, "No worker available: "+r.in.Title, reason)
}

func excluded(rt *workforce.Routing) string {
	if rt == nil || len(rt.Excluded) == 0 {
		return "no workers"
	}
	var parts []string
	for _, e := range rt.Excluded {
		parts = append(parts, e.WorkerID+" ("+e.Reason+")")
	}
	return strings.Join(parts, "; ")
}

// offer offers the task to one person and waits for their answer until the
// accept deadline. A cancellation is returned as an error.
func (r *run) offer(ctx workflow.Context, cand workforce.Candidate) (bool, error) {
	if err := r.loadTrust(ctx); err != nil {
		return false, err
	}
	now := workflow.Now(ctx).UTC()
	step := fmt.Sprintf("offer-%d", len(r.st.Offers)+1)
	o := Offer{Step: step, WorkerID: cand.WorkerID, At: now, Deadline: now.Add(r.in.AcceptTimeout), Reasons: cand.Reasons}
	r.st.Offers = append(r.st.Offers, o)
	idx := len(r.st.Offers) - 1
	r.open(ctx, step, cand.WorkerID)
	r.setStage(ctx, StageOffered, fmt.Sprintf("Offered to **%s** until %s", cand.WorkerID, o.Deadline.Format(time.RFC3339)))
	r.notify(ctx, NotifyOffer, cand.WorkerID, step, o.Deadline, strings.Join(cand.Reasons, "; "))
	r.handoff(ctx, "offer", cand.WorkerID, fmt.Sprintf("Offered to %s until %s (%s)", cand.WorkerID, o.Deadline.Format(time.RFC3339), strings.Join(cand.Reasons, "; ")))
	ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
		Timeout: r.in.AcceptTimeout, TimerOptions: workflow.TimerOptions{Summary: "offer to " + cand.WorkerID},
	}, func() bool { return r.answer != nil })
	if err != nil {
		return false, fmt.Errorf("cancelled while offered to %s", cand.WorkerID)
	}
	ans := r.take()
	if !ok && ans == nil {
		r.st.Offers[idx].Response = "expired"
		r.logger.Info("Offer expired", "worker", cand.WorkerID)
		r.handoff(ctx, "expired", cand.WorkerID, "Offer to "+cand.WorkerID+" expired unanswered")
		return false, nil
	}
	if ans.Action == ActionDecline {
		r.st.Offers[idx].Response = "declined"
		r.handoff(ctx, "declined", cand.WorkerID, cand.WorkerID+" declined the task (proof verified)")
		return false, nil
	}
	r.st.Offers[idx].Response = "accepted"
	r.handoff(ctx, "accepted", cand.WorkerID, cand.WorkerID+" accepted the task (proof verified)")
	at := workflow.Now(ctx).UTC()
	due := r.in.End
	if r.in.DueAfter > 0 {
		due = at.Add(r.in.DueAfter)
	}
	r.st.Assignee, r.st.AcceptedAt, r.st.DueAt = cand.WorkerID, &at, &due
	if err := r.exec(ctx, r.cfg.Read, ActivityAdjustLoad, LoadRequest{WorkerID: cand.WorkerID, OpKey: r.wfID + "/" + r.runID + "/" + step + "/accept", Delta: 1}, nil); err != nil {
		r.logger.Warn("Load not recorded", "worker", cand.WorkerID, "error", err)
	}
	return true, nil
}

// work waits for the assignee's submissions until one is accepted, they
// have used their attempts, or the task is overdue (escalated, and offered
// to the next person). rejected says a submission was rejected.
func (r *run) work(ctx workflow.Context, worker string) (done, rejected bool, err error) {
	defer func() {
		if !done {
			// On cancellation the workflow context runs nothing more: the
			// load is given back in a disconnected one, or it leaks.
			rctx := ctx
			if ctx.Err() != nil {
				rctx, _ = workflow.NewDisconnectedContext(ctx)
			}
			r.release(rctx, "reassigned")
		}
	}()
	for attempt := 1; attempt <= r.in.MaxSubmissions; attempt++ {
		step := fmt.Sprintf("submission-%d", len(r.st.Submissions)+1)
		r.open(ctx, step, worker)
		r.setStage(ctx, StageAssigned, fmt.Sprintf("Assigned to **%s**, due %s", worker, r.st.DueAt.Format(time.RFC3339)))
		kind := NotifyAssignment
		if attempt > 1 {
			kind = NotifyResubmit
		}
		r.notify(ctx, kind, worker, step, *r.st.DueAt, "")
		ans, err := r.awaitSubmission(ctx, worker, step)
		if err != nil {
			return false, rejected, err
		}
		if ans == nil {
			reason := fmt.Sprintf("%s did not submit evidence by %s", worker, r.st.DueAt.Format(time.RFC3339))
			r.escalate(ctx, "Task overdue: "+r.in.Title, reason+"; the task is offered to the next person.")
			r.notify(ctx, NotifyWithdrawn, worker, step, *r.st.DueAt, "overdue")
			return false, rejected, nil
		}
		v, err := r.checkEvidence(ctx, *ans)
		if err != nil {
			return false, rejected, err
		}
		switch v.Overall {
		case evidence.Accepted:
			r.st.Accepted, r.st.Answers = &v, ans.Submission.Answers
			return true, rejected, nil
		case evidence.NeedsReview:
			ok, err := r.review(ctx)
			if err != nil {
				return false, rejected, err
			}
			if ok {
				r.st.Accepted, r.st.Answers = &v, ans.Submission.Answers
				return true, rejected, nil
			}
		}
		rejected = true
	}
	return false, rejected, nil
}

// awaitSubmission waits for the assignee's submission until the due time,
// reminding them halfway.
func (r *run) awaitSubmission(ctx workflow.Context, worker, step string) (*TaskRequest, error) {
	now := workflow.Now(ctx)
	due := *r.st.DueAt
	if half := due.Sub(now) / 2; half > time.Second {
		ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: half, TimerOptions: workflow.TimerOptions{Summary: "reminder to " + worker}},
			func() bool { return r.answer != nil })
		if err != nil {
			return nil, fmt.Errorf("cancelled while assigned to %s", worker)
		}
		if !ok && r.answer == nil {
			r.notify(ctx, NotifyReminder, worker, step, due, "")
		}
	}
	if r.answer == nil {
		_, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: max(due.Sub(workflow.Now(ctx)), time.Millisecond), TimerOptions: workflow.TimerOptions{Summary: "due for " + worker}},
			func() bool { return r.answer != nil })
		if err != nil {
			return nil, fmt.Errorf("cancelled while assigned to %s", worker)
		}
	}
	return r.take(), nil
}

// checkEvidence runs the checks on a submission and records the verdict.
func (r *run) checkEvidence(ctx workflow.Context, ans TaskRequest) (evidence.Verdict, error) {
	r.setStage(ctx, StageChecking, "Checking the evidence of "+ans.Step)
	digest, _ := RequestDigest(ans)
	var v evidence.Verdict
	req := CheckRequest{Spec: r.in.Evidence, Submission: *ans.Submission, Place: r.in.Place, Start: r.in.Start, End: r.in.End}
	if err := r.exec(ctx, r.cfg.Read, ActivityCheckEvidence, req, &v); err != nil {
		if ctx.Err() != nil {
			return v, fmt.Errorf("cancelled while checking evidence")
		}
		// A check that cannot run is no verdict: a person looks at it.
		v = evidence.Verdict{Overall: evidence.NeedsReview, Items: []evidence.Item{{Item: "checks", Verdict: evidence.NeedsReview,
			Reasons: []string{"the checks could not run: " + process.FailureMessage(err)}}}}
	}
	r.st.Submissions = append(r.st.Submissions, SubmissionRecord{Step: ans.Step, WorkerID: ans.Worker, At: workflow.Now(ctx).UTC(), Digest: digest, Verdict: v})
	r.reviewDigest = digest
	r.logger.Info("Evidence checked", "step", ans.Step, "verdict", v.Overall)
	r.recordEvidence(ctx, ans, v)
	return v, nil
}

func reviewReason(v evidence.Verdict) string {
	var out []string
	for _, it := range v.Items {
		if it.Verdict != evidence.Accepted {
			out = append(out, it.Item+": "+strings.Join(it.Reasons, ", "))
		}
	}
	return strings.Join(out, "; ")
}

// review asks a coordinator (the kernel's approval) whether evidence that
// needs a person is accepted.
func (r *run) review(ctx workflow.Context) (bool, error) {
	idx := len(r.st.Submissions) - 1
	var plan approvals.Plan
	if err := r.exec(ctx, r.cfg.Read, ActivityPlanReview, ReviewPlanRequest{Role: r.in.CoordinatorRole, Reason: reviewReason(r.st.Submissions[idx].Verdict)}, &plan); err != nil {
		r.st.Submissions[idx].Review = "no reviewer: " + process.FailureMessage(err)
		return false, nil
	}
	r.ap.SetPlan(plan)
	r.ap.Rounds++
	end, err := r.ap.Collect(ctx, plan)
	if err != nil {
		return false, fmt.Errorf("cancelled while awaiting review")
	}
	if end != nil {
		r.st.Submissions[idx].Review = end.Outcome + ": " + end.Reason
		return false, nil
	}
	last := r.ap.Approvals[len(r.ap.Approvals)-1]
	r.st.Submissions[idx].Review = "accepted by " + last.Approver
	return true, nil
}

// open makes step the one a TaskRequest may answer, for worker.
func (r *run) open(ctx workflow.Context, step, worker string) {
	r.st.OpenStep, r.st.OpenFor, r.answer = step, worker, nil
	r.upsert(ctx, process.SATaskWorker.ValueSet(worker))
}

// take closes the open step and returns its answer, if any.
func (r *run) take() *TaskRequest {
	a := r.answer
	r.st.OpenStep, r.st.OpenFor, r.answer = "", "", nil
	return a
}

// release gives the assignee's capacity back (once per run and step).
func (r *run) release(ctx workflow.Context, why string) {
	if r.st.Assignee == "" {
		return
	}
	req := LoadRequest{WorkerID: r.st.Assignee, OpKey: fmt.Sprintf("%s/%s/offer-%d/%s", r.wfID, r.runID, len(r.st.Offers), why), Delta: -1}
	if err := r.exec(ctx, r.cfg.Read, ActivityAdjustLoad, req, nil); err != nil {
		r.logger.Warn("Load not released", "worker", r.st.Assignee, "error", err)
	}
	if why != "completed" {
		// A completed task keeps who did it; otherwise nobody holds it.
		r.st.Assignee, r.st.AcceptedAt, r.st.DueAt = "", nil, nil
	}
}

func (r *run) loadTrust(ctx workflow.Context) error {
	t, err := host{r}.LoadTrust(ctx)
	if err != nil {
		return fmt.Errorf("load trusted keys: %s", process.FailureMessage(err))
	}
	r.trust = t
	return nil
}

// notify tells a worker; a failure is logged, the task page shows it anyway.
func (r *run) notify(ctx workflow.Context, kind, worker, step string, deadline time.Time, detail string) {
	req := NotifyWorkerRequest{WorkflowID: r.wfID, WorkerID: worker, Kind: kind, Step: step, Title: r.in.Title, Address: r.in.Address, Deadline: deadline, Detail: detail}
	if err := r.exec(ctx, r.cfg.Notify, ActivityNotifyWorker, req, nil); err != nil {
		r.logger.Error("Notifying worker failed", "worker", worker, "kind", kind, "error", err)
	}
}

// escalate tells the coordinators and returns the reason suffix saying so.
func (r *run) escalate(ctx workflow.Context, subject, body string) string {
	at := workflow.Now(ctx).UTC()
	var to []string
	err := r.exec(ctx, r.cfg.Notify, ActivityEscalate, EscalateRequest{WorkflowID: r.wfID, Role: r.in.CoordinatorRole, Subject: subject, Body: body}, &to)
	r.st.Escalations = append(r.st.Escalations, Escalation{At: at, Reason: body, To: to})
	process.RecordException(workflow.GetMetricsHandler(ctx), ProcessName, "task_escalated")
	process.AuditException(ctx, r.audit, "task_escalated", subject, to...)
	if err != nil {
		return " (escalation failed: " + process.FailureMessage(err) + ")"
	}
	return " (escalated)"
}

func (r *run) finish(ctx workflow.Context, outcome, reason string) {
	if outcome == OutcomeCompleted {
		r.release(ctx, "completed")
	}
	r.ap.Close(ctx)
	r.st.OpenStep, r.st.OpenFor = "", ""
	r.st.Stage, r.st.Outcome, r.st.Reason = StageDone, outcome, reason
	r.upsert(ctx, process.SAStage.ValueSet(StageDone), process.SAOutcome.ValueSet(outcome), process.SATaskWorker.ValueUnset())
	process.RecordCompleted(workflow.GetMetricsHandler(ctx), ProcessName, outcome, false)
	process.AuditOutcome(ctx, r.audit, outcome, reason, false)
	line := "**" + outcome + "**"
	if reason != "" {
		line += ": " + reason
	}
	workflow.SetCurrentDetails(ctx, line)
}

func (r *run) setStage(ctx workflow.Context, stage, details string) {
	r.st.Stage = stage
	r.upsert(ctx, process.SAStage.ValueSet(stage))
	workflow.SetCurrentDetails(ctx, details)
}

func (r *run) upsert(ctx workflow.Context, updates ...temporal.SearchAttributeUpdate) {
	process.Upsert(ctx, r.logger, updates...)
}

func (r *run) exec(ctx workflow.Context, opts workflow.ActivityOptions, name string, arg, out any) error {
	return process.Exec(ctx, opts, name, arg, out)
}

// handoff records who the task moved to, or from, and why.
func (r *run) handoff(ctx workflow.Context, why, worker, summary string) {
	actor := "system"
	if why == "accepted" || why == "declined" {
		actor = "worker:" + worker
	}
	r.audit.Record(ctx, audit.KindHandoff, actor, summary, audit.HandoffData{Why: why, To: []string{worker}})
}

// recordEvidence records the verdict on a submission, by content hash.
func (r *run) recordEvidence(ctx workflow.Context, ans TaskRequest, v evidence.Verdict) {
	if !r.audit.Enabled() {
		return
	}
	data := audit.EvidenceData{Accepted: v.Overall == evidence.Accepted}
	if sub := ans.Submission; sub != nil {
		// Sorted: map order differs between runs, history must not.
		for _, kind := range []struct {
			prefix string
			files  map[string]string
		}{{"photo:", sub.Photos}, {"document:", sub.Documents}} {
			for _, name := range slices.Sorted(maps.Keys(kind.files)) {
				data.Items = append(data.Items, kind.prefix+name+"="+kind.files[name])
			}
		}
	}
	for _, it := range v.Items {
		if it.Verdict != evidence.Accepted {
			data.Problems = append(data.Problems, it.Item+": "+strings.Join(it.Reasons, "; "))
		}
	}
	r.audit.Record(ctx, audit.KindEvidence, "worker:"+ans.Worker,
		fmt.Sprintf("Evidence of %s from %s: %s", ans.Step, ans.Worker, v.Overall), data)
}

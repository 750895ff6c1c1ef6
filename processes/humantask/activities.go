package humantask

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// Workforce is the workforce directory (*workforce.Store).
type Workforce interface {
	List(ctx context.Context) ([]workforce.Worker, error)
	Get(ctx context.Context, id string) (workforce.Worker, error)
	AdjustLoadOnce(ctx context.Context, id, opKey string, delta int) (workforce.Worker, error)
}

// Directory is what the activities read of the org directory.
type Directory interface {
	approvals.Directory
	People() []policy.Person
	PlanForRoles(roles []string, reason string) (policy.Plan, error)
}

// Mailer sends mail (*email.Client).
type Mailer interface {
	Send(ctx context.Context, m email.Message) error
}

// DefaultFrom is the sender of task mail.
const DefaultFrom = "ExecutionOrchestrator <orchestrator@example.com>"

// Activities are HumanTask's activities.
type Activities struct {
	Temporal   process.Describer
	Workforce  Workforce
	Evidence   evidence.Source
	Directory  Directory
	Mail       Mailer
	Trust      func() (proof.Trust, error)
	Codes      approvals.CodeVerifier
	Signer     *proof.Signer
	WebBaseURL string
	Logger     *slog.Logger
	Now        func() time.Time
}

func (a *Activities) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

func notConfigured(field string) error {
	return temporal.NewNonRetryableApplicationError("activities: "+field+" is not configured", ErrTypeNotConfigured, nil)
}

// classify makes a connector's permanent failure non-retryable.
func classify(err error) error {
	if err == nil || !httpx.IsPermanent(err) {
		return err
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), "Refused", nil)
}

// ensureOurs refuses any caller but this very HumanTask on our queue.
func (a *Activities) ensureOurs(ctx context.Context) error {
	_, err := process.EnsureCaller(ctx, a.Temporal, Workflow, activity.GetInfo(ctx).WorkflowExecution.ID)
	return err
}

// TaskRoute routes the requirement over the workforce as it is now.
func (a *Activities) TaskRoute(ctx context.Context, req RouteRequest) (workforce.Routing, error) {
	if err := a.ensureOurs(ctx); err != nil {
		return workforce.Routing{}, err
	}
	if a.Workforce == nil {
		return workforce.Routing{}, notConfigured("Workforce")
	}
	ws, err := a.Workforce.List(ctx)
	if err != nil {
		return workforce.Routing{}, fmt.Errorf("list workforce: %w", err)
	}
	rt := workforce.Route(ws, req)
	a.log().InfoContext(ctx, "task routed", "workflowId", activity.GetInfo(ctx).WorkflowExecution.ID, "candidates", len(rt.Candidates), "excluded", len(rt.Excluded))
	return rt, nil
}

// TaskNotifyWorker tells a worker about their task by their channel. The
// sandbox has no SMS gateway: an SMS worker is emailed and the log says so.
func (a *Activities) TaskNotifyWorker(ctx context.Context, req NotifyWorkerRequest) error {
	if err := a.ensureOurs(ctx); err != nil {
		return err
	}
	switch {
	case a.Workforce == nil:
		return notConfigured("Workforce")
	case a.Mail == nil:
		return notConfigured("Mail")
	}
	w, err := a.Workforce.Get(ctx, req.WorkerID)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("worker "+req.WorkerID+": "+err.Error(), ErrTypeInvalidInput, nil)
	}
	if w.Channel == workforce.ChannelSMS {
		a.log().InfoContext(ctx, "no SMS gateway here; the offer goes by email", "worker", w.ID)
	}
	link := strings.TrimRight(a.WebBaseURL, "/") + "/tasks/" + req.WorkflowID
	subjects := map[string]string{
		NotifyOffer: "New task offered to you", NotifyAssignment: "Task assigned to you", NotifyReminder: "Reminder: task due",
		NotifyResubmit: "Evidence not accepted: please submit again", NotifyWithdrawn: "Task withdrawn",
	}
	body := fmt.Sprintf("%s\n%s\nDeadline: %s\nOpen it at %s\n", req.Title, req.Address, req.Deadline.UTC().Format(time.RFC3339), link)
	if req.Detail != "" {
		body += "\n" + req.Detail + "\n"
	}
	info := activity.GetInfo(ctx)
	msg := email.Message{From: DefaultFrom, To: []string{w.Email}, Subject: subjects[req.Kind] + ": " + req.Title, Body: body,
		MessageID: messageID(info.WorkflowExecution.RunID, req.Step, req.Kind, req.WorkerID)}
	if err := a.Mail.Send(ctx, msg); err != nil {
		return classify(fmt.Errorf("notify %s: %w", w.ID, err))
	}
	return nil
}

func messageID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "<ht-" + hex.EncodeToString(sum[:12]) + "@execution-orchestrator>"
}

// TaskAdjustLoad changes a worker's load once per op key.
func (a *Activities) TaskAdjustLoad(ctx context.Context, req LoadRequest) error {
	if err := a.ensureOurs(ctx); err != nil {
		return err
	}
	if a.Workforce == nil {
		return notConfigured("Workforce")
	}
	if _, err := a.Workforce.AdjustLoadOnce(ctx, req.WorkerID, req.OpKey, req.Delta); err != nil {
		return fmt.Errorf("adjust load of %s: %w", req.WorkerID, err)
	}
	return nil
}

// TaskCheckEvidence checks a submission against the spec, the place and
// the window, and that the signature's typed name is the worker's.
func (a *Activities) TaskCheckEvidence(ctx context.Context, req CheckRequest) (evidence.Verdict, error) {
	if err := a.ensureOurs(ctx); err != nil {
		return evidence.Verdict{}, err
	}
	if a.Evidence == nil {
		return evidence.Verdict{}, notConfigured("Evidence")
	}
	v, err := evidence.Check(ctx, a.Evidence, req.Spec, req.Submission, req.Place, req.Start, req.End)
	if err != nil {
		return v, fmt.Errorf("check evidence: %w", err)
	}
	if sig := req.Submission.Signature; sig != nil {
		// The name typed under the signature must be the expected signer's:
		// the spec's (the customer at the door), or the worker's own.
		want, whose := req.Spec.SignedBy, "the expected signer's"
		if want == "" && a.Workforce != nil {
			if w, err := a.Workforce.Get(ctx, req.Submission.WorkerID); err == nil {
				want, whose = w.Name, "the worker's"
			}
		}
		if want != "" && !sameName(sig.TypedName, want) {
			v = flagItem(v, "signature", fmt.Sprintf("typed name %q is not %s name %q", sig.TypedName, whose, want))
		}
	}
	return v, nil
}

func sameName(a, b string) bool {
	return strings.EqualFold(strings.Join(strings.Fields(a), " "), strings.Join(strings.Fields(b), " "))
}

// flagItem marks item as needing review (unless already rejected) and
// recomputes the overall verdict.
func flagItem(v evidence.Verdict, item, reason string) evidence.Verdict {
	for i := range v.Items {
		if v.Items[i].Item == item {
			if v.Items[i].Verdict != evidence.Rejected {
				v.Items[i].Verdict = evidence.NeedsReview
			}
			v.Items[i].Reasons = append(v.Items[i].Reasons, reason)
		}
	}
	v.Overall = evidence.Accepted
	for _, it := range v.Items {
		switch {
		case it.Verdict == evidence.Rejected:
			v.Overall = evidence.Rejected
		case it.Verdict == evidence.NeedsReview && v.Overall != evidence.Rejected:
			v.Overall = evidence.NeedsReview
		}
	}
	return v
}

// holders lists the people holding role.
func (a *Activities) holders(role string) []policy.Person {
	var out []policy.Person
	for _, p := range a.Directory.People() {
		if a.Directory.HasRole(p.ID, role) {
			out = append(out, p)
		}
	}
	return out
}

// TaskEscalate emails everyone holding the coordinator role and returns
// who was told.
func (a *Activities) TaskEscalate(ctx context.Context, req EscalateRequest) ([]string, error) {
	if err := a.ensureOurs(ctx); err != nil {
		return nil, err
	}
	switch {
	case a.Directory == nil:
		return nil, notConfigured("Directory")
	case a.Mail == nil:
		return nil, notConfigured("Mail")
	}
	people := a.holders(req.Role)
	if len(people) == 0 {
		return nil, temporal.NewNonRetryableApplicationError("nobody holds role "+req.Role, ErrTypeInvalidInput, nil)
	}
	return a.mailPeople(ctx, people, req)
}

func (a *Activities) mailPeople(ctx context.Context, people []policy.Person, req EscalateRequest) ([]string, error) {
	info := activity.GetInfo(ctx)
	var told []string
	link := strings.TrimRight(a.WebBaseURL, "/") + "/approvals/" + req.WorkflowID
	for _, p := range people {
		msg := email.Message{From: DefaultFrom, To: []string{p.Email}, Subject: req.Subject, Body: req.Body + "\n\n" + link + "\n",
			MessageID: messageID(info.WorkflowExecution.RunID, info.ActivityID, p.ID)}
		if err := a.Mail.Send(ctx, msg); err != nil {
			return told, classify(fmt.Errorf("email %s: %w", p.ID, err))
		}
		told = append(told, p.ID)
	}
	return told, nil
}

// TaskPlanReview says who reviews evidence for the coordinator role.
func (a *Activities) TaskPlanReview(ctx context.Context, req ReviewPlanRequest) (approvals.Plan, error) {
	if err := a.ensureOurs(ctx); err != nil {
		return approvals.Plan{}, err
	}
	if a.Directory == nil {
		return approvals.Plan{}, notConfigured("Directory")
	}
	p, err := a.Directory.PlanForRoles([]string{req.Role}, req.Reason)
	if err != nil {
		return p, temporal.NewNonRetryableApplicationError("plan review: "+err.Error(), ErrTypeInvalidInput, nil)
	}
	return p, nil
}

// TaskNotifyReviewers emails the reviewers asked.
func (a *Activities) TaskNotifyReviewers(ctx context.Context, req ReviewNotice) error {
	if err := a.ensureOurs(ctx); err != nil {
		return err
	}
	switch {
	case a.Directory == nil:
		return notConfigured("Directory")
	case a.Mail == nil:
		return notConfigured("Mail")
	}
	var people []policy.Person
	for _, id := range req.People {
		if p, ok := a.Directory.Person(id); ok {
			people = append(people, p)
		}
	}
	_, err := a.mailPeople(ctx, people, req.EscalateRequest)
	return err
}

// TaskCheckReviewers says which review decisions no longer count.
func (a *Activities) TaskCheckReviewers(_ context.Context, aps []approvals.Approval) ([]approvals.Problem, error) {
	if a.Directory == nil {
		return nil, notConfigured("Directory")
	}
	var out []approvals.Problem
	for _, ap := range aps {
		if reason := approvals.ApproverProblem(a.Directory, ap); reason != "" {
			out = append(out, approvals.Problem{Approver: ap.Approver, Slot: ap.Slot, Reason: reason})
		}
	}
	return out, nil
}

// TaskLoadTrust returns the keys proofs are verified against.
func (a *Activities) TaskLoadTrust(context.Context) (proof.Trust, error) {
	if a.Trust == nil {
		return proof.Trust{}, notConfigured("Trust")
	}
	t, err := a.Trust()
	if err != nil {
		return proof.Trust{}, fmt.Errorf("load trusted keys: %w", err)
	}
	return t, nil
}

// TaskCheckApprovalCode checks a reviewer's one-time code.
func (a *Activities) TaskCheckApprovalCode(ctx context.Context, req approvals.CodeCheck) (string, error) {
	return approvals.CodeChecker{Codes: a.Codes, Signer: a.Signer, Now: a.Now}.Check(ctx, req, a.ensureOurs)
}

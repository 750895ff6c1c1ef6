package agentaction

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/execution-orchestrator/orchestrator/audit"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/action"
	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/connectors/deploy"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// Deployer is the deployment system (*deploy.Client).
type Deployer interface {
	GetArtifact(ctx context.Context, service, version string) (deploy.Artifact, error)
	ListReleases(ctx context.Context, target, service string) ([]deploy.Release, error)
	CreateRelease(ctx context.Context, idempotencyKey string, req deploy.ReleaseRequest) (deploy.Release, error)
	GetRelease(ctx context.Context, id string) (deploy.Release, error)
}

// Mailer sends mail and reads delivery back (*email.Client).
type Mailer interface {
	Send(ctx context.Context, m email.Message) error
	Lookup(ctx context.Context, messageID string) (email.StoredMessage, error)
}

// Directory is what the activities read of the org directory
// (*policy.Directory).
type Directory interface {
	approvals.Directory
	PlanForRoles(roles []string, reason string) (policy.Plan, error)
}

// Gate decides whether an action is admissible now (*gate.Engine).
type Gate interface {
	Decide(ctx context.Context, req gate.Request) (gate.Decision, error)
}

// DefaultFrom is the sender of the layer's own mail.
const DefaultFrom = "ExecutionOrchestrator <orchestrator@example.com>"

// DefaultInternalDomains are the company's mail domains: an email.send to
// anyone else is external (policy email.external).
var DefaultInternalDomains = []string{"example.com"}

// Activities are AgentAction's activities. Nil dependencies fail
// non-retryably as not configured.
type Activities struct {
	Temporal  process.Describer
	Deploy    Deployer
	Mail      Mailer
	Directory Directory
	Gate      Gate
	Trust     func() (proof.Trust, error)
	Codes     approvals.CodeVerifier
	Signer    *proof.Signer
	// Audit is the ledger gate decisions are appended to; nil records none.
	Audit      audit.Appender
	WebBaseURL string
	From       string
	// InternalDomains: nil means DefaultInternalDomains.
	InternalDomains []string
	Logger          *slog.Logger
	Now             func() time.Time
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Activities) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

func nonRetryable(typ, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), typ, nil)
}

func notConfigured(field string) error {
	return nonRetryable(ErrTypeNotConfigured, "activities: %s is not configured", field)
}

// classify makes a connector's permanent failure non-retryable; transient
// ones stay retryable for the activity's retry policy.
func classify(err error) error {
	if err == nil || !httpx.IsPermanent(err) {
		return err
	}
	typ := ErrTypeRefused
	if httpx.StatusCode(err) == http.StatusNotFound {
		typ = ErrTypeNotFound
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), typ, nil)
}

// ensureOurs refuses a caller that is not this very AgentAction on our
// task queue (see process.EnsureCaller); it returns when the run started.
func (a *Activities) ensureOurs(ctx context.Context) (time.Time, error) {
	return process.EnsureCaller(ctx, a.Temporal, Workflow, activity.GetInfo(ctx).WorkflowExecution.ID)
}

// Resolve reads from the target system the exact action a proposal means
// now: for a release, the artifact digest the version resolves to.
func (a *Activities) AgentResolveAction(ctx context.Context, req ResolveRequest) (json.RawMessage, error) {
	if _, err := a.ensureOurs(ctx); err != nil {
		return nil, err
	}
	return a.resolve(ctx, req)
}

func (a *Activities) resolve(ctx context.Context, req ResolveRequest) (json.RawMessage, error) {
	p := Proposal{Kind: req.Kind, Target: req.Target, Params: req.Params}
	var act any
	switch req.Kind {
	case KindDeploy:
		d, err := DecodeDeploy(p)
		if err != nil {
			return nil, nonRetryable(ErrTypeInvalidInput, "%v", err)
		}
		if a.Deploy == nil {
			return nil, notConfigured("Deploy")
		}
		art, err := a.Deploy.GetArtifact(ctx, d.Service, d.Version)
		if deploy.IsNotFound(err) {
			return nil, nonRetryable(ErrTypeInvalidInput, "params.version: %s %s is not in the artifact registry", d.Service, d.Version)
		}
		if err != nil {
			return nil, classify(fmt.Errorf("read artifact %s %s: %w", d.Service, d.Version, err))
		}
		act = DeployAction{Kind: KindDeploy, Target: req.Target, Service: d.Service, Version: d.Version, ArtifactDigest: art.Digest, RequestedBy: req.RequestedBy}
	case KindEmail:
		e, err := DecodeEmail(p)
		if err != nil {
			return nil, nonRetryable(ErrTypeInvalidInput, "%v", err)
		}
		act = EmailAction{Kind: KindEmail, To: req.Target, Subject: e.Subject, Body: e.Body, RequestedBy: req.RequestedBy}
	case KindVendorPayment:
		act = PaymentAction{Kind: KindVendorPayment, InvoiceID: req.Target, RequestedBy: req.RequestedBy}
	default:
		return nil, nonRetryable(ErrTypeInvalidInput, "kind: %q is not a kind the layer knows", clip(req.Kind))
	}
	raw, err := json.Marshal(act)
	if err != nil {
		return nil, nonRetryable(ErrTypeInvalidInput, "encode action: %v", err)
	}
	return raw, nil
}

// EvaluateGate asks the gate whether the action is admissible now with the
// approvals so far. A deny is an answer, not an error.
func (a *Activities) AgentEvaluateGate(ctx context.Context, req GateRequest) (gate.Decision, error) {
	started, err := a.ensureOurs(ctx)
	if err != nil {
		return gate.Decision{}, err
	}
	d, err := a.admit(ctx, req, started)
	if err != nil {
		return d, err
	}
	if err := process.AuditGate(ctx, a.Audit, ProcessName, "plan", req.ActionDigest, d); err != nil {
		return gate.Decision{}, err
	}
	return d, nil
}

// admit verifies who requested and who approved and asks the policies.
func (a *Activities) admit(ctx context.Context, req GateRequest, started time.Time) (gate.Decision, error) {
	switch {
	case a.Gate == nil:
		return gate.Decision{}, notConfigured("Gate")
	case a.Directory == nil:
		return gate.Decision{}, notConfigured("Directory")
	case a.Trust == nil:
		return gate.Decision{}, notConfigured("Trust")
	}
	if got, err := action.Digest(req.Action); err != nil || got != req.ActionDigest {
		return gate.Decision{}, nonRetryable(ErrTypeInvalidInput, "actionDigest: %q is not the digest of the action", req.ActionDigest)
	}
	trust, err := a.Trust()
	if err != nil {
		return gate.Decision{}, nonRetryable(ErrTypeGateUndecidable, "load trusted keys: %v", err)
	}
	info := activity.GetInfo(ctx)
	wfID, runID := info.WorkflowExecution.ID, info.WorkflowExecution.RunID
	now := a.now().UTC()
	ver, err := approvals.VerifyApprovals(req.Approvals, trust, req.RequestedBy, wfID, runID, a.Directory, now)
	if err != nil {
		return gate.Decision{}, err
	}
	verified, err := verifyRequester(req, trust, wfID, started)
	if err != nil {
		return gate.Decision{}, err
	}
	principal := gate.Entity{Type: "Unverified", ID: approvals.PersonKey(req.RequestedBy)}
	if verified {
		principal = gate.Entity{Type: "Agent", ID: strings.TrimPrefix(req.RequestedBy, "agent:")}
	}
	gctx := ver.GateContext()
	maps.Copy(gctx, map[string]any{
		"confidencePercent": req.ConfidencePercent,
		"digest":            req.ActionDigest,
		"target":            req.Target,
		"externalRecipient": req.Kind == KindEmail && a.external(req.Target),
		"minuteOfDayUTC":    int64(now.Hour()*60 + now.Minute()),
		"weekdayUTC":        int64(now.Weekday()),
		"requesterVerified": verified,
	})
	d, err := a.Gate.Decide(ctx, gate.Request{
		Principal: principal, Action: req.Kind, Resource: gate.Entity{Type: "Target", ID: req.Target}, Context: gctx,
	})
	if err != nil {
		return d, nonRetryable(ErrTypeGateUndecidable, "gate: %v", err)
	}
	a.log().InfoContext(ctx, "gate decision", "workflowId", wfID, "kind", req.Kind, "target", req.Target, "decision", d.String())
	if !d.Permit && activity.IsActivity(ctx) {
		h := activity.GetMetricsHandler(ctx)
		for _, r := range d.Reasons {
			process.RecordGateDenial(h, r.PolicyID, r.Approval != "")
		}
	}
	return d, nil
}

// verifyRequester checks the gateway's start proof: made for this action
// and this very proposal (req.ProposalDigest, when the run binds it), for
// this agent, when this run started (not lifted from another start).
func verifyRequester(req GateRequest, trust proof.Trust, wfID string, started time.Time) (bool, error) {
	if req.RequesterProof == "" || !approvals.IsAgent(req.RequestedBy) {
		return false, nil
	}
	as, err := proof.VerifyAsIssued(req.RequesterProof, trust, proof.Expect{Kind: proof.KindStart, WorkflowID: wfID, Subject: req.RequestedBy, ActionDigest: req.ProposalDigest})
	if err == nil {
		err = fromGateway(as, trust)
	}
	if err != nil {
		return false, nonRetryable(ErrTypeProofRefused, "requesterProof: %v", err)
	}
	if !started.IsZero() && (as.IssuedAt.After(started.Add(proof.MaxClockSkew)) || started.After(as.ExpiresAt)) {
		return false, nonRetryable(ErrTypeProofRefused, "requesterProof: issued %s, expiring %s, but the run started %s",
			as.IssuedAt.Format(time.RFC3339), as.ExpiresAt.Format(time.RFC3339), started.Format(time.RFC3339))
	}
	return true, nil
}

// fromGateway refuses a start assertion for an agent that the agent gateway
// did not make: only the gateway authenticates agents, so a web or worker
// key vouching for one is not how an agent's action starts.
func fromGateway(as proof.Assertion, trust proof.Trust) error {
	key, ok := trust.Find(as.KeyID)
	if as.Method != proof.MethodAgentKey || !ok || key.Issuer != proof.IssuerGateway {
		return fmt.Errorf("method: an agent's start is vouched for by the agent gateway (method %s), not %q from %s", proof.MethodAgentKey, as.Method, key.Issuer)
	}
	return nil
}

func (a *Activities) external(addr string) bool {
	domains := a.InternalDomains
	if domains == nil {
		domains = DefaultInternalDomains
	}
	at := strings.LastIndexByte(addr, '@')
	return at < 0 || !slices.Contains(domains, strings.ToLower(addr[at+1:]))
}

// PlanApprovals says who must approve for the roles the gate asks for.
func (a *Activities) AgentPlanApprovals(ctx context.Context, req PlanRequest) (approvals.Plan, error) {
	if _, err := a.ensureOurs(ctx); err != nil {
		return approvals.Plan{}, err
	}
	if a.Directory == nil {
		return approvals.Plan{}, notConfigured("Directory")
	}
	p, err := a.Directory.PlanForRoles(req.Roles, req.Reason)
	if err != nil {
		return p, nonRetryable(ErrTypeInvalidInput, "plan approvals: %v", err)
	}
	return p, nil
}

// CheckApprovers says which approvals no longer count.
func (a *Activities) AgentCheckApprovers(_ context.Context, aps []approvals.Approval) ([]approvals.Problem, error) {
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

// NotifyApprovers emails each person what the agent asks and where to
// decide. The Message-ID is stable per run, slot, kind and person, so a
// retried send is the same message.
func (a *Activities) AgentNotifyApprovers(ctx context.Context, req NotifyApproversRequest) error {
	// Mail from our sender to anyone in the directory: only for our runs.
	if _, err := a.ensureOurs(ctx); err != nil {
		return err
	}
	switch {
	case a.Mail == nil:
		return notConfigured("Mail")
	case a.Directory == nil:
		return notConfigured("Directory")
	}
	info := activity.GetInfo(ctx)
	for _, id := range req.Approvers {
		p, ok := a.Directory.Person(id)
		if !ok || p.Email == "" {
			a.log().InfoContext(ctx, "approver has no email in the directory; not notified", "approver", id)
			continue
		}
		link := strings.TrimRight(a.WebBaseURL, "/") + "/approvals/" + req.WorkflowID
		body := fmt.Sprintf("%s\n\nThe agent's justification: %s\n\nWhy people decide: %s\n\nAction digest: %s\nDecide by %s at %s\n",
			req.Title, req.Justification, req.Reason, req.ActionDigest, req.Deadline.UTC().Format(time.RFC3339), link)
		msg := email.Message{
			From: a.from(), To: []string{p.Email}, Subject: fmt.Sprintf("[%s] Approval needed (%s): %s", req.Kind, req.Slot, req.Title), Body: body,
			MessageID: messageID(info.WorkflowExecution.RunID, "approvers", req.Slot, req.Kind, id, info.ActivityID),
		}
		if err := a.Mail.Send(ctx, msg); err != nil {
			return classify(fmt.Errorf("notify %s: %w", id, err))
		}
	}
	return nil
}

func (a *Activities) from() string {
	if a.From != "" {
		return a.From
	}
	return DefaultFrom
}

// messageID is a stable RFC 5322 Message-ID for parts.
func messageID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "<aa-" + hex.EncodeToString(sum[:12]) + "@execution-orchestrator>"
}

// LoadTrust returns the keys approval proofs are verified against.
func (a *Activities) AgentLoadTrust(context.Context) (proof.Trust, error) {
	if a.Trust == nil {
		return proof.Trust{}, notConfigured("Trust")
	}
	t, err := a.Trust()
	if err != nil {
		return proof.Trust{}, fmt.Errorf("load trusted keys: %w", err)
	}
	return t, nil
}

// CheckApprovalCode checks a person's one-time code (approvals.CodeChecker).
func (a *Activities) AgentCheckApprovalCode(ctx context.Context, req approvals.CodeCheck) (string, error) {
	return approvals.CodeChecker{Codes: a.Codes, Signer: a.Signer, Now: a.Now}.Check(ctx, req, func(ctx context.Context) error {
		_, err := a.ensureOurs(ctx)
		return err
	})
}

// Execute is the gate at the side effect: it reads the target system again,
// refuses when the action is no longer the one gated, verifies the requester
// and approvals, asks the policies, and only then calls the connector with
// the action's idempotency key.
func (a *Activities) AgentExecute(ctx context.Context, req ExecuteRequest) (ExecuteResult, error) {
	started, err := a.ensureOurs(ctx)
	if err != nil {
		return ExecuteResult{}, err
	}
	if req.IdempotencyKey == "" {
		return ExecuteResult{}, nonRetryable(ErrTypeInvalidInput, "idempotencyKey: required")
	}
	if activity.GetInfo(ctx).Attempt > 1 {
		// An earlier attempt may have acted and lost its answer. Deciding
		// again now could deny (the window closed meanwhile) or see a
		// changed artifact, and misreport, or repeat, what already happened.
		if ref, err := a.earlier(ctx, req); err != nil || ref != "" {
			return ExecuteResult{Ref: ref, Recovered: ref != ""}, err
		}
	}
	fresh, err := a.resolve(ctx, ResolveRequest{Kind: req.Kind, Target: req.Target, Params: paramsOf(req.Kind, req.Action), RequestedBy: req.RequestedBy})
	if err != nil {
		return ExecuteResult{}, err
	}
	if d, err := action.Digest(fresh); err != nil || d != req.ActionDigest {
		return ExecuteResult{}, nonRetryable(ErrTypeActionChanged, "the action changed since it was gated (digest now %s, gated %s): nothing executed", d, req.ActionDigest)
	}
	d, err := a.admit(ctx, req.GateRequest, started)
	if err != nil {
		return ExecuteResult{}, err
	}
	// Recorded before the call it admits (or refuses).
	if err := process.AuditGate(ctx, a.Audit, ProcessName, "side_effect", req.ActionDigest, d); err != nil {
		return ExecuteResult{}, err
	}
	if !d.Permit {
		return ExecuteResult{}, temporal.NewNonRetryableApplicationError("the gate denies at the side effect: "+d.String(), ErrTypeGateDenied, nil, d)
	}
	res := ExecuteResult{Decision: d}
	switch req.Kind {
	case KindDeploy:
		var act DeployAction
		if err := json.Unmarshal(req.Action, &act); err != nil {
			return res, nonRetryable(ErrTypeInvalidInput, "action: %v", err)
		}
		rel, err := a.Deploy.CreateRelease(ctx, req.IdempotencyKey, deploy.ReleaseRequest{
			Target: act.Target, Service: act.Service, Version: act.Version, ArtifactDigest: act.ArtifactDigest, RequestedBy: act.RequestedBy,
		})
		if deploy.IsConflict(err) {
			return res, nonRetryable(ErrTypeActionChanged, "deployment system refused the release: %v", err)
		}
		if err != nil {
			return res, classify(fmt.Errorf("create release: %w", err))
		}
		res.Ref = rel.ID
	case KindEmail:
		if a.Mail == nil {
			return res, notConfigured("Mail")
		}
		var act EmailAction
		if err := json.Unmarshal(req.Action, &act); err != nil {
			return res, nonRetryable(ErrTypeInvalidInput, "action: %v", err)
		}
		id := emailMessageID(req.IdempotencyKey)
		msg := email.Message{From: a.from(), To: []string{act.To}, Subject: act.Subject,
			Body: act.Body + "\n\n-- \nSent by ExecutionOrchestrator on behalf of " + act.RequestedBy + ".\n", MessageID: id}
		if err := a.Mail.Send(ctx, msg); err != nil {
			return res, classify(fmt.Errorf("send email: %w", err))
		}
		res.Ref = id
	default:
		return res, nonRetryable(ErrTypeInvalidInput, "kind: %q is not executed by this activity", req.Kind)
	}
	return res, nil
}

// emailMessageID is the Message-ID of an email action: its idempotency key.
func emailMessageID(key string) string { return "<" + key + "@execution-orchestrator>" }

// earlier finds the side effect an earlier attempt of this very action made
// under its idempotency key; "" when there is none.
func (a *Activities) earlier(ctx context.Context, req ExecuteRequest) (string, error) {
	switch req.Kind {
	case KindDeploy:
		if a.Deploy == nil {
			return "", notConfigured("Deploy")
		}
		rs, err := a.Deploy.ListReleases(ctx, req.Target, "")
		if err != nil {
			return "", classify(fmt.Errorf("look for an earlier release: %w", err))
		}
		for _, r := range rs {
			if r.IdempotencyKey == req.IdempotencyKey {
				return r.ID, nil
			}
		}
	case KindEmail:
		if a.Mail == nil {
			return "", notConfigured("Mail")
		}
		id := emailMessageID(req.IdempotencyKey)
		if _, err := a.Mail.Lookup(ctx, id); err == nil {
			return id, nil
		} else if !email.IsNotFound(err) {
			return "", classify(fmt.Errorf("look for an earlier email: %w", err))
		}
	}
	return "", nil
}

// paramsOf recovers a proposal's params from its resolved action, so the
// side effect re-reads the target system for exactly what was gated.
func paramsOf(kind string, act json.RawMessage) json.RawMessage {
	var out any
	switch kind {
	case KindDeploy:
		var d DeployAction
		_ = json.Unmarshal(act, &d)
		out = DeployParams{Service: d.Service, Version: d.Version}
	case KindEmail:
		var e EmailAction
		_ = json.Unmarshal(act, &e)
		out = EmailParams{Subject: e.Subject, Body: e.Body}
	default:
		return nil
	}
	raw, _ := json.Marshal(out)
	return raw
}

// Verify confirms the resolution: a release healthy (not just accepted), an
// email in the recipient's mailbox. Until then it fails NotYet and the retry
// policy asks again; an unhealthy release fails for good.
func (a *Activities) AgentVerify(ctx context.Context, req VerifyRequest) (VerifyResult, error) {
	if _, err := a.ensureOurs(ctx); err != nil {
		return VerifyResult{}, err
	}
	if strings.TrimSpace(req.Ref) == "" {
		return VerifyResult{}, nonRetryable(ErrTypeInvalidInput, "ref: required")
	}
	switch req.Kind {
	case KindDeploy:
		if a.Deploy == nil {
			return VerifyResult{}, notConfigured("Deploy")
		}
		rel, err := a.Deploy.GetRelease(ctx, req.Ref)
		if err != nil {
			return VerifyResult{}, classify(fmt.Errorf("read release %s: %w", req.Ref, err))
		}
		switch rel.Status {
		case deploy.StatusHealthy:
			at := a.now().UTC()
			if rel.HealthyAt != nil {
				at = rel.HealthyAt.UTC()
			}
			return VerifyResult{State: "healthy", Detail: fmt.Sprintf("%s %s healthy on %s", rel.Service, rel.Version, rel.Target), At: at}, nil
		case deploy.StatusUnhealthy:
			return VerifyResult{}, nonRetryable(ErrTypeUnhealthy, "release %s is unhealthy: %s", rel.ID, rel.Detail)
		}
		return VerifyResult{}, temporal.NewApplicationError("release "+rel.ID+" is still "+rel.Status, ErrTypeNotYet)
	case KindEmail:
		if a.Mail == nil {
			return VerifyResult{}, notConfigured("Mail")
		}
		m, err := a.Mail.Lookup(ctx, req.Ref)
		if email.IsNotFound(err) {
			return VerifyResult{}, temporal.NewApplicationError("message "+req.Ref+" not delivered yet", ErrTypeNotYet)
		}
		if err != nil {
			return VerifyResult{}, classify(fmt.Errorf("look up message %s: %w", req.Ref, err))
		}
		return VerifyResult{State: "delivered", Detail: "delivered to " + strings.Join(m.To, ", "), At: m.ReceivedAt.UTC()}, nil
	}
	return VerifyResult{}, nonRetryable(ErrTypeInvalidInput, "kind: %q is not verified by this activity", req.Kind)
}

// SignHandoff vouches, with the worker's key, that the agent requested the
// vendor payment this action hands off to: the agent's own start proof is
// for this action, and the worker checked it before signing.
func (a *Activities) AgentSignHandoff(ctx context.Context, req HandoffRequest) (string, error) {
	started, err := a.ensureOurs(ctx)
	if err != nil {
		return "", err
	}
	if a.Signer == nil {
		return "", notConfigured("Signer")
	}
	if a.Trust == nil {
		return "", notConfigured("Trust")
	}
	trust, err := a.Trust()
	if err != nil {
		return "", fmt.Errorf("load trusted keys: %w", err)
	}
	ok, err := verifyRequester(GateRequest{RequestedBy: req.RequestedBy, RequesterProof: req.RequesterProof, ProposalDigest: req.ProposalDigest}, trust, activity.GetInfo(ctx).WorkflowExecution.ID, started)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", nonRetryable(ErrTypeProofRefused, "requesterProof: the agent's start is not proven; no payment is handed off")
	}
	now := a.now().UTC()
	return a.Signer.Sign(proof.Assertion{
		Kind: proof.KindStart, WorkflowID: req.ChildWorkflowID, Subject: req.RequestedBy, Method: proof.MethodService,
		IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute),
	})
}

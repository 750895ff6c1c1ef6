package customerescalation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/connectors/ticketing"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// DetectorTuningKey is the process.Deps.Tuning key of a DetectorConfig.
const DetectorTuningKey = ProcessName + "/detector"

// DetectorConfig tunes the detector.
type DetectorConfig struct {
	// HealthThreshold: enterprise accounts with a health score below it are
	// escalated; 0 means DefaultHealthThreshold.
	HealthThreshold int
}

// IssueLister lists ticketing issues (*ticketing.Client).
type IssueLister interface {
	ListIssues(ctx context.Context, f ticketing.Filter) ([]ticketing.Issue, error)
}

// AccountLister lists CRM accounts (*crm.Client).
type AccountLister interface {
	ListAccounts(ctx context.Context, f crm.AccountFilter) ([]crm.Account, error)
}

// Starter starts workflows and describes the calling workflow
// (tclient.Client).
type Starter interface {
	process.Describer
	ExecuteWorkflow(ctx context.Context, options tclient.StartWorkflowOptions, workflow any, args ...any) (tclient.WorkflowRun, error)
}

// Detector holds the activities of the escalation detector.
type Detector struct {
	Ticketing IssueLister
	CRM       AccountLister
	// Temporal starts the escalations and checks the caller
	// (process.EnsureCaller); nil refuses the start and skips the check in
	// the list activities (unit tests calling them directly).
	Temporal Starter
	// HealthThreshold, 0 => DefaultHealthThreshold.
	HealthThreshold int
	// Signer is the worker's key: the detector's starts carry a proof that
	// the Schedule, not a claim, requested them. Nil starts without one.
	Signer *proof.Signer
	// Now is the clock of those proofs; nil means time.Now.
	Now func() time.Time
}

// NewDetector builds the detector's activities from the shared dependencies.
func NewDetector(d process.Deps) *Detector {
	det := &Detector{Signer: d.Signer, Now: d.Now}
	if c, ok := d.Tuning[DetectorTuningKey].(DetectorConfig); ok {
		det.HealthThreshold = c.HealthThreshold
	}
	// Typed nils must stay untyped nils, so "not configured" is detected.
	if d.Ticketing != nil {
		det.Ticketing = d.Ticketing
	}
	if d.CRM != nil {
		det.CRM = d.CRM
	}
	if d.Temporal != nil {
		det.Temporal = d.Temporal
	}
	return det
}

func (d *Detector) threshold() int {
	if d.HealthThreshold > 0 {
		return d.HealthThreshold
	}
	return DefaultHealthThreshold
}

// ensureOurs refuses a call from anything but a detector run the Schedule
// started (its ids are DetectorScheduleID + "-" + the scheduled time).
func (d *Detector) ensureOurs(ctx context.Context) error {
	id := activity.GetInfo(ctx).WorkflowExecution.ID
	if id != DetectorScheduleID && !strings.HasPrefix(id, DetectorScheduleID+"-") {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("serves only the %s schedule's runs; refused for %s", DetectorScheduleID, id), process.ErrTypeNotOurs, nil)
	}
	if d.Temporal == nil {
		return nil
	}
	_, err := process.EnsureCaller(ctx, d.Temporal, DetectorWorkflow, id)
	return err
}

// EscalationListP1Issues returns the open or in-progress P1 issues of the
// support project.
func (d *Detector) EscalationListP1Issues(ctx context.Context) ([]P1Issue, error) {
	if err := d.ensureOurs(ctx); err != nil {
		return nil, err
	}
	if d.Ticketing == nil {
		return nil, notConfigured("Ticketing")
	}
	list, err := d.Ticketing.ListIssues(ctx, ticketing.Filter{Statuses: []string{ticketing.StatusOpen, ticketing.StatusInProgress},
		Priority: DetectorPriority, Project: SupportProject})
	if err != nil {
		return nil, classify(fmt.Errorf("list P1 support issues: %w", err))
	}
	out := make([]P1Issue, 0, len(list))
	for _, is := range list {
		out = append(out, P1Issue{ID: is.ID, AccountID: is.AccountID, Title: is.Title})
	}
	return out, nil
}

// EscalationListUnhealthyAccounts returns the enterprise accounts whose health is
// below the threshold.
func (d *Detector) EscalationListUnhealthyAccounts(ctx context.Context) ([]UnhealthyAccount, error) {
	if err := d.ensureOurs(ctx); err != nil {
		return nil, err
	}
	if d.CRM == nil {
		return nil, notConfigured("CRM")
	}
	th := d.threshold()
	list, err := d.CRM.ListAccounts(ctx, crm.AccountFilter{HealthBelow: th, Tier: crm.TierEnterprise})
	if err != nil {
		return nil, classify(fmt.Errorf("list accounts with health below %d: %w", th, err))
	}
	out := make([]UnhealthyAccount, 0, len(list))
	for _, acc := range list {
		// The filter is the CRM's; keep only what it must have meant.
		if acc.HealthScore == nil || *acc.HealthScore >= th {
			continue
		}
		out = append(out, UnhealthyAccount{ID: acc.ID, Name: acc.Name, Health: *acc.HealthScore, Threshold: th})
	}
	return out, nil
}

// DetectorStartOptions are StartOptions for a detector's start: a running
// escalation is joined, a failed one may start again, a completed one is
// not started again (the ticket or account would be escalated on every
// run) and is reported as already started.
func DetectorStartOptions(in Input) tclient.StartWorkflowOptions {
	opts := StartOptions(in)
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
	opts.WorkflowExecutionErrorWhenAlreadyStarted = true
	return opts
}

// EscalationStartFromDetector starts the escalation of in.Ref, or joins the
// running one; the workflow id makes it idempotent.
func (d *Detector) EscalationStartFromDetector(ctx context.Context, in Input) (StartOutcome, error) {
	if err := d.ensureOurs(ctx); err != nil {
		return StartOutcome{}, err
	}
	if d.Temporal == nil {
		return StartOutcome{}, notConfigured("Temporal")
	}
	if in.RequestedBy != DetectorRequester {
		return StartOutcome{}, invalidArg(fmt.Sprintf("requestedBy: %q; the detector starts only as %s", in.RequestedBy, DetectorRequester))
	}
	if err := validateInput(in); err != nil {
		return StartOutcome{}, invalidArg(process.FailureMessage(err))
	}
	if d.Signer != nil && in.RequesterProof == "" {
		now := time.Now
		if d.Now != nil {
			now = d.Now
		}
		var err error
		if in.RequesterProof, err = SignStart(d.Signer, in, proof.MethodService, now()); err != nil {
			return StartOutcome{}, notConfigured("Signer (sign start: " + err.Error() + ")")
		}
	}
	run, err := d.Temporal.ExecuteWorkflow(ctx, DetectorStartOptions(in), Workflow, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &already):
		return StartOutcome{WorkflowID: WorkflowID(in.Ref), AlreadyCompleted: true}, nil
	case errors.Is(err, client.ErrInvalidInput):
		return StartOutcome{}, invalidArg(err.Error())
	case err != nil:
		return StartOutcome{}, fmt.Errorf("start escalation %s: %w", in.Ref, err)
	}
	return StartOutcome{WorkflowID: run.GetID(), RunID: run.GetRunID()}, nil
}

// SignStart signs the proof that in.RequestedBy requested the escalation of
// in.Ref, for Input.RequesterProof.
func SignStart(s *proof.Signer, in Input, method string, now time.Time) (string, error) {
	return s.Sign(proof.Assertion{
		Kind: proof.KindStart, WorkflowID: WorkflowID(in.Ref), Subject: in.RequestedBy,
		Method: method, IssuedAt: now.UTC(), ExpiresAt: now.UTC().Add(10 * time.Minute),
	})
}

// EnsureDetectorSchedule creates the Schedule that runs the escalation
// detector every interval, or updates its interval if it exists, so setup
// can run on every start.
func EnsureDetectorSchedule(ctx context.Context, c tclient.Client, interval time.Duration) error {
	if interval < time.Minute {
		return fmt.Errorf("detector interval: %s is shorter than the 1m minimum", interval)
	}
	spec := tclient.ScheduleSpec{Intervals: []tclient.ScheduleIntervalSpec{{Every: interval}}}
	_, err := c.ScheduleClient().Create(ctx, tclient.ScheduleOptions{
		ID:   DetectorScheduleID,
		Spec: spec,
		Action: &tclient.ScheduleWorkflowAction{
			ID:        DetectorScheduleID,
			Workflow:  DetectorWorkflow,
			TaskQueue: process.TaskQueue,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				process.SAProcess.ValueSet(DetectorScheduleID),
			),
			StaticSummary: "Lists open P1 support issues and unhealthy enterprise accounts and starts a customer escalation for each",
		},
		// One detector at a time; a slow run is never overlapped.
		Overlap: 0,
		Note:    "created by orchestrator setup",
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create schedule %s: %w", DetectorScheduleID, err)
	}
	h := c.ScheduleClient().GetHandle(ctx, DetectorScheduleID)
	err = h.Update(ctx, tclient.ScheduleUpdateOptions{
		DoUpdate: func(in tclient.ScheduleUpdateInput) (*tclient.ScheduleUpdate, error) {
			in.Description.Schedule.Spec = &spec
			return &tclient.ScheduleUpdate{Schedule: &in.Description.Schedule}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", DetectorScheduleID, err)
	}
	return nil
}

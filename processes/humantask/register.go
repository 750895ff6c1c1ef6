package humantask

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/process"
)

// Definition is the human-task process for the worker, the replayer and
// the CLI. d.Tuning[ProcessName] may hold a Config.
func Definition(d process.Deps) process.Definition {
	cfg := DefaultConfig()
	if c, ok := d.Tuning[ProcessName].(Config); ok {
		cfg = c
	}
	return process.Definition{
		Name:              ProcessName,
		WorkflowTypes:     []string{Workflow},
		RegisterWorkflows: func(r process.WorkflowRegistry) { RegisterWorkflows(r, cfg) },
		RegisterActivities: func(r process.Registry) {
			RegisterActivities(r, NewActivities(d))
		},
		Start: startFromCLI,
	}
}

// NewActivities builds the activities from the shared dependencies.
func NewActivities(d process.Deps) *Activities {
	a := &Activities{Trust: d.Trust, Signer: d.Signer, WebBaseURL: d.WebBaseURL, Logger: d.Logger, Now: d.Now}
	// Typed nils must stay untyped nils, so "not configured" is detected.
	if d.Temporal != nil {
		a.Temporal = d.Temporal
	}
	if d.Workforce != nil {
		a.Workforce = d.Workforce
	}
	if d.Evidence != nil {
		a.Evidence = d.Evidence
	}
	if d.Directory != nil {
		a.Directory = d.Directory
	}
	if d.Mail != nil {
		a.Mail = d.Mail
	}
	if d.Codes != nil {
		a.Codes = d.Codes
	}
	return a
}

// RegisterWorkflows registers HumanTask under its contract name.
func RegisterWorkflows(r process.WorkflowRegistry, cfg Config) {
	r.RegisterWorkflowWithOptions(New(cfg).Run, workflow.RegisterOptions{Name: Workflow})
}

// RegisterActivities registers every activity under its contract name.
func RegisterActivities(r process.Registry, a *Activities) {
	for _, act := range []struct {
		name string
		fn   any
	}{
		{ActivityRoute, a.TaskRoute},
		{ActivityNotifyWorker, a.TaskNotifyWorker},
		{ActivityAdjustLoad, a.TaskAdjustLoad},
		{ActivityCheckEvidence, a.TaskCheckEvidence},
		{ActivityEscalate, a.TaskEscalate},
		{ActivityPlanReview, a.TaskPlanReview},
		{ActivityNotifyReviewers, a.TaskNotifyReviewers},
		{ActivityCheckReviewers, a.TaskCheckReviewers},
		{ActivityLoadTrust, a.TaskLoadTrust},
		{ActivityCheckCode, a.TaskCheckApprovalCode},
	} {
		r.RegisterActivityWithOptions(act.fn, activity.RegisterOptions{Name: act.name})
	}
}

// StartOptions are the options a task starts with: one workflow per task
// id, never started twice.
func StartOptions(in Input) tclient.StartWorkflowOptions {
	return tclient.StartWorkflowOptions{
		ID: WorkflowID(in.TaskID), TaskQueue: process.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:            fmt.Sprintf("Human task **%s**: %s", in.TaskID, in.Title),
		StaticDetails:            "Routes the task by skill, place and availability, offers it to one person at a time, and closes it when the evidence is checked.",
		TypedSearchAttributes: temporal.NewSearchAttributes(
			process.SAProcess.ValueSet(ProcessName), process.SABusinessKey.ValueSet(in.TaskID), process.SARequester.ValueSet(in.RequestedBy),
		),
	}
}

// startFromCLI is `orchestrator start human-task --file task.json`.
func startFromCLI(args []string) (process.StartFunc, error) {
	fs := flag.NewFlagSet("start "+ProcessName, flag.ContinueOnError)
	file := fs.String("file", "", "the task as JSON (humantask.Input) (required)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *file == "" {
		return nil, errors.New("--file: required")
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return nil, fmt.Errorf("--file: %w", err)
	}
	var in Input
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("--file: %w", err)
	}
	if err := validateInput(in); err != nil {
		return nil, fmt.Errorf("--file: %w", err)
	}
	return func(ctx context.Context, c tclient.Client, out io.Writer) error {
		run, err := c.ExecuteWorkflow(ctx, StartOptions(in), Workflow, in)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "started %s (run %s)\n", run.GetID(), run.GetRunID())
		return nil
	}, nil
}

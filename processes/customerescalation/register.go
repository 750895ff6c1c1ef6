package customerescalation

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"go.temporal.io/sdk/activity"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/process"
)

// Definition is the customer-escalation process for the worker, the
// replayer and the CLI. d.Tuning[ProcessName] may hold a Config.
func Definition(d process.Deps) process.Definition {
	cfg := DefaultConfig()
	if c, ok := d.Tuning[ProcessName].(Config); ok {
		cfg = c
	}
	return process.Definition{
		Name:              ProcessName,
		WorkflowTypes:     []string{Workflow, DetectorWorkflow},
		RegisterWorkflows: func(r process.WorkflowRegistry) { RegisterWorkflows(r, cfg) },
		RegisterActivities: func(r process.Registry) {
			RegisterActivities(r, NewActivities(d))
			RegisterDetectorActivities(r, NewDetector(d))
		},
		Start: startFromCLI,
		Setup: func(ctx context.Context, c tclient.Client, s process.Settings) error {
			return EnsureDetectorSchedule(ctx, c, s.DetectorInterval)
		},
	}
}

// NewActivities builds the activities from the shared dependencies.
func NewActivities(d process.Deps) *Activities {
	a := &Activities{Trust: d.Trust, WebBaseURL: d.WebBaseURL, Logger: d.Logger}
	// Typed nils must stay untyped nils, so "not configured" is detected.
	if d.Temporal != nil {
		a.Temporal = d.Temporal
	}
	if d.CRM != nil {
		a.CRM = d.CRM
	}
	if d.Ticketing != nil {
		a.Ticketing = d.Ticketing
	}
	if d.Chat != nil {
		a.Chat = d.Chat
	}
	if d.Mail != nil {
		a.Mail = d.Mail
	}
	if d.Directory != nil {
		a.Directory = d.Directory
	}
	if d.Links != nil {
		a.Links = d.Links
	}
	return a
}

// RegisterWorkflows registers CustomerEscalation under its contract name.
func RegisterWorkflows(r process.WorkflowRegistry, cfg Config) {
	r.RegisterWorkflowWithOptions(New(cfg).Run, workflow.RegisterOptions{Name: Workflow})
	r.RegisterWorkflowWithOptions(EscalationDetector, workflow.RegisterOptions{Name: DetectorWorkflow})
}

// RegisterDetectorActivities registers the detector's activities under
// their contract names.
func RegisterDetectorActivities(r process.Registry, det *Detector) {
	for _, act := range []struct {
		name string
		fn   any
	}{
		{ListP1IssuesActivity, det.EscalationListP1Issues},
		{ListUnhealthyActivity, det.EscalationListUnhealthyAccounts},
		{StartEscalationActivity, det.EscalationStartFromDetector},
	} {
		r.RegisterActivityWithOptions(act.fn, activity.RegisterOptions{Name: act.name})
	}
}

// RegisterActivities registers every activity under its contract name.
func RegisterActivities(r process.Registry, a *Activities) {
	for _, act := range []struct {
		name string
		fn   any
	}{
		{ActivityLoadIdentity, a.EscalationLoadIdentity},
		{ActivityResolveOwners, a.EscalationResolveOwners},
		{ActivityOpenTicket, a.EscalationOpenTicket},
		{ActivityAssignTicket, a.EscalationAssignTicket},
		{ActivityVerifyResolved, a.EscalationVerifyResolved},
		{ActivityReopenTicket, a.EscalationReopenTicket},
		{ActivityPost, a.EscalationPost},
		{ActivityNotify, a.EscalationNotify},
		{ActivitySendCustomerUpdate, a.EscalationSendCustomerUpdate},
		{ActivityVerifyDelivery, a.EscalationVerifyDelivery},
		{ActivityAskCustomer, a.EscalationAskCustomer},
		{ActivityRedeemCustomer, a.EscalationRedeemCustomer},
		{ActivityAddNote, a.EscalationAddNote},
	} {
		r.RegisterActivityWithOptions(act.fn, activity.RegisterOptions{Name: act.name})
	}
}

// startFromCLI is `orchestrator start customer-escalation --ref SUP-1
// --account ACC-GLOBEX --severity sev1 --trigger ticket --ticket TCK-SUP-1
// --summary "..."`.
func startFromCLI(args []string) (process.StartFunc, error) {
	fs := flag.NewFlagSet("start "+ProcessName, flag.ContinueOnError)
	var in Input
	fs.StringVar(&in.Ref, "ref", "", "business id of the escalation (required)")
	fs.StringVar(&in.AccountID, "account", "", "CRM account id (required)")
	fs.StringVar(&in.Severity, "severity", Sev1, "sev1, sev2 or sev3")
	fs.StringVar(&in.Trigger, "trigger", TriggerAgent, "ticket, health or agent")
	fs.StringVar(&in.TicketID, "ticket", "", "the support ticket (required for trigger ticket)")
	fs.StringVar(&in.Summary, "summary", "", "what is wrong (required)")
	fs.StringVar(&in.RequestedBy, "requested-by", "cli:operator", "who asks")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := validateInput(in); err != nil {
		return nil, errors.New("--" + process.FailureMessage(err))
	}
	return func(ctx context.Context, c tclient.Client, out io.Writer) error {
		run, err := Start(ctx, c, in)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "started %s (run %s)\n", run.GetID(), run.GetRunID())
		return nil
	}, nil
}

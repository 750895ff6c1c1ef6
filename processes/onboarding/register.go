package onboarding

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// Definition is the customer-onboarding process for the worker, the
// replayer and the CLI, with its activities bound to d. d.Tuning[ProcessName]
// may hold a Config (tests shorten it). The identity check runs as a
// HumanTask child workflow, so the worker must register the human-task
// process too.
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
// Escalations go to the field coordinators in d.Directory, or to
// d.FinanceOpsEmail when nobody holds that role.
func NewActivities(d process.Deps) *Activities {
	a := &Activities{Trust: d.Trust, OpsEmail: d.FinanceOpsEmail, Logger: d.Logger}
	// Typed nils must stay untyped nils, so "not configured" is detected.
	if d.Temporal != nil {
		a.Temporal = d.Temporal
	}
	if d.CRM != nil {
		a.CRM = d.CRM
	}
	if d.Mail != nil {
		a.Mail = d.Mail
	}
	if d.Directory != nil {
		a.Directory = d.Directory
	}
	return a
}

// RegisterWorkflows registers CustomerOnboarding under its contract name.
func RegisterWorkflows(r process.WorkflowRegistry, cfg Config) {
	r.RegisterWorkflowWithOptions(New(cfg).Run, workflow.RegisterOptions{Name: Workflow})
}

// RegisterActivities registers every activity under its contract name.
func RegisterActivities(r process.Registry, a *Activities) {
	for _, act := range []struct {
		name string
		fn   any
	}{
		{ActivityLoadTrust, a.OnboardingLoadTrust},
		{ActivityCreateAccount, a.OnboardingCreateAccount},
		{ActivitySendWelcome, a.OnboardingSendWelcome},
		{ActivityVerifyDelivery, a.OnboardingVerifyDelivery},
		{ActivityActivate, a.OnboardingActivate},
		{ActivityVerifyActive, a.OnboardingVerifyActive},
		{ActivityAddNote, a.OnboardingAddNote},
		{ActivityEscalate, a.OnboardingEscalate},
	} {
		r.RegisterActivityWithOptions(act.fn, activity.RegisterOptions{Name: act.name})
	}
}

// SignStart signs a start assertion for in with s: the proof of who
// requested that RequesterProof carries.
func SignStart(s *proof.Signer, in Input, method string, now time.Time) (string, error) {
	return s.Sign(proof.Assertion{
		Kind: proof.KindStart, WorkflowID: WorkflowID(in.CustomerRef), Subject: in.RequestedBy,
		Method: method, IssuedAt: now.UTC(), ExpiresAt: now.UTC().Add(10 * time.Minute),
	})
}

// startFromCLI is `orchestrator start customer-onboarding --ref C-1001
// --name ... --email ... --address ... --lat ... --lon ...`.
func startFromCLI(args []string) (process.StartFunc, error) {
	fs := flag.NewFlagSet("start "+ProcessName, flag.ContinueOnError)
	var in Input
	fs.StringVar(&in.CustomerRef, "ref", "", "customer reference, the business id (required)")
	fs.StringVar(&in.Name, "name", "", "the customer's full name (required)")
	fs.StringVar(&in.Email, "email", "", "the customer's email address (required)")
	fs.StringVar(&in.Phone, "phone", "", "the customer's phone number")
	fs.StringVar(&in.Address, "address", "", "where the customer is visited to verify their identity (required)")
	fs.Float64Var(&in.Lat, "lat", 0, "latitude of the address (required)")
	fs.Float64Var(&in.Lon, "lon", 0, "longitude of the address (required)")
	fs.StringVar(&in.Plan, "plan", crm.PlanStandard, "plan: "+strings.Join(crm.Plans(), ", "))
	fs.StringVar(&in.RequestedBy, "requested-by", "cli:"+currentUser(), "who asks for the onboarding (a person id, or agent:<name>)")
	wait := fs.Bool("wait", false, "wait for the outcome and print it (the identity check can take a day)")
	key := fs.String("key", os.Getenv("ORCH_REQUESTER_KEY"), "your private key file: the start carries a proof that you (--requested-by) requested it (env ORCH_REQUESTER_KEY)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := validateInput(in); err != nil {
		return nil, fmt.Errorf("--%s", cliField(err))
	}
	if *key != "" {
		signer, err := proof.LoadSigner(*key)
		if err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
		if in.RequesterProof, err = SignStart(signer, in, proof.MethodKey, time.Now()); err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
	}
	return func(ctx context.Context, c tclient.Client, out io.Writer) error {
		return startAndWait(ctx, c, in, *wait, out)
	}, nil
}

// cliField renames the input field an error names to its flag ("customerRef:
// ..." is "--ref: ..."); the result follows "--".
func cliField(err error) string {
	msg := process.FailureMessage(err)
	field, rest, _ := strings.Cut(msg, ": ")
	flags := map[string]string{"customerRef": "ref", "requestedBy": "requested-by", "requesterProof": "key"}
	if f, ok := flags[field]; ok {
		field = f
	}
	return field + ": " + rest
}

func startAndWait(ctx context.Context, c tclient.Client, in Input, wait bool, out io.Writer) error {
	run, err := Start(ctx, c, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		fmt.Fprintf(out, "customer onboarding %s already finished; its result:\n", WorkflowID(in.CustomerRef))
		res, err := GetResult(ctx, c, WorkflowID(in.CustomerRef))
		if err != nil {
			return err
		}
		return process.PrintJSON(out, res)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "started %s (run %s)\n", run.GetID(), run.GetRunID())
	if !wait {
		return nil
	}
	fmt.Fprintln(out, "waiting for the outcome (Ctrl-C stops waiting; the workflow goes on)...")
	res, err := GetResult(ctx, c, run.GetID())
	if err != nil {
		return err
	}
	return process.PrintJSON(out, res)
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

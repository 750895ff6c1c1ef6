package process

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"go.temporal.io/sdk/activity"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/connectors/chat"
	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/connectors/deploy"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/ticketing"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/linktoken"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/totp"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// WorkflowRegistry is the part of a worker or replayer that takes workflows.
type WorkflowRegistry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Registry is the part of a worker that takes workflows and activities.
type Registry interface {
	WorkflowRegistry
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// Definition is one business process as the platform sees it: what the
// worker registers, what the replayer registers, and what the CLI starts.
// Each process in processes/<name> returns one; processes.All lists them.
type Definition struct {
	// Name is the EOProcess value and the CLI's name for it ("vendor-payment").
	Name string
	// WorkflowTypes are the workflow type names the process owns.
	WorkflowTypes []string
	// RegisterWorkflows registers the workflows (worker and replayer).
	RegisterWorkflows func(r WorkflowRegistry)
	// RegisterActivities registers the activities, bound to the shared
	// dependencies the Definition was built with.
	RegisterActivities func(r Registry)
	// Start is `orchestrator start <name> ...`: it parses args (so bad
	// input is refused before anything is dialled) and returns what starts
	// the workflow and writes what it did to out.
	Start func(args []string) (StartFunc, error)
	// Setup creates what the process needs on the Temporal side (Schedules);
	// nil when nothing.
	Setup func(ctx context.Context, c tclient.Client, s Settings) error
}

// StartFunc starts a parsed request.
type StartFunc func(ctx context.Context, c tclient.Client, out io.Writer) error

// Settings are the operator's knobs Setup may use.
type Settings struct {
	DetectorInterval time.Duration
}

// Deps are the shared dependencies processes build their activities from:
// connectors, the directory, the gate, the proofs' keys and the stores. The
// worker fills them once.
type Deps struct {
	Temporal  tclient.Client
	ERP       *erp.Client
	Treasury  *treasury.Client
	Mail      *email.Client
	Deploy    *deploy.Client
	CRM       *crm.Client
	Ticketing *ticketing.Client
	Chat      *chat.Client
	Directory *policy.Directory
	Links     *linktoken.Store
	Gate      *gate.Engine
	// Trust returns the keys proofs are verified against, read per call.
	Trust func() (proof.Trust, error)
	// Codes checks one-time codes from authenticator apps.
	Codes *totp.Store
	// Workforce is the directory of field workers human tasks are routed to.
	Workforce *workforce.Store
	// Evidence keeps what workers upload for human tasks.
	Evidence *evidence.Store
	// Audit is the ledger activities append to (gate decisions, where they
	// are made); workflows record through the kernel's AuditAppend.
	Audit audit.Appender
	// Signer is the worker's key, for the assertions it signs.
	Signer          *proof.Signer
	WebBaseURL      string
	FinanceOpsEmail string
	Logger          *slog.Logger
	Now             func() time.Time
	// Tuning, per process name; a process reads its own entry.
	Tuning map[string]any
}

// PrintJSON writes v as indented JSON, the CLI's output format.
func PrintJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

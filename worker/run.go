package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/activity"
	tclient "go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/activities"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/linktoken"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/workflows"
)

// Config says where the worker's dependencies are. Directory and Links may
// be given ready-made (tests, `orchestrator dev` shares them with the web
// app); otherwise they are opened from OrgFile and DatabaseURL/SQLitePath.
type Config struct {
	TaskQueue       string // default workflows.TaskQueue
	SandboxURL      string // base URL of the ERP, treasury and mail HTTP APIs
	SMTPAddr        string
	DatabaseURL     string // PostgreSQL for link tokens; empty => SQLitePath
	SQLitePath      string
	OrgFile         string // empty => embedded policy/org.yaml
	WebBaseURL      string
	FinanceOpsEmail string
	Directory       *policy.Directory
	Links           *linktoken.Store
	// VendorPayment tunes workflow timeouts and retry bounds; zero => defaults.
	VendorPayment *workflows.VendorPaymentConfig
	// StopTimeout is how long in-flight activities get on shutdown.
	StopTimeout time.Duration
	Logger      *slog.Logger
}

// Worker is a started or startable Temporal worker with its dependencies.
type Worker struct {
	w         sdkworker.Worker
	taskQueue string
	closers   []func() error
}

// New builds the connectors, opens the stores and registers every workflow
// and activity on a worker for cfg.TaskQueue.
func New(ctx context.Context, c tclient.Client, cfg Config) (*Worker, error) {
	if cfg.SandboxURL == "" {
		return nil, errors.New("worker config: SandboxURL is required")
	}
	if cfg.SMTPAddr == "" {
		return nil, errors.New("worker config: SMTPAddr is required")
	}
	if cfg.WebBaseURL == "" {
		return nil, errors.New("worker config: WebBaseURL is required (approval links point there)")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	out := &Worker{taskQueue: cfg.TaskQueue}
	if out.taskQueue == "" {
		out.taskQueue = workflows.TaskQueue
	}
	dir := cfg.Directory
	if dir == nil {
		var err error
		if cfg.OrgFile == "" {
			dir, err = policy.DefaultDirectory()
		} else {
			dir, err = policy.LoadDirectory(cfg.OrgFile)
		}
		if err != nil {
			return nil, fmt.Errorf("worker: org directory: %w", err)
		}
	}
	links := cfg.Links
	if links == nil {
		var err error
		links, err = linktoken.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath, time.Now)
		if err != nil {
			return nil, fmt.Errorf("worker: link token store: %w", err)
		}
		out.closers = append(out.closers, links.Close)
	}
	erpClient := erp.New(cfg.SandboxURL, httpx.WithLogger(log))
	acts := &activities.Activities{
		ERP:             erpClient,
		Treasury:        treasury.New(cfg.SandboxURL, httpx.WithLogger(log)),
		Mail:            email.New(cfg.SMTPAddr, cfg.SandboxURL, email.WithLogger(log)),
		Directory:       dir,
		Links:           links,
		WebBaseURL:      cfg.WebBaseURL,
		FinanceOpsEmail: cfg.FinanceOpsEmail,
		Logger:          log,
	}
	stop := cfg.StopTimeout
	if stop == 0 {
		stop = 30 * time.Second
	}
	out.w = sdkworker.New(c, out.taskQueue, sdkworker.Options{WorkerStopTimeout: stop})
	vp := workflows.DefaultVendorPaymentConfig()
	if cfg.VendorPayment != nil {
		vp = *cfg.VendorPayment
	}
	RegisterWithConfig(out.w, acts, vp)
	registerDetector(out.w, &activities.Detector{ERP: erpClient, Temporal: c})
	return out, nil
}

func registerDetector(r sdkworker.Registry, d *activities.Detector) {
	r.RegisterWorkflowWithOptions(workflows.OverdueInvoiceDetector, workflow.RegisterOptions{Name: workflows.OverdueDetectorWorkflow})
	r.RegisterActivityWithOptions(d.ListOverdueInvoices, activity.RegisterOptions{Name: workflows.ListOverdueInvoicesActivity})
	r.RegisterActivityWithOptions(d.StartVendorPayment, activity.RegisterOptions{Name: workflows.StartVendorPaymentActivity})
}

// TaskQueue is the queue the worker polls.
func (w *Worker) TaskQueue() string { return w.taskQueue }

// Start begins polling without blocking.
func (w *Worker) Start() error { return w.w.Start() }

// Close stops polling, waits for in-flight tasks up to the stop timeout, and
// closes the stores the worker opened.
func (w *Worker) Close() {
	w.w.Stop()
	for _, c := range w.closers {
		_ = c()
	}
}

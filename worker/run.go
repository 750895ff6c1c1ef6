package worker

import (
	"context"
	"errors"
	"fmt"
	"github.com/execution-orchestrator/orchestrator/audit"
	"go.temporal.io/sdk/activity"
	"log/slog"
	"time"

	tclient "go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/execution-orchestrator/orchestrator/connectors/chat"
	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/connectors/deploy"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/httpx"
	"github.com/execution-orchestrator/orchestrator/connectors/ticketing"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/gate"
	"github.com/execution-orchestrator/orchestrator/linktoken"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/telemetry"
	"github.com/execution-orchestrator/orchestrator/totp"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// Config says where the worker's dependencies are. Directory and Links may
// be given ready-made (tests, `orchestrator dev` shares them with the web
// app); otherwise they are opened from OrgFile and DatabaseURL/SQLitePath.
type Config struct {
	TaskQueue       string // default workflows.TaskQueue
	SandboxURL      string // base URL of the ERP, treasury, deployment and mail HTTP APIs
	SMTPAddr        string
	DatabaseURL     string // PostgreSQL for link tokens; empty => SQLitePath
	SQLitePath      string
	OrgFile         string // empty => embedded policy/org.yaml
	WebBaseURL      string
	FinanceOpsEmail string
	Directory       *policy.Directory
	Links           *linktoken.Store
	// PolicyDir holds the gate's *.cedar files; edits there take effect on
	// the next decision. Empty uses the policies embedded from policy/.
	PolicyDir string
	// KeysDir holds the trusted public keys (*.pub) and the worker's own
	// signing key (worker.key, created on first start).
	KeysDir string
	// Codes checks one-time codes; nil opens the store beside the link tokens.
	Codes *totp.Store
	// Ledger is the audit ledger every process records to; nil opens it
	// beside the link tokens, checkpoints signed with <KeysDir>/audit.key.
	Ledger *audit.Ledger
	// Workforce is the directory of field workers human tasks are routed
	// to, and Evidence the store of their uploads; the caller opens and
	// closes both (nil: human tasks fail as not configured).
	Workforce *workforce.Store
	Evidence  *evidence.Store
	// HTTPOptions tune the ERP and treasury connectors (timeouts, breaker);
	// empty keeps httpx's defaults.
	HTTPOptions []httpx.Option
	// Tuning holds per-process settings by process name (e.g. a
	// vendorpayment.VendorPaymentConfig under "vendor-payment").
	Tuning map[string]any
	// StopTimeout is how long in-flight activities get on shutdown.
	StopTimeout time.Duration
	// Metrics is the pipeline the Temporal client was dialed with (its
	// TemporalHandler as client option MetricsHandler): the SDK's metrics
	// and ours reach it through that client, so the worker only serves it.
	Metrics *telemetry.Metrics
	// MetricsAddr is where Prometheus scrapes /metrics (e.g.
	// 127.0.0.1:9464; port 0 picks a free one); empty serves nothing.
	MetricsAddr string
	Logger      *slog.Logger
}

// Worker is a started or startable Temporal worker with its dependencies.
type Worker struct {
	w         sdkworker.Worker
	taskQueue string
	closers   []func() error
	metrics   *telemetry.MetricsServer
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
	if cfg.KeysDir == "" {
		return nil, errors.New("worker config: KeysDir is required (trusted keys and the worker's signing key)")
	}
	if cfg.MetricsAddr != "" && cfg.Metrics == nil {
		return nil, errors.New("worker config: MetricsAddr needs Metrics (the pipeline the Temporal client was dialed with)")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	out := &Worker{taskQueue: cfg.TaskQueue}
	if out.taskQueue == "" {
		out.taskQueue = process.TaskQueue
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
	codes := cfg.Codes
	if codes == nil {
		var err error
		codes, err = totp.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath, time.Now)
		if err != nil {
			out.close()
			return nil, fmt.Errorf("worker: one-time code store: %w", err)
		}
		out.closers = append(out.closers, codes.Close)
	}
	ledger := cfg.Ledger
	if ledger == nil {
		key, err := audit.EnsureKey(cfg.KeysDir)
		if err != nil {
			out.close()
			return nil, fmt.Errorf("worker: audit signing key: %w", err)
		}
		ledger, err = audit.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath, audit.Options{Signer: key, Now: time.Now})
		if err != nil {
			out.close()
			return nil, fmt.Errorf("worker: audit ledger: %w", err)
		}
		out.closers = append(out.closers, ledger.Close)
	}
	src := gate.FSSource(policy.DefaultPolicies())
	if cfg.PolicyDir != "" {
		src = gate.DirSource(cfg.PolicyDir)
	}
	engine, err := gate.Open(src, time.Now, log.With("part", "gate"))
	if err != nil {
		out.close()
		return nil, fmt.Errorf("worker: policy gate: %w", err)
	}
	signer, err := proof.EnsureSigner(cfg.KeysDir, "worker", proof.IssuerWorker)
	if err != nil {
		out.close()
		return nil, fmt.Errorf("worker: signing key: %w", err)
	}
	deps := process.Deps{
		Temporal:        c,
		ERP:             erp.New(cfg.SandboxURL, append([]httpx.Option{httpx.WithLogger(log)}, cfg.HTTPOptions...)...),
		Treasury:        treasury.New(cfg.SandboxURL, append([]httpx.Option{httpx.WithLogger(log)}, cfg.HTTPOptions...)...),
		Deploy:          deploy.New(cfg.SandboxURL, append([]httpx.Option{httpx.WithLogger(log)}, cfg.HTTPOptions...)...),
		CRM:             crm.New(cfg.SandboxURL, append([]httpx.Option{httpx.WithLogger(log)}, cfg.HTTPOptions...)...),
		Ticketing:       ticketing.New(cfg.SandboxURL, append([]httpx.Option{httpx.WithLogger(log)}, cfg.HTTPOptions...)...),
		Chat:            chat.New(cfg.SandboxURL, append([]httpx.Option{httpx.WithLogger(log)}, cfg.HTTPOptions...)...),
		Mail:            email.New(cfg.SMTPAddr, cfg.SandboxURL, email.WithLogger(log)),
		Directory:       dir,
		Links:           links,
		Gate:            engine,
		Trust:           TrustFrom(cfg.KeysDir, dir),
		Codes:           codes,
		Workforce:       cfg.Workforce,
		Evidence:        cfg.Evidence,
		Audit:           ledger,
		Signer:          signer,
		WebBaseURL:      cfg.WebBaseURL,
		FinanceOpsEmail: cfg.FinanceOpsEmail,
		Logger:          log,
		Now:             time.Now,
		Tuning:          cfg.Tuning,
	}
	stop := cfg.StopTimeout
	if stop == 0 {
		stop = 30 * time.Second
	}
	if cfg.MetricsAddr != "" {
		// Bound now, so a taken port fails the start, not a goroutine later.
		ms, err := cfg.Metrics.Listen(cfg.MetricsAddr, log.With("part", "metrics"))
		if err != nil {
			out.close()
			return nil, fmt.Errorf("worker: %w", err)
		}
		out.metrics = ms
		out.closers = append(out.closers, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return ms.Close(ctx)
		})
	}
	out.w = sdkworker.New(c, out.taskQueue, sdkworker.Options{WorkerStopTimeout: stop})
	for _, p := range processes.All(deps) {
		p.RegisterWorkflows(out.w)
		p.RegisterActivities(out.w)
	}
	RegisterKernel(out.w, ledger)
	return out, nil
}

// TrustFrom returns the keys proofs are verified against: the *.pub files
// in keysDir (web app, worker) and the people's keys in the directory. It
// reads the folder on every call, so an added or removed key counts at once.
func TrustFrom(keysDir string, dir *policy.Directory) func() (proof.Trust, error) {
	return func() (proof.Trust, error) {
		t, err := proof.LoadTrustDir(keysDir)
		if err != nil {
			return proof.Trust{}, err
		}
		people, err := dir.TrustedKeys()
		if err != nil {
			return proof.Trust{}, err
		}
		return t.Merge(people), nil
	}
}

func (w *Worker) close() {
	for _, c := range w.closers {
		_ = c()
	}
}

// TaskQueue is the queue the worker polls.
func (w *Worker) TaskQueue() string { return w.taskQueue }

// MetricsAddr is the address /metrics is served on; empty when off.
func (w *Worker) MetricsAddr() string {
	if w.metrics == nil {
		return ""
	}
	return w.metrics.Addr()
}

// Start begins polling and serving metrics without blocking.
func (w *Worker) Start() error {
	if err := w.w.Start(); err != nil {
		return err
	}
	if w.metrics != nil {
		w.metrics.Serve()
	}
	return nil
}

// Close stops polling, waits for in-flight tasks up to the stop timeout, and
// closes the stores the worker opened.
func (w *Worker) Close() {
	w.w.Stop()
	w.close()
}

// RegisterKernel registers what every process shares, once per worker: the
// audit append (a local activity, so it is registered like an activity).
func RegisterKernel(r process.Registry, ledger audit.Appender) {
	a := &audit.Activities{Ledger: ledger}
	r.RegisterActivityWithOptions(a.AuditAppend, activity.RegisterOptions{Name: audit.AppendActivityName})
}

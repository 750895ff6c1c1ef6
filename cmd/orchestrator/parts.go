package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/execution-orchestrator/orchestrator/audit"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	tclient "go.temporal.io/sdk/client"

	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/linktoken"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/telemetry"
	"github.com/execution-orchestrator/orchestrator/web"
	"github.com/execution-orchestrator/orchestrator/worker"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

func loadDirectory(s *settings) (*policy.Directory, error) {
	if s.orgFile == "" {
		return policy.DefaultDirectory()
	}
	return policy.LoadDirectory(s.orgFile)
}

func workerConfig(s *settings, log *slog.Logger) worker.Config {
	return worker.Config{
		SandboxURL:      s.sandboxURL,
		SMTPAddr:        s.smtpAddr,
		DatabaseURL:     s.databaseURL,
		SQLitePath:      s.sqlitePath("orchestrator.db"),
		OrgFile:         s.orgFile,
		KeysDir:         s.keys(),
		PolicyDir:       s.policyDir,
		WebBaseURL:      s.webBaseURL,
		FinanceOpsEmail: s.financeOpsEmail,
		Logger:          log,
	}
}

// openEvidence opens the evidence store where the other stores are, its
// blobs under <data-dir>/evidence.
func openEvidence(ctx context.Context, s *settings) (*evidence.Store, error) {
	store, err := evidence.Open(ctx, s.databaseURL, s.sqlitePath("orchestrator.db"), s.evidenceDir(), time.Now)
	if err != nil {
		return nil, fmt.Errorf("open evidence store: %w", err)
	}
	return store, nil
}

// openTaskStores opens the workforce directory and the evidence store that
// human tasks, the worker and the web app share; close closes both.
func openTaskStores(ctx context.Context, s *settings) (*workforce.Store, *evidence.Store, func(), error) {
	wf, err := openWorkforce(ctx, s)
	if err != nil {
		return nil, nil, nil, err
	}
	ev, err := openEvidence(ctx, s)
	if err != nil {
		wf.Close()
		return nil, nil, nil, err
	}
	return wf, ev, func() { ev.Close(); wf.Close() }, nil
}

// background runs fn until its context is cancelled and reports as a part.
func background(ctx context.Context, name string, fn func(context.Context) error) part {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		err = fn(ctx)
	}()
	return part{name: name, done: done,
		err: func() error { <-done; return err },
		stop: func(stopCtx context.Context) error {
			cancel()
			select {
			case <-done:
				return err
			case <-stopCtx.Done():
				return fmt.Errorf("%s did not stop: %w", name, stopCtx.Err())
			}
		}}
}

// startWorker starts the worker on c; metrics, when not nil, is the
// pipeline c was dialed with, served at --metrics-addr.
func startWorker(ctx context.Context, c tclient.Client, s *settings, metrics *telemetry.Metrics, log *slog.Logger) (part, error) {
	cfg := workerConfig(s, log)
	if metrics != nil {
		cfg.Metrics, cfg.MetricsAddr = metrics, s.metricsAddr
	}
	wf, ev, closeStores, err := openTaskStores(ctx, s)
	if err != nil {
		return part{}, err
	}
	cfg.Workforce, cfg.Evidence = wf, ev
	w, err := worker.New(ctx, c, cfg)
	if err != nil {
		closeStores()
		return part{}, err
	}
	if err := w.Start(); err != nil {
		w.Close()
		closeStores()
		return part{}, fmt.Errorf("start worker: %w", err)
	}
	log.Info("worker polling", "taskQueue", w.TaskQueue())
	if addr := w.MetricsAddr(); addr != "" {
		log.Info("metrics for Prometheus", "url", "http://"+addr+"/metrics")
	}
	return background(ctx, "worker", func(ctx context.Context) error {
		<-ctx.Done()
		w.Close() // waits for in-flight tasks up to the worker's stop timeout
		closeStores()
		return nil
	}), nil
}

func startSandbox(ctx context.Context, s *settings, log *slog.Logger) (part, error) {
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return part{}, fmt.Errorf("create data dir: %w", err)
	}
	srv, err := sandbox.Start(ctx, sandbox.Config{
		HTTPAddr: s.sandboxAddr, SMTPAddr: s.smtpAddr,
		DatabaseURL: s.databaseURL, SQLitePath: s.sqlitePath("sandbox.db"),
		SettleAfter: s.settleAfter, Faults: s.faults, Seed: true, Logger: log.With("part", "sandbox"),
	})
	if err != nil {
		return part{}, fmt.Errorf("sandbox: %w", err)
	}
	log.Info("sandbox ready", "http", srv.HTTPURL(), "smtp", srv.SMTPAddr())
	return part{name: "sandbox", done: srv.Done(), err: srv.Err,
		stop: func(context.Context) error { return srv.Close() }}, nil
}

func startWeb(ctx context.Context, c tclient.Client, s *settings, log *slog.Logger) (part, error) {
	dir, err := loadDirectory(s)
	if err != nil {
		return part{}, err
	}
	wf, ev, closeStores, err := openTaskStores(ctx, s)
	if err != nil {
		return part{}, err
	}
	links, err := linktoken.Open(ctx, s.databaseURL, s.sqlitePath("orchestrator.db"), time.Now)
	if err != nil {
		closeStores()
		return part{}, fmt.Errorf("open link token store: %w", err)
	}
	// The web app reads the ledger (the audit and operations views); only
	// the worker appends and signs checkpoints.
	ledger, err := audit.Open(ctx, s.databaseURL, s.sqlitePath("orchestrator.db"), audit.Options{Now: time.Now, CheckpointEvery: -1})
	if err != nil {
		links.Close()
		closeStores()
		return part{}, fmt.Errorf("open audit ledger: %w", err)
	}
	closeAll := func() { ledger.Close(); links.Close(); closeStores() }
	// Field workers sign in too: their tasks, their evidence uploads.
	cfg := web.Config{Temporal: c, Directory: dir, Links: links, Logger: log.With("part", "web"), Now: time.Now,
		Workforce: wf, Evidence: ev, Audit: ledger, TemporalUIURL: s.temporalUIURL}
	// The app signs decisions only for workflows the processes own.
	for _, p := range processes.All(process.Deps{}) {
		cfg.WorkflowTypes = append(cfg.WorkflowTypes, p.WorkflowTypes...)
	}
	cfg.Ops = web.TemporalOps{Client: c, Now: time.Now, WorkflowTypes: cfg.WorkflowTypes}
	s.webSignIn(&cfg)
	// The web app signs every decision made in it; its public key goes
	// where the worker reads trusted keys. Only with the development picker
	// may it claim method "dev" (anyone can be anyone there).
	methods := []string{proof.MethodOIDC, proof.MethodLink, proof.MethodChat}
	if cfg.DevIdentity {
		methods = append(methods, proof.MethodDev)
	}
	if cfg.Signer, err = proof.EnsureSigner(s.keys(), "web", proof.IssuerWeb, methods...); err != nil {
		closeAll()
		return part{}, fmt.Errorf("web app signing key: %w", err)
	}
	// Chat commands (ack, reassign, resolved) arrive at /hooks/chat, signed
	// with the shared secret.
	if s.chatWebhookSecret == "" {
		s.chatWebhookSecret = os.Getenv(chatWebhookSecretEnv)
	}
	if s.chatWebhookSecret != "" {
		cfg.ChatWebhookSecret = []byte(s.chatWebhookSecret)
	}
	// The codec server: the Temporal UI decodes payloads through the app.
	if cfg.Codec, err = s.webCodec(); err != nil {
		closeAll()
		return part{}, err
	}
	app, err := web.New(cfg)
	if err != nil {
		closeAll()
		return part{}, fmt.Errorf("web app: %w", err)
	}
	ln, err := net.Listen("tcp", s.webAddr)
	if err != nil {
		closeAll()
		return part{}, fmt.Errorf("web app listen on %s: %w", s.webAddr, err)
	}
	// The app's own timeouts and header limit, the same the tests serve with.
	hs := web.NewHTTPServer(app.Handler())
	hs.ErrorLog = slog.NewLogLogger(log.With("part", "web").Handler(), slog.LevelWarn)
	return background(ctx, "web app", func(ctx context.Context) error {
		defer closeAll()
		errc := make(chan error, 1)
		go func() { errc <- hs.Serve(ln) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return hs.Shutdown(shutCtx)
		}
	}), nil
}

// waitForPart blocks a standalone part until Ctrl-C/SIGTERM or until it dies.
func waitForPart(ctx context.Context, p part, log *slog.Logger) error {
	err := supervise(ctx, []part{p}, log)
	stopCtx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if serr := p.stop(stopCtx); serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

func runWorker(ctx context.Context, args []string, log *slog.Logger) error {
	s, err := parseSettings("worker", args, (*settings).metricsFlags)
	if err != nil {
		return err
	}
	metrics, stop, err := openMetrics(s, log)
	if err != nil {
		return err
	}
	defer stop()
	// The worker creates the payload keyring on its first start.
	ring, err := s.keyring(true)
	if err != nil {
		return err
	}
	opts := []client.DialOption{client.WithCodec(ring)}
	if metrics != nil {
		opts = append(opts, client.WithMetrics(metrics.TemporalHandler()))
	}
	c, err := client.Dial(ctx, log, opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	p, err := startWorker(ctx, c, s, metrics, log)
	if err != nil {
		return err
	}
	return waitForPart(ctx, p, log)
}

// openMetrics builds the metrics pipeline when --metrics-addr asks for one
// (nil otherwise) and returns what shuts it down.
func openMetrics(s *settings, log *slog.Logger) (*telemetry.Metrics, func(), error) {
	if s.metricsAddr == "" {
		return nil, func() {}, nil
	}
	m, err := telemetry.NewMetrics(log.With("part", "metrics"))
	if err != nil {
		return nil, nil, err
	}
	return m, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			log.Warn("stop metrics", "error", err)
		}
	}, nil
}

func runSandbox(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	s, err := parseSettings("sandbox", args, (*settings).sandboxFlags)
	if err != nil {
		return err
	}
	p, err := startSandbox(ctx, s, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sandbox: HTTP http://%s, SMTP %s\n", s.sandboxAddr, s.smtpAddr)
	return waitForPart(ctx, p, log)
}

func runWeb(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	s, err := parseSettings("web", args, (*settings).webFlags)
	if err != nil {
		return err
	}
	if err := s.checkWeb(); err != nil {
		return err
	}
	return withCodecClient(ctx, log, s.codecKeysPath(), func(c tclient.Client) error {
		p, err := startWeb(ctx, c, s, log)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "approval web app: %s\n", s.webBaseURL)
		return waitForPart(ctx, p, log)
	})
}

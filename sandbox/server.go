// Package sandbox is one local HTTP + SMTP service standing in for the SaaS
// systems ExecutionOrchestrator acts on: an ERP (vendors, invoices, approved
// payment schedule), a treasury (payment releases with idempotency keys), a
// mail system (a real SMTP server with an HTTP read API), a deployment
// system (an artifact registry and releases to staging and production), a
// CRM (accounts with ARR, owner, health score and notes), a ticketing system
// (issues, status workflow, comments, links) and a chat system (channels,
// messages, signed webhooks for human replies). It supports fault
// injection so that retries, timeouts and idempotency can be exercised.
// The HTTP API is documented in openapi.yaml.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// DefaultSettleAfter is how long a released payment takes to settle.
const DefaultSettleAfter = 2 * time.Second

// DefaultDeployHealthyAfter is how long a release takes to roll out.
const DefaultDeployHealthyAfter = time.Second

// Config configures the sandbox.
type Config struct {
	HTTPAddr string // e.g. "127.0.0.1:8090"; "127.0.0.1:0" picks a free port
	SMTPAddr string // e.g. "127.0.0.1:2525"; "127.0.0.1:0" picks a free port
	// DatabaseURL selects PostgreSQL (pgx). To keep several sandboxes apart in
	// one database put search_path in the URL, e.g. "&search_path=myschema";
	// the schema must exist. Empty => SQLite at SQLitePath.
	DatabaseURL string
	SQLitePath  string        // e.g. ".data/sandbox.db"
	SettleAfter time.Duration // released -> settled after this; 0 => 2s; < 0 => never
	// DeployHealthyAfter: a release goes deploying -> healthy after this;
	// 0 => 1s; < 0 => never.
	DeployHealthyAfter time.Duration
	Faults             map[string]Fault
	Seed               bool             // seed demo data if the store is empty
	Now                func() time.Time // nil => time.Now
	Rand               func() float64   // fault dice in [0,1); nil => math/rand/v2
	Logger             *slog.Logger
}

// Server is a running sandbox.
type Server struct {
	cfg      Config
	now      func() time.Time
	rand     func() float64
	log      *slog.Logger
	store    *store
	httpSrv  *http.Server
	httpLn   net.Listener
	smtpSrv  *smtp.Server
	smtpLn   net.Listener
	wg       sync.WaitGroup
	closeOne sync.Once
	closeErr error

	mu     sync.Mutex
	faults map[string]Fault

	// writeMu serializes ticketing and chat writes, which number their
	// records (TCK-SUP-<n>, MSG-<n>) in order.
	writeMu sync.Mutex

	// done closes when a listener stops serving (failure or Close), so a
	// supervisor notices a dead sandbox; failure says why.
	done     chan struct{}
	doneOnce sync.Once
	failure  error
}

// Start opens the store (seeding it when asked and empty), binds both
// listeners and serves in the background. It returns once both listeners are
// bound, so connections made after it returns are served.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.HTTPAddr == "" {
		return nil, errors.New("sandbox config: HTTPAddr is required")
	}
	if cfg.SMTPAddr == "" {
		return nil, errors.New("sandbox config: SMTPAddr is required")
	}
	s := &Server{cfg: cfg, now: cfg.Now, rand: cfg.Rand, log: cfg.Logger, done: make(chan struct{})}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Float64
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.cfg.SettleAfter == 0 {
		s.cfg.SettleAfter = DefaultSettleAfter
	}
	if s.cfg.DeployHealthyAfter == 0 {
		s.cfg.DeployHealthyAfter = DefaultDeployHealthyAfter
	}
	if err := s.SetFaults(cfg.Faults); err != nil {
		return nil, fmt.Errorf("sandbox config: faults: %w", err)
	}
	st, err := openStore(ctx, cfg.DatabaseURL, cfg.SQLitePath)
	if err != nil {
		return nil, err
	}
	s.store = st
	if cfg.Seed {
		if err := s.seedIfEmpty(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}

	var lc net.ListenConfig
	s.httpLn, err = lc.Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen http %s: %w", cfg.HTTPAddr, err)
	}
	s.smtpLn, err = lc.Listen(ctx, "tcp", cfg.SMTPAddr)
	if err != nil {
		s.httpLn.Close()
		st.Close()
		return nil, fmt.Errorf("listen smtp %s: %w", cfg.SMTPAddr, err)
	}

	s.httpSrv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.smtpSrv = smtp.NewServer(&smtpBackend{s: s})
	s.smtpSrv.Domain = "sandbox.localhost"
	s.smtpSrv.MaxMessageBytes = 10 << 20
	s.smtpSrv.MaxRecipients = 50
	s.smtpSrv.ReadTimeout = 30 * time.Second
	s.smtpSrv.WriteTimeout = 30 * time.Second
	s.smtpSrv.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)

	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.httpSrv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sandbox http server stopped", "err", err)
			s.stopped(fmt.Errorf("http server: %w", err))
		}
		s.stopped(nil)
	}()
	go func() {
		defer s.wg.Done()
		if err := s.smtpSrv.Serve(s.smtpLn); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			s.log.Error("sandbox smtp server stopped", "err", err)
			s.stopped(fmt.Errorf("smtp server: %w", err))
		}
		s.stopped(nil)
	}()
	s.log.Info("sandbox started", "http", s.HTTPURL(), "smtp", s.SMTPAddr(), "postgres", st.postgres)
	return s, nil
}

func (s *Server) stopped(err error) {
	s.doneOnce.Do(func() {
		s.failure = err
		close(s.done)
	})
}

// Done is closed once either listener has stopped serving.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err says why the sandbox stopped serving; nil while it runs.
func (s *Server) Err() error {
	select {
	case <-s.done:
		if s.failure == nil {
			return errors.New("sandbox stopped serving")
		}
		return s.failure
	default:
		return nil
	}
}

// HTTPURL is the base URL of the HTTP API, e.g. "http://127.0.0.1:8090".
func (s *Server) HTTPURL() string { return "http://" + s.httpLn.Addr().String() }

// SMTPAddr is the host:port of the SMTP server.
func (s *Server) SMTPAddr() string { return s.smtpLn.Addr().String() }

// Close stops both servers, letting in-flight requests finish for up to 5s,
// then closes the store.
func (s *Server) Close() error {
	s.closeOne.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		errs := []error{}
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown http: %w", err))
		}
		if err := s.smtpSrv.Shutdown(ctx); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			s.smtpSrv.Close()
			errs = append(errs, fmt.Errorf("shutdown smtp: %w", err))
		}
		// go-smtp closes only the listeners Serve has registered: on a Close
		// right after Start, Serve may not have run yet and would then block
		// on Accept forever. Closing twice is harmless.
		_ = s.smtpLn.Close()
		s.wg.Wait()
		if err := s.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Reset wipes all state and, when the sandbox was started with Seed, seeds it
// again. Faults are left as they are.
func (s *Server) Reset(ctx context.Context) error {
	if err := s.store.wipe(ctx); err != nil {
		return err
	}
	if s.cfg.Seed {
		return s.seed(ctx)
	}
	return nil
}

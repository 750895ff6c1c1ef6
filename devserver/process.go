package devserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// Server is a running dev server process.
type Server struct {
	cfg    Config
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // set before done closes
	stderr *tailBuffer
}

// Start launches `temporal server start-dev` for cfg and returns once the
// gRPC frontend answers a health check and the UI (unless headless) serves
// pages. The process is stopped when Stop is called, not when ctx ends, so
// a caller can shut everything else down first.
func Start(ctx context.Context, temporalPath string, cfg Config, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(cfg.Storage.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", cfg.Storage.DataDir, err)
	}
	cmd := exec.Command(temporalPath, cfg.Args()...)
	tail := &tailBuffer{max: 8 << 10}
	cmd.Stdout = io.Discard
	cmd.Stderr = tail
	// Own process group: Ctrl-C in the terminal reaches us, and we decide
	// the order in which children stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", temporalPath, err)
	}
	s := &Server{cfg: cfg, cmd: cmd, done: make(chan struct{}), stderr: tail}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	log.Info("temporal dev server starting", "pid", cmd.Process.Pid, "address", cfg.Address(), "db", cfg.DBPath())
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop(10 * time.Second)
		return nil, err
	}
	return s, nil
}

// Done is closed when the process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err describes why the process exited, with the end of its stderr.
func (s *Server) Err() error {
	select {
	case <-s.done:
	default:
		return nil
	}
	msg := strings.TrimSpace(s.stderr.String())
	if s.err == nil {
		return fmt.Errorf("temporal dev server exited: %s", msg)
	}
	return fmt.Errorf("temporal dev server exited: %w: %s", s.err, msg)
}

// Stop sends SIGTERM and waits up to grace before killing the process.
func (s *Server) Stop(grace time.Duration) error {
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(grace):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		return fmt.Errorf("temporal dev server did not stop within %s; killed", grace)
	}
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var c client.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	httpc := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-s.done:
			return s.Err()
		case <-ctx.Done():
			return fmt.Errorf("temporal dev server at %s not ready: %w", s.cfg.Address(), ctx.Err())
		case <-tick.C:
		}
		if c == nil {
			dialed, err := client.Dial(client.Options{HostPort: s.cfg.Address(), Namespace: s.cfg.Server.Namespace,
				Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
			if err != nil {
				continue
			}
			c = dialed
		}
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			continue
		}
		if s.cfg.Server.Headless {
			return nil
		}
		resp, err := httpc.Get(s.cfg.UIURL())
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
}

// FindCLI returns the Temporal CLI to run: $TEMPORAL_CLI if set, else
// bin/temporal in the repository root (found by walking up from the
// working directory to our go.mod).
func FindCLI() (string, error) {
	if p := os.Getenv("TEMPORAL_CLI"); p != "" {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "bin", "temporal")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("temporal CLI not built at %s: run `make bin/temporal` (the first build takes about 3 minutes)", p)
	}
	return p, nil
}

// RepoRoot walks up from the working directory to the directory holding
// our go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module github.com/execution-orchestrator/orchestrator\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the ExecutionOrchestrator repository (no go.mod found)")
		}
		dir = parent
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"

	"github.com/execution-orchestrator/orchestrator/codec"
	"github.com/execution-orchestrator/orchestrator/connectors/chat"
	"github.com/execution-orchestrator/orchestrator/devserver"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
	"github.com/execution-orchestrator/orchestrator/telemetry"
	"github.com/execution-orchestrator/orchestrator/web"
)

// part is one running piece of the local stack.
type part struct {
	name string
	done <-chan struct{} // closed when the part stopped on its own or was stopped
	err  func() error    // why it stopped
	stop func(context.Context) error
}

// runDev starts the whole local stack and supervises it: if any part dies,
// it says which, stops the rest and returns an error; Ctrl-C or SIGTERM
// stops every part in reverse order.
func runDev(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	var configPath string
	s, err := parseSettings("dev", args, func(s *settings, fs *flag.FlagSet) {
		s.sandboxFlags(fs)
		s.webExposureFlags(fs)
		s.metricsFlags(fs)
		s.agentAPIFlags(fs, "agent-api-addr")
		fs.StringVar(&configPath, "config", "", "dev server config (default: temporal-dev.yaml in the repository root)")
	})
	if err != nil {
		return err
	}
	// The local development stack signs people in with the person picker.
	s.devIdentity = true
	if err := s.checkWeb(); err != nil {
		return err
	}
	if err := s.checkAgentAPI("agent-api-addr"); err != nil {
		return err
	}
	root, err := devserver.RepoRoot()
	if err != nil {
		return err
	}
	if configPath == "" {
		configPath = filepath.Join(root, "temporal-dev.yaml")
	}
	cfg, err := devserver.Load(configPath)
	if err != nil {
		return err
	}
	if !filepath.IsAbs(cfg.Storage.DataDir) {
		cfg.Storage.DataDir = filepath.Join(root, cfg.Storage.DataDir)
	}
	if !filepath.IsAbs(s.dataDir) {
		s.dataDir = filepath.Join(root, s.dataDir)
	}
	if s.policyDir == "" {
		// The repository's policies, so an edit takes effect at the next
		// decision of the running worker.
		s.policyDir = filepath.Join(root, "policy")
	}
	cli, err := devserver.FindCLI()
	if err != nil {
		return err
	}
	// Payloads are encrypted at rest; the UI decodes them through the web
	// app's codec server, for people signed in there.
	ring, err := s.keyring(true)
	if err != nil {
		return err
	}
	codecURL := strings.TrimSuffix(s.webBaseURL, "/") + web.CodecPath
	if cfg.Server.UICodecEndpoint == "" {
		cfg.Server.UICodecEndpoint = codecURL
	}
	s.codecUIOrigins = append(s.codecUIOrigins, cfg.UIURL())
	s.temporalUIURL = cfg.UIURL()
	s.codecNamespaces = []string{cfg.Server.Namespace}

	var parts []part
	defer func() {
		// Stop in reverse start order: web and worker before the systems
		// they call, the Temporal server last.
		stopCtx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		for i := len(parts) - 1; i >= 0; i-- {
			if serr := parts[i].stop(stopCtx); serr != nil {
				log.Warn("stop part", "part", parts[i].name, "error", serr)
			} else {
				log.Info("stopped", "part", parts[i].name)
			}
		}
	}()

	started := time.Now()
	fmt.Fprintf(out, "starting Temporal dev server (%s)...\n", cfg.DBPath())
	srv, err := devserver.Start(ctx, cli, cfg, log)
	if err != nil {
		return fmt.Errorf("temporal dev server: %w", err)
	}
	parts = append(parts, part{name: "temporal dev server", done: srv.Done(), err: srv.Err,
		stop: func(context.Context) error { return srv.Stop(20 * time.Second) }})
	fmt.Fprintf(out, "  Temporal dev server ready in %s\n", time.Since(started).Round(time.Millisecond))

	sb, err := startSandbox(ctx, s, log)
	if err != nil {
		return err
	}
	parts = append(parts, sb)
	// The worker and web app talk to the sandbox we just started.
	s.sandboxURL = "http://" + s.sandboxAddr

	tracing, err := telemetry.TemporalInterceptor(nil)
	if err != nil {
		return err
	}
	metrics, stopMetrics, err := openMetrics(s, log)
	if err != nil {
		return err
	}
	// A part, so it stops after the worker and client that record into it.
	parts = append(parts, part{name: "metrics", err: func() error { return nil },
		stop: func(context.Context) error { stopMetrics(); return nil }})
	copts := tclient.Options{HostPort: cfg.Address(), Namespace: cfg.Server.Namespace,
		Logger: sdklog.NewStructuredLogger(log), Interceptors: []interceptor.ClientInterceptor{tracing}}
	if metrics != nil {
		copts.MetricsHandler = metrics.TemporalHandler()
	}
	copts.DataConverter = codec.DataConverter(ring)
	copts.FailureConverter = codec.FailureConverter(copts.DataConverter)
	c, err := tclient.DialContext(ctx, copts)
	if err != nil {
		return fmt.Errorf("dial dev server: %w", err)
	}
	// A part of its own, so it closes after the worker and web app that use it.
	parts = append(parts, part{name: "temporal client", done: nil, err: func() error { return nil },
		stop: func(context.Context) error { c.Close(); return nil }})
	if err := setupProcesses(ctx, c, s); err != nil {
		return err
	}

	if err := seedWorkforce(ctx, s, log); err != nil {
		return err
	}
	w, err := startWorker(ctx, c, s, metrics, log)
	if err != nil {
		return err
	}
	parts = append(parts, w)
	// Chat commands reach the web app through the sandbox's webhook, signed
	// with a secret of this run (or ORCH_CHAT_WEBHOOK_SECRET).
	s.chatWebhookSecret = envOr(chatWebhookSecretEnv, rand.Text())
	web, err := startWeb(ctx, c, s, log)
	if err != nil {
		return err
	}
	parts = append(parts, web)
	registerChatWebhook(ctx, s, log)
	gateway, err := startAgentAPI(ctx, c, s, log)
	if err != nil {
		return err
	}
	parts = append(parts, gateway)

	fmt.Fprintf(out, `
ExecutionOrchestrator is up (%s):
  Temporal Web UI     %s/namespaces/%s/workflows
  Temporal gRPC       %s   (namespace %s, task queue %s)
  Approval web app    %s
  Codec server        %s   (payloads are encrypted; keys in %s)
                      the UI decodes through it for people signed in to the web app: sign in there, then
                      in the UI click Codec Server (glasses icon, top bar), choose "Use my browser setting",
                      enter the endpoint above, tick "Include cross-origin credentials" (docs/codec.md)
  Field worker tasks  %s/tasks   (pick a field worker, e.g. ana-field, on the sign-in page)
  Agent gateway       %s/mcp (MCP), %s/v1/ (REST; OpenAPI at /v1/openapi.yaml)
                      key: ./bin/orchestrator agents create my-agent --scopes actions:propose,actions:read,tasks:create,tasks:read
  Sandbox API         %s   (ERP, treasury, mail; OpenAPI in sandbox/openapi.yaml)
  Sandbox SMTP        %s
  Detector schedule   %s every %s
  Metrics             %s
Try:  ./bin/orchestrator start vendor-payment --invoice INV-1042
Ctrl-C stops everything.
`, time.Since(started).Round(time.Millisecond), cfg.UIURL(), cfg.Server.Namespace, cfg.Address(), cfg.Server.Namespace,
		process.TaskQueue, s.webBaseURL, codecURL, s.codecKeysPath(), strings.TrimSuffix(s.webBaseURL, "/"), s.agentAPIURL(), s.agentAPIURL(), s.sandboxURL, s.smtpAddr, vendorpayment.OverdueDetectorScheduleID, s.detectorInterval, metricsLine(s.metricsAddr))

	return supervise(ctx, parts, log)
}

// supervise waits for a signal (nil) or the first part to die (its error).
func supervise(ctx context.Context, parts []part, log *slog.Logger) error {
	died := make(chan part, len(parts))
	for _, p := range parts {
		go func() {
			select {
			case <-p.done:
				died <- p
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return nil
	case p := <-died:
		perr := p.err()
		if perr == nil {
			perr = errors.New("exited")
		}
		return fmt.Errorf("%s died: %w", p.name, perr)
	}
}

// metricsLine is where the banner says metrics are.
func metricsLine(addr string) string {
	if addr == "" {
		return "off (--metrics-addr)"
	}
	return "http://" + addr + "/metrics"
}

// chatWebhookSecretEnv names the chat webhook's shared secret.
const chatWebhookSecretEnv = "ORCH_CHAT_WEBHOOK_SECRET"

// registerChatWebhook asks the dev sandbox's chat to deliver every human
// message to the web app's /hooks/chat. A failure only costs chat
// commands, so it is logged.
func registerChatWebhook(ctx context.Context, s *settings, log *slog.Logger) {
	if s.chatWebhookSecret == "" || s.sandboxURL == "" {
		return
	}
	url := strings.TrimSuffix(s.webBaseURL, "/") + web.ChatHookPath
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := chat.New(s.sandboxURL).SetWebhook(rctx, chat.WebhookRequest{URL: url, Secret: s.chatWebhookSecret}); err != nil {
		log.Warn("chat webhook not registered; chat commands will not reach the web app", "url", url, "err", err)
		return
	}
	log.Info("chat webhook registered", "url", url)
}

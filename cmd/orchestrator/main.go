// Command orchestrator runs ExecutionOrchestrator: the whole local stack
// (dev), its parts alone (worker, sandbox, web) and the operator commands
// (start, status, result, approve, reject).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/telemetry"
)

const usage = `orchestrator — autonomous execution layer on Temporal

Usage:
  orchestrator dev        start Temporal dev server + UI, sandbox systems, worker, web app and agent gateway
  orchestrator worker     run the worker against any Temporal server (TEMPORAL_ADDRESS, ...)
  orchestrator sandbox    run the sandbox ERP, treasury and mail (HTTP + SMTP) alone
  orchestrator web        run the approval web app alone
  orchestrator agent-api  run the agent gateway alone (MCP at /mcp, REST at /v1/; --addr 127.0.0.1:8070)
  orchestrator mcp        MCP over stdio for desktop agent hosts, proxying to the gateway (key in ORCH_AGENT_KEY)
  orchestrator setup      create or update the overdue-invoice detector Schedule
  orchestrator start vendor-payment --invoice INV-1042 [--requested-by ID] [--wait]
  orchestrator status <workflow-id>          the "approvals" query: stage, action, digest, approvers
  orchestrator result <workflow-id>
  orchestrator approve <workflow-id> --as <person> (--key FILE | --proof ASSERTION | --code 123456) [--comment TEXT]
  orchestrator reject  <workflow-id> --as <person> (--key FILE | --proof ASSERTION | --code 123456) [--comment TEXT]
  orchestrator keys new --out FILE           a personal signing key for approve --key
  orchestrator totp enroll <person>          one-time codes for approving from the Temporal UI
  orchestrator codec keygen | rotate | list  the payload encryption keyring (docs/codec.md)
  orchestrator codec token <name>            a bearer token for the codec server (temporal --codec-auth), shown once
  orchestrator agents create <name> [--scopes actions:propose,actions:read]   an agent key, shown once
  orchestrator agents revoke <name> | agents list
  orchestrator workforce list | show <id> | put --file worker.json | remove <id> | seed   the field workforce
  orchestrator audit show <business key or workflow id> [--json]   what happened, who approved, what was verified
  orchestrator audit verify [--export FILE] [--temporal] [--sample N] | export [--out FILE] | checkpoint

Temporal connection settings come from Temporal's environment configuration
(TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
TEMPORAL_PROFILE); run "orchestrator <command> -h" for each command's flags.
Payloads are encrypted with the keyring <data-dir>/keys/codec.keys (--codec-keys,
ORCH_CODEC_KEYS); every command that talks to Temporal needs the worker's.
`

func main() { os.Exit(mainCode()) }

// mainCode runs the command and returns the exit code, so deferred work
// (stopping signal handling, flushing traces) happens before the exit.
func mainCode() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// OTEL_EXPORTER_OTLP_ENDPOINT turns on trace export; OpenTelemetry's
	// global provider is where the Temporal interceptor finds it.
	shutdown, err := telemetry.Setup(ctx, "execution-orchestrator")
	if err != nil {
		fmt.Fprintln(os.Stderr, "orchestrator:", err)
		return 1
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(flushCtx); err != nil {
			logger.Warn("flush traces", "error", err)
		}
	}()
	err = run(ctx, os.Args[1:], os.Stdout, logger)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "orchestrator:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		fmt.Fprint(out, usage)
		return errors.New("missing command")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "dev":
		return runDev(ctx, rest, out, log)
	case "worker":
		return runWorker(ctx, rest, log)
	case "sandbox":
		return runSandbox(ctx, rest, out, log)
	case "web":
		return runWeb(ctx, rest, out, log)
	case "setup":
		return runSetup(ctx, rest, out, log)
	case "start":
		return runStart(ctx, rest, out, log)
	case "status":
		return runShow(ctx, cmd, rest, out, log, client.ApprovalStatus)
	case "result":
		return runShow(ctx, cmd, rest, out, log, workflowResult)
	case "approve", "reject":
		return runDecision(ctx, cmd, rest, out, log)
	case "keys":
		return runKeys(ctx, rest, out)
	case "totp":
		return runTOTP(ctx, rest, out)
	case "agents":
		return runAgents(ctx, rest, out)
	case "workforce":
		return runWorkforce(ctx, rest, out)
	case "agent-api":
		return runAgentAPI(ctx, rest, out, log)
	case "mcp":
		return runMCP(ctx, rest, os.Stdin, out, log)
	case "audit":
		return runAudit(ctx, rest, out, log)
	case "codec":
		return runCodec(ctx, rest, out, log)
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return nil
	default:
		fmt.Fprint(out, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

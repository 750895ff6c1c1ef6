// Package stack starts the whole ExecutionOrchestrator stack for integration
// and browser tests: a real Temporal dev server (bin/temporal, never
// downloaded) on free ports shaped by temporal-dev.yaml, the sandbox systems
// over real HTTP and SMTP, the approval web app and an in-process worker.
package stack

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/execution-orchestrator/orchestrator/agentapi"
	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/codec"
	"github.com/execution-orchestrator/orchestrator/connectors/chat"
	"github.com/execution-orchestrator/orchestrator/devserver"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/internal/testdb"
	"github.com/execution-orchestrator/orchestrator/internal/testlog"
	"github.com/execution-orchestrator/orchestrator/linktoken"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes"
	"github.com/execution-orchestrator/orchestrator/processes/agentaction"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/telemetry"
	"github.com/execution-orchestrator/orchestrator/totp"
	"github.com/execution-orchestrator/orchestrator/web"
	"github.com/execution-orchestrator/orchestrator/web/oidctest"
	"github.com/execution-orchestrator/orchestrator/worker"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// Options tune a stack for one test.
type Options struct {
	SettleAfter time.Duration // sandbox treasury; default 500ms, < 0 never settles
	Faults      map[string]sandbox.Fault
	Worker      func(*worker.Config) // adjust the worker's configuration
	Directory   *policy.Directory    // org directory; nil => the embedded policy/org.yaml
	Tracer      trace.Tracer         // spans of the Temporal client and worker; nil => OpenTelemetry's global provider
	// PaymentWindow keeps policy/payment-window.cedar in the stack's
	// policies. Without it the window rule is left out, so tests that pay
	// do not depend on the time of day they run at.
	PaymentWindow bool
	// OIDC signs people in to the web app through a real OpenID provider
	// (Stack.OIDC) instead of the development person picker. The provider
	// knows one user, maria, with the verified email maria@example.com and
	// the password OIDCPassword; decisions made in the app are then proven
	// with method "oidc".
	OIDC bool
	// UI starts the dev server with the Temporal Web UI on a free port
	// (Stack.UIURL) and waits until it answers. Off by default (headless).
	UI bool
	// Metrics gives the Temporal client a metrics pipeline and has the
	// worker serve it on a free port (Stack.MetricsURL), as
	// `orchestrator worker --metrics-addr` does.
	Metrics bool
	// AgentAPI starts the agent gateway (MCP and REST) on a free port
	// (Stack.AgentAPIURL) with its key store (Stack.Agents).
	AgentAPI bool
	// CodecKeys is the payload keyring file every client and the worker
	// encrypt with (tests/replay captures with its fixed test keyring);
	// empty: a fresh keyring in the stack's keys dir.
	CodecKeys string
}

// OIDCPassword is maria's password at the stack's OpenID provider.
const OIDCPassword = "maria-signs-in"

// Stack is a running stack; everything stops when the test ends.
type Stack struct {
	Temporal tclient.Client
	// Address is the Temporal frontend's host:port (TEMPORAL_ADDRESS).
	Address string
	Sandbox *sandbox.Server
	Links   *linktoken.Store
	Dir     *policy.Directory
	WebURL  string
	Logger  *slog.Logger
	// PolicyDir is the worker's live copy of policy/*.cedar: edits take
	// effect at the next gate decision.
	PolicyDir string
	// KeysDir holds the trusted public keys and the web app's and worker's
	// signing keys.
	KeysDir string
	// Web is the web app's signing key (method "dev" is trusted here, as in
	// `orchestrator dev`).
	Web *proof.Signer
	// Codes is the one-time code store the worker checks codes against.
	Codes *totp.Store
	// OIDC is the OpenID provider the web app signs people in with; nil
	// unless Options.OIDC.
	OIDC *oidctest.Provider
	// UIURL is the Temporal Web UI, e.g. http://127.0.0.1:41234; empty
	// unless Options.UI.
	UIURL string
	// MetricsURL is the worker's Prometheus endpoint, e.g.
	// http://127.0.0.1:41235/metrics; empty unless Options.Metrics.
	MetricsURL string
	// AgentAPIURL is the agent gateway, e.g. http://127.0.0.1:41236 (MCP at
	// /mcp, REST under /v1/); empty unless Options.AgentAPI.
	AgentAPIURL string
	// Agents holds the agents' keys; nil unless Options.AgentAPI.
	Agents *agentapi.Store
	// Workforce is the field workers' directory, seeded with
	// workforce.DemoWorkers; the worker routes human tasks over it and
	// its people sign in to the web app as field workers.
	Workforce *workforce.Store
	// Evidence keeps what field workers upload (blobs in the test's temp
	// dir).
	Evidence *evidence.Store
	// Ledger is the audit ledger the worker records to; DatabaseURL and
	// SQLitePath are where it lives (PostgreSQL when DATABASE_URL is set),
	// for tests that tamper with it directly.
	Ledger      *audit.Ledger
	DatabaseURL string
	SQLitePath  string
	// Keyring encrypts every payload of the stack's clients and worker, as
	// `orchestrator dev` does; CodecKeys is its file (ORCH_CODEC_KEYS for
	// the command line). The web app serves the codec server at
	// WebURL+web.CodecPath, for the UI's origin (with Options.UI) and for
	// bearer tokens (CodecToken).
	Keyring   *codec.Keyring
	CodecKeys string
}

// Start brings the stack up or fails the test.
func Start(t testing.TB, opts Options) *Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logs := &testlog.Buffer{} // printed only if the test fails
	// Registered first, so it runs last, after every part has stopped.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stack logs:\n%s", logs.String())
		}
	})
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	cli, err := devserver.FindCLI()
	if err != nil {
		t.Fatalf("%v (make test builds it)", err)
	}
	root, err := devserver.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	devCfg, err := devserver.Load(filepath.Join(root, "temporal-dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tracing, err := telemetry.TemporalInterceptor(opts.Tracer)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keysDir := filepath.Join(dir, "keys")
	codecKeys := opts.CodecKeys
	if codecKeys == "" {
		codecKeys = filepath.Join(keysDir, codec.FileName)
	}
	ring, err := codec.Ensure(codecKeys)
	if err != nil {
		t.Fatal(err)
	}
	// Unstarted, so the app's BaseURL (its Host allowlist) and the UI's
	// codec endpoint know the port.
	hs := httptest.NewUnstartedServer(nil)
	webBase := "http://" + hs.Listener.Addr().String()
	extraArgs := devCfg.NamespaceArgs()
	var uiPort, uiURL string
	if opts.UI {
		if uiPort, err = freePort(); err != nil {
			t.Fatalf("Temporal UI port: %v", err)
		}
		uiURL = "http://127.0.0.1:" + uiPort
		extraArgs = append(extraArgs, "--ui-codec-endpoint", webBase+web.CodecPath)
	}
	dc := codec.DataConverter(ring)
	clientOpts := &tclient.Options{Namespace: "default",
		Logger:           sdklog.NewStructuredLogger(logger),
		Interceptors:     []interceptor.ClientInterceptor{tracing},
		DataConverter:    dc,
		FailureConverter: codec.FailureConverter(dc)}
	var metrics *telemetry.Metrics
	if opts.Metrics {
		if metrics, err = telemetry.NewMetrics(logger.With("part", "metrics")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = metrics.Shutdown(context.Background()) })
		clientOpts.MetricsHandler = metrics.TemporalHandler()
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: cli, EnableUI: opts.UI, UIPort: uiPort,
		ClientOptions: clientOpts,
		ExtraArgs:     extraArgs,
		LogLevel:      "error",
		Stdout:        io.Discard, Stderr: logs,
	})
	if err != nil {
		t.Fatalf("start Temporal dev server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	if opts.UI {
		if err := waitHTTP200(ctx, uiURL); err != nil {
			t.Fatalf("Temporal UI at %s: %v", uiURL, err)
		}
	}

	dbURL := testdb.URL(t, "stack")
	settle := opts.SettleAfter
	if settle == 0 {
		settle = 500 * time.Millisecond
	}
	sb, err := sandbox.Start(ctx, sandbox.Config{
		HTTPAddr: "127.0.0.1:0", SMTPAddr: "127.0.0.1:0",
		DatabaseURL: dbURL, SQLitePath: filepath.Join(dir, "sandbox.db"),
		SettleAfter: settle, Seed: true, Logger: logger.With("part", "sandbox"),
	})
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() { _ = sb.Close() })

	directory := opts.Directory
	if directory == nil {
		if directory, err = policy.DefaultDirectory(); err != nil {
			t.Fatal(err)
		}
	}
	links, err := linktoken.Open(ctx, dbURL, filepath.Join(dir, "orchestrator.db"), time.Now)
	if err != nil {
		t.Fatalf("open link tokens: %v", err)
	}
	t.Cleanup(func() { _ = links.Close() })
	codes, err := totp.Open(ctx, dbURL, filepath.Join(dir, "orchestrator.db"), time.Now)
	if err != nil {
		t.Fatalf("open one-time codes: %v", err)
	}
	t.Cleanup(func() { _ = codes.Close() })
	wf, err := workforce.Open(ctx, dbURL, filepath.Join(dir, "orchestrator.db"), time.Now)
	if err != nil {
		t.Fatalf("open workforce: %v", err)
	}
	t.Cleanup(func() { _ = wf.Close() })
	if err := wf.Seed(ctx); err != nil {
		t.Fatalf("seed workforce: %v", err)
	}
	ev, err := evidence.Open(ctx, dbURL, filepath.Join(dir, "orchestrator.db"), filepath.Join(dir, "evidence"), time.Now)
	if err != nil {
		t.Fatalf("open evidence store: %v", err)
	}
	t.Cleanup(func() { _ = ev.Close() })
	auditKey, err := audit.EnsureKey(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatalf("audit key: %v", err)
	}
	// Checkpoints every 5 entries, so a run of a few payments is covered
	// by signed checkpoints (production: every 100).
	ledger, err := audit.Open(ctx, dbURL, filepath.Join(dir, "orchestrator.db"), audit.Options{Signer: auditKey, Now: time.Now, CheckpointEvery: 5})
	if err != nil {
		t.Fatalf("open audit ledger: %v", err)
	}
	t.Cleanup(func() { _ = ledger.Close() })
	policyDir := filepath.Join(dir, "policy")
	if err := copyPolicies(filepath.Join(root, "policy"), policyDir, opts.PaymentWindow); err != nil {
		t.Fatal(err)
	}
	webKey, err := proof.EnsureSigner(keysDir, "web", proof.IssuerWeb, proof.MethodOIDC, proof.MethodLink, proof.MethodDev, proof.MethodChat)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := web.Config{Temporal: srv.Client(), Directory: directory, Links: links,
		Logger: logger.With("part", "web"), Now: time.Now, DevIdentity: true, Signer: webKey,
		BaseURL: webBase, Workforce: wf, Evidence: ev,
		Codec: &web.CodecConfig{Codec: codec.NewCodec(ring), Namespaces: []string{"default"},
			Tokens: codec.OpenTokens(filepath.Join(keysDir, codec.TokensFileName))}}
	if uiURL != "" {
		webCfg.Codec.UIOrigins = []string{uiURL}
	}
	// The app signs decisions only for workflows the processes own.
	for _, p := range processes.All(process.Deps{}) {
		webCfg.WorkflowTypes = append(webCfg.WorkflowTypes, p.WorkflowTypes...)
	}
	// The operations view and the audit view, as `orchestrator dev` serves them.
	webCfg.Ops = web.TemporalOps{Client: srv.Client(), Now: time.Now, WorkflowTypes: webCfg.WorkflowTypes}
	webCfg.Audit, webCfg.TemporalUIURL = ledger, uiURL
	var provider *oidctest.Provider
	if opts.OIDC {
		provider = oidctest.Start(t, oidctest.User{Username: "maria", Password: OIDCPassword,
			FirstName: "Maria", LastName: "Rossi", Email: "maria@example.com", EmailVerified: true})
		// The provider redirects only to the app's own callback, as a
		// production registration would.
		id, secret := provider.Client(t, webCfg.BaseURL+"/auth/callback")
		webCfg.DevIdentity = false
		webCfg.OIDC = &web.OIDCConfig{IssuerURL: provider.IssuerURL, ClientID: id, ClientSecret: secret}
	}
	// Chat commands reach the app through the sandbox chat's webhook.
	chatSecret := rand.Text()
	webCfg.ChatWebhookSecret = []byte(chatSecret)
	app, err := web.New(webCfg)
	if err != nil {
		hs.Close()
		t.Fatalf("web app: %v", err)
	}
	hs.Config = web.NewHTTPServer(app.Handler())
	hs.Start()
	t.Cleanup(hs.Close)
	if _, err := chat.New(sb.HTTPURL()).SetWebhook(ctx, chat.WebhookRequest{URL: webBase + web.ChatHookPath, Secret: chatSecret}); err != nil {
		t.Fatalf("register chat webhook: %v", err)
	}
	// Faults start once the stack is wired: they are for the processes'
	// calls, not for the harness's own set-up.
	if err := sb.SetFaults(opts.Faults); err != nil {
		t.Fatalf("sandbox faults: %v", err)
	}

	wcfg := worker.Config{
		SandboxURL: sb.HTTPURL(), SMTPAddr: sb.SMTPAddr(),
		DatabaseURL: dbURL, SQLitePath: filepath.Join(dir, "orchestrator.db"),
		WebBaseURL: hs.URL, FinanceOpsEmail: "finance-ops@orchestrator.example",
		Directory: directory, Links: links, Logger: logger.With("part", "worker"),
		KeysDir: keysDir, PolicyDir: policyDir, Codes: codes,
		Workforce: wf, Evidence: ev, Ledger: ledger,
	}
	if metrics != nil {
		// Port 0: the listener picks a free port, no race with other tests.
		wcfg.Metrics, wcfg.MetricsAddr = metrics, "127.0.0.1:0"
	}
	if opts.Worker != nil {
		opts.Worker(&wcfg)
	}
	w, err := worker.New(ctx, srv.Client(), wcfg)
	if err != nil {
		t.Fatalf("worker: %v", err)
	}
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Close)
	var metricsURL string
	if addr := w.MetricsAddr(); addr != "" {
		metricsURL = "http://" + addr + "/metrics"
	}

	var agentURL string
	var agents *agentapi.Store
	if opts.AgentAPI {
		agentURL, agents = startAgentAPI(ctx, t, srv.Client(), dc, dbURL, dir, keysDir, ev, logger)
	}

	return &Stack{AgentAPIURL: agentURL, Agents: agents, MetricsURL: metricsURL, Temporal: srv.Client(), Address: srv.FrontendHostPort(), Sandbox: sb, Links: links, Dir: directory, WebURL: hs.URL, Logger: logger,
		PolicyDir: policyDir, KeysDir: keysDir, Web: webKey, Codes: codes, OIDC: provider, UIURL: uiURL, Workforce: wf, Evidence: ev,
		Ledger: ledger, DatabaseURL: dbURL, SQLitePath: filepath.Join(dir, "orchestrator.db"),
		Keyring: ring, CodecKeys: codecKeys}
}

// startAgentAPI runs the agent gateway as `orchestrator agent-api` does:
// its own signing key in the keys dir (trusted by the worker), the agents'
// key store, and the Temporal-backed actions and human tasks (reading the
// stack's evidence store).
func startAgentAPI(ctx context.Context, t testing.TB, c tclient.Client, dc converter.DataConverter, dbURL, dir, keysDir string, ev *evidence.Store, logger *slog.Logger) (string, *agentapi.Store) {
	t.Helper()
	signer, err := proof.EnsureSigner(keysDir, "agent-gateway", proof.IssuerGateway, proof.MethodAgentKey)
	if err != nil {
		t.Fatal(err)
	}
	agents, err := agentapi.Open(ctx, dbURL, filepath.Join(dir, "orchestrator.db"), time.Now)
	if err != nil {
		t.Fatalf("open agent keys: %v", err)
	}
	t.Cleanup(func() { _ = agents.Close() })
	hs := httptest.NewUnstartedServer(nil)
	gw, err := agentapi.New(agentapi.Config{
		Keys: agents, Actions: &agentaction.Client{Temporal: c, Signer: signer, PollInterval: 200 * time.Millisecond, DataConverter: dc},
		Tasks:       &humantask.AgentClient{Temporal: c, Signer: signer, EvidenceStore: ev, DataConverter: dc},
		Escalations: &agentapi.EscalationClient{Temporal: c, Signer: signer, DataConverter: dc},
		BaseURL:     "http://" + hs.Listener.Addr().String(), Logger: logger.With("part", "agent-api"),
	})
	if err != nil {
		hs.Close()
		t.Fatalf("agent gateway: %v", err)
	}
	hs.Config = agentapi.NewHTTPServer(gw.Handler())
	hs.Start()
	t.Cleanup(hs.Close)
	return hs.URL, agents
}

// SetDeployWindow rewrites the production maintenance window in the
// worker's live policies: open makes it today and tomorrow (UTC), so a test
// running across midnight still sees it open; closed makes it a day three
// days away. The gate reads the change at its next decision.
func (s *Stack) SetDeployWindow(t testing.TB, open bool) {
	t.Helper()
	today := int(time.Now().UTC().Weekday())
	cond := fmt.Sprintf("context.weekdayUTC == %d", (today+3)%7)
	if open {
		cond = fmt.Sprintf("context.weekdayUTC == %d || context.weekdayUTC == %d", today, (today+1)%7)
	}
	policy := `@id("deploy.maintenance-window")
@message("production releases only inside the maintenance window")
forbid (principal, action == Action::"deploy.release", resource == Target::"production")
unless { ` + cond + ` };
`
	if err := os.WriteFile(filepath.Join(s.PolicyDir, "deploy-window.cedar"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

// waitHTTP200 polls url until it answers 200 OK or ctx ends.
func waitHTTP200(ctx context.Context, url string) error {
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// copyPolicies copies the *.cedar files of src into dst, leaving out the
// payment window unless window.
func copyPolicies(src, dst string, window bool) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(src, "*.cedar"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if filepath.Base(f) == "payment-window.cedar" && !window {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// SandboxURL is a sandbox API address for path.
func (s *Stack) SandboxURL(path string) string { return s.Sandbox.HTTPURL() + path }

// PersonKey gives person a signing key of their own and lists its public
// half in the trusted keys (as a directory entry would), like
// `orchestrator keys new` followed by adding the key to org.yaml.
func (s *Stack) PersonKey(t testing.TB, person string) *proof.Signer {
	t.Helper()
	pub, priv, err := proof.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("person %s %s\n", proof.EncodePublicKey(pub), person)
	if err := os.WriteFile(filepath.Join(s.KeysDir, "person-"+person+".pub"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	return proof.NewSigner(priv)
}

// Sign makes the assertion that person decided on the slot st awaits, with
// the method the signer's key may claim.
func Sign(t testing.TB, signer *proof.Signer, method, person, decision string, st approvals.Status) string {
	t.Helper()
	now := time.Now().UTC()
	tok, err := signer.Sign(proof.Assertion{
		Kind: proof.KindApproval, WorkflowID: st.WorkflowID, RunID: st.RunID, Slot: st.AwaitingSlot,
		ActionDigest: st.ActionDigest, Decision: decision, Subject: person, Method: method,
		IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// RawClient is a Temporal client of the stack's server WITHOUT the payload
// codec: what the server stores, as anyone reaching it without the keys
// sees it. Closed when the test ends.
func (s *Stack) RawClient(t testing.TB) tclient.Client {
	t.Helper()
	c, err := tclient.Dial(tclient.Options{HostPort: s.Address, Namespace: "default",
		Logger: sdklog.NewStructuredLogger(s.Logger)})
	if err != nil {
		t.Fatalf("dial without codec: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// CodecToken creates a bearer token named name for the web app's codec
// server, as `orchestrator codec token NAME` does.
func (s *Stack) CodecToken(t testing.TB, name string) string {
	t.Helper()
	tok, err := codec.AddToken(filepath.Join(s.KeysDir, codec.TokensFileName), name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	tclient "go.temporal.io/sdk/client"

	"github.com/execution-orchestrator/orchestrator/agentapi"
	"github.com/execution-orchestrator/orchestrator/codec"
	"github.com/execution-orchestrator/orchestrator/processes/agentaction"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// agentKeyEnv is where "orchestrator mcp" reads the agent's key: the
// environment, so the key is not on a command line that process lists show.
const agentKeyEnv = "ORCH_AGENT_KEY"

// defaultAgentScopes: propose and follow; cancelling is granted explicitly.
const defaultAgentScopes = agentapi.ScopePropose + "," + agentapi.ScopeRead

// agentAPIFlags adds the gateway's listen address (named addrFlag: "addr"
// for agent-api, "agent-api-addr" in dev) and its public URL.
func (s *settings) agentAPIFlags(fs *flag.FlagSet, addrFlag string) {
	fs.StringVar(&s.agentAPIAddr, addrFlag, envOr("ORCH_AGENT_API_ADDR", "127.0.0.1:8070"),
		"listen address of the agent gateway, MCP at /mcp and REST at /v1/ (env ORCH_AGENT_API_ADDR)")
	fs.StringVar(&s.agentAPIBaseURL, "agent-api-base-url", os.Getenv("ORCH_AGENT_API_BASE_URL"),
		"URL agents reach the gateway at, http(s)://host[:port]; empty means http://<listen address> (env ORCH_AGENT_API_BASE_URL)")
}

// agentAPIURL is the gateway's base URL.
func (s *settings) agentAPIURL() string {
	if s.agentAPIBaseURL != "" {
		return strings.TrimSuffix(s.agentAPIBaseURL, "/")
	}
	return "http://" + s.agentAPIAddr
}

// checkAgentAPI checks the gateway's address (flag addrFlag) and URL
// before anything starts. The gateway answers only for its URL's host, so a
// wildcard listen address needs the URL said explicitly.
func (s *settings) checkAgentAPI(addrFlag string) error {
	host, _, err := net.SplitHostPort(s.agentAPIAddr)
	if err != nil {
		return fmt.Errorf("--%s: %q is not host:port: %w", addrFlag, s.agentAPIAddr, err)
	}
	if ip := net.ParseIP(host); s.agentAPIBaseURL == "" && (host == "" || (ip != nil && ip.IsUnspecified())) {
		return fmt.Errorf("--agent-api-base-url: required when the agent gateway listens on all interfaces (%s): the URL agents use", s.agentAPIAddr)
	}
	u, err := url.Parse(s.agentAPIURL())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("--agent-api-base-url: %q must be http(s)://host[:port]", s.agentAPIBaseURL)
	}
	return nil
}

// openAgentKeys opens the agent key store where the other stores are.
func openAgentKeys(ctx context.Context, s *settings) (*agentapi.Store, error) {
	if s.databaseURL == "" {
		if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
	}
	keys, err := agentapi.Open(ctx, s.databaseURL, s.sqlitePath("orchestrator.db"), time.Now)
	if err != nil {
		return nil, fmt.Errorf("open agent key store: %w", err)
	}
	return keys, nil
}

// runAgents manages agent keys: "orchestrator agents create NAME --scopes
// actions:propose,actions:read", "agents revoke NAME", "agents list".
func runAgents(ctx context.Context, args []string, out io.Writer) error {
	const want = `agents: expected "create NAME [--scopes actions:propose,actions:read]", "revoke NAME" or "list"`
	if len(args) == 0 {
		return errors.New(want)
	}
	switch args[0] {
	case "create":
		name, rest, err := agentNameArg("agents create", args[1:])
		if err != nil {
			return err
		}
		var scopes string
		s, err := parseSettings("agents create", rest, func(_ *settings, fs *flag.FlagSet) {
			fs.StringVar(&scopes, "scopes", defaultAgentScopes, "comma-separated scopes: "+strings.Join(agentapi.AllScopes(), ", "))
		})
		if err != nil {
			return err
		}
		checked, err := agentapi.CheckScopes(strings.Split(scopes, ","))
		if err != nil {
			return fmt.Errorf("--scopes: %w", err)
		}
		keys, err := openAgentKeys(ctx, s)
		if err != nil {
			return err
		}
		defer keys.Close()
		key, err := keys.Create(ctx, name, checked)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "agent %s created with scopes %s; its key:\n\n  %s\n\n", name, strings.Join(checked, " "), key)
		fmt.Fprintf(out, "This is the only time the key is shown: it is not stored (only its SHA-256 is). Give it to the agent as\n"+
			"\"Authorization: Bearer <key>\" for the agent gateway (MCP at /mcp, REST at /v1/), or as %s for \"orchestrator mcp\".\n", agentKeyEnv)
		return nil
	case "revoke":
		name, rest, err := agentNameArg("agents revoke", args[1:])
		if err != nil {
			return err
		}
		s, err := parseSettings("agents revoke", rest, nil)
		if err != nil {
			return err
		}
		keys, err := openAgentKeys(ctx, s)
		if err != nil {
			return err
		}
		defer keys.Close()
		if err := keys.Revoke(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(out, "agent %s: key revoked; its next request is refused\n", name)
		return nil
	case "list":
		s, err := parseSettings("agents list", args[1:], nil)
		if err != nil {
			return err
		}
		keys, err := openAgentKeys(ctx, s)
		if err != nil {
			return err
		}
		defer keys.Close()
		all, err := keys.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSCOPES\tCREATED\tREVOKED")
		for _, k := range all {
			revoked := "-"
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Name, strings.Join(k.Scopes, ","), k.CreatedAt.Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	}
	return fmt.Errorf("%s, not %q", want, args[0])
}

// agentNameArg takes the agent name that leads a subcommand's arguments.
func agentNameArg(cmd string, args []string) (string, []string, error) {
	if len(args) == 0 || args[0] == "" || strings.HasPrefix(args[0], "-") {
		return "", nil, fmt.Errorf("%s: expected an agent name first, e.g. %s billing-bot", cmd, cmd)
	}
	if !agentaction.ValidAgentName(args[0]) {
		return "", nil, fmt.Errorf("%s: agent name %q must be 1-40 of a-z, 0-9 and '-', starting with a letter or digit", cmd, args[0])
	}
	return args[0], args[1:], nil
}

// startAgentAPI starts the agent gateway on c, with agents' actions and
// human tasks. It signs each start with the gateway's own key, whose
// public half goes where the worker reads trusted keys, allowed only
// method agent-key (so it can vouch for an agent's start and never for a
// decision).
func startAgentAPI(ctx context.Context, c tclient.Client, s *settings, log *slog.Logger) (part, error) {
	glog := log.With("part", "agent-api")
	signer, err := proof.EnsureSigner(s.keys(), "agent-gateway", proof.IssuerGateway, proof.MethodAgentKey)
	if err != nil {
		return part{}, fmt.Errorf("agent gateway signing key: %w", err)
	}
	keys, err := openAgentKeys(ctx, s)
	if err != nil {
		return part{}, err
	}
	// Agents read the evidence of the tasks they created from the store
	// field workers upload to.
	ev, err := openEvidence(ctx, s)
	if err != nil {
		keys.Close()
		return part{}, err
	}
	closeStores := func() { ev.Close(); keys.Close() }
	// Memos are encoded with the payload codec, as c encodes them.
	ring, err := s.keyring(false)
	if err != nil {
		closeStores()
		return part{}, err
	}
	dc := codec.DataConverter(ring)
	gw, err := agentapi.New(agentapi.Config{
		Keys:    keys,
		Actions: &agentaction.Client{Temporal: c, Signer: signer, DataConverter: dc},
		Tasks:   &humantask.AgentClient{Temporal: c, Signer: signer, EvidenceStore: ev, DataConverter: dc},
		// Customer escalations agents may start (scope escalations:create).
		Escalations: &agentapi.EscalationClient{Temporal: c, Signer: signer, DataConverter: dc},
		BaseURL:     s.agentAPIURL(),
		Logger:      glog,
	})
	if err != nil {
		closeStores()
		return part{}, fmt.Errorf("agent gateway: %w", err)
	}
	if u, _ := url.Parse(s.agentAPIURL()); u != nil && u.Scheme == "http" {
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			glog.Warn("agent keys travel unencrypted over plain HTTP; put TLS in front and use an https --agent-api-base-url", "url", s.agentAPIURL())
		}
	}
	ln, err := net.Listen("tcp", s.agentAPIAddr)
	if err != nil {
		closeStores()
		return part{}, fmt.Errorf("agent gateway listen on %s: %w", s.agentAPIAddr, err)
	}
	hs := agentapi.NewHTTPServer(gw.Handler())
	hs.ErrorLog = slog.NewLogLogger(glog.Handler(), slog.LevelWarn)
	glog.Info("agent gateway ready", "mcp", gw.MCPURL(), "rest", s.agentAPIURL()+"/v1/")
	return background(ctx, "agent gateway", func(ctx context.Context) error {
		defer closeStores()
		errc := make(chan error, 1)
		go func() { errc <- hs.Serve(ln) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := hs.Shutdown(shutCtx); err != nil {
				// A wait_for_action may hold a request for a minute: cut it.
				glog.Warn("agent gateway: requests still running at shutdown were cut", "error", err)
				if cerr := hs.Close(); cerr != nil && !errors.Is(cerr, http.ErrServerClosed) {
					return cerr
				}
			}
			return nil
		}
	}), nil
}

// runAgentAPI runs the agent gateway alone: "orchestrator agent-api [--addr 127.0.0.1:8070]".
func runAgentAPI(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	s, err := parseSettings("agent-api", args, func(s *settings, fs *flag.FlagSet) { s.agentAPIFlags(fs, "addr") })
	if err != nil {
		return err
	}
	if err := s.checkAgentAPI("addr"); err != nil {
		return err
	}
	return withCodecClient(ctx, log, s.codecKeysPath(), func(c tclient.Client) error {
		p, err := startAgentAPI(ctx, c, s, log)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "agent gateway: MCP %s/mcp, REST %s/v1/ (keys: orchestrator agents create NAME)\n", s.agentAPIURL(), s.agentAPIURL())
		return waitForPart(ctx, p, log)
	})
}

// runMCP serves MCP on stdin/stdout for a desktop agent host, proxying to
// the gateway with the key in ORCH_AGENT_KEY: "orchestrator mcp [--url
// http://127.0.0.1:8070/mcp]". stdout carries only the protocol; logs go to
// stderr.
func runMCP(ctx context.Context, args []string, in io.Reader, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("mcp", flag.ContinueOnError)
	fs.SetOutput(os.Stderr) // never stdout: the host reads it as protocol
	remote := fs.String("url", envOr("ORCH_AGENT_API_URL", "http://127.0.0.1:8070/mcp"), "the agent gateway's MCP endpoint (env ORCH_AGENT_API_URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key := os.Getenv(agentKeyEnv)
	if key == "" {
		return fmt.Errorf("%s: required: the agent's key from \"orchestrator agents create\"; it is read from the environment only, never a flag", agentKeyEnv)
	}
	log.Info("serving MCP on stdio, proxying to the agent gateway", "url", *remote)
	return agentapi.RunStdio(ctx, *remote, key, in, out)
}

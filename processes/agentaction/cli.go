package agentaction

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	tclient "go.temporal.io/sdk/client"

	"github.com/execution-orchestrator/orchestrator/process"
)

// startFromCLI is `orchestrator start agent-action --kind ... --target ...`:
// a shell script acting as an agent. It proposes through the agent gateway's
// REST API with the agent's key, like any agent: the gateway authenticates
// the key and signs the start, so the CLI holds no signing key.
func startFromCLI(args []string) (process.StartFunc, error) {
	fs := flag.NewFlagSet("start "+ProcessName, flag.ContinueOnError)
	api := fs.String("api", envOr("ORCH_AGENT_API", "http://127.0.0.1:8070"), "agent gateway base URL (env ORCH_AGENT_API)")
	kind := fs.String("kind", "", "kind of action: "+strings.Join(Kinds(), ", ")+" (required)")
	target := fs.String("target", "", "target: staging|production, a recipient address, or an invoice id (required)")
	params := fs.String("params", "{}", "params as a JSON object")
	justification := fs.String("justification", "", "why, for the person who may approve (required)")
	confidence := fs.Float64("confidence", 1, "your confidence, 0 to 1")
	key := fs.String("idempotency-key", "", "idempotency key (default: a new random one)")
	wait := fs.Bool("wait", true, "wait (up to a minute at a time) for the outcome")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	agentKey := os.Getenv("ORCH_AGENT_KEY")
	if agentKey == "" {
		return nil, errors.New("ORCH_AGENT_KEY: required: the agent's key from `orchestrator agents create`")
	}
	if *key == "" {
		b := make([]byte, 12)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		*key = "cli-" + hex.EncodeToString(b)
	}
	p := Proposal{Kind: *kind, Target: *target, Params: json.RawMessage(*params), Justification: *justification, Confidence: *confidence, IdempotencyKey: *key}
	if !json.Valid(p.Params) {
		return nil, errors.New("--params: not JSON")
	}
	if err := ValidateProposal(p); err != nil {
		return nil, fmt.Errorf("--%s", err)
	}
	return func(ctx context.Context, _ tclient.Client, out io.Writer) error {
		hc := &http.Client{Timeout: MaxWait + 10*time.Second}
		var st Status
		if err := callAPI(ctx, hc, http.MethodPost, *api+"/v1/actions", agentKey, p, &st); err != nil {
			return err
		}
		fmt.Fprintf(out, "proposed %s (stage %s)\n", st.ID, st.Stage)
		for *wait && st.Outcome == "" {
			if err := callAPI(ctx, hc, http.MethodGet, *api+"/v1/actions/"+st.ID+"/wait?timeout=60s", agentKey, nil, &st); err != nil {
				return err
			}
			if st.Outcome == "" {
				fmt.Fprintf(out, "… %s", st.Stage)
				if len(st.PendingApprovers) > 0 {
					fmt.Fprintf(out, " (awaiting %s)", strings.Join(st.PendingApprovers, ", "))
				}
				fmt.Fprintln(out)
			}
		}
		return process.PrintJSON(out, st)
	}, nil
}

func callAPI(ctx context.Context, hc *http.Client, method, url, key string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, out)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

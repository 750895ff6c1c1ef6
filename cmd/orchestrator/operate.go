package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	tclient "go.temporal.io/sdk/client"

	"github.com/execution-orchestrator/orchestrator/approvals"
	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/codec"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/totp"
)

func printJSON(out io.Writer, v any) error { return process.PrintJSON(out, v) }

// runStart starts a process by name: "orchestrator start vendor-payment --invoice INV-1042".
func runStart(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	all := processes.All(process.Deps{})
	names := make([]string, len(all))
	for i, p := range all {
		names[i] = p.Name
	}
	if len(args) == 0 {
		return fmt.Errorf("start: expected a process (%s), e.g. \"orchestrator start vendor-payment --invoice INV-1042\"", strings.Join(names, ", "))
	}
	p, ok := processes.Find(process.Deps{}, args[0])
	if !ok {
		return fmt.Errorf("start: unknown process %q (known: %s)", args[0], strings.Join(names, ", "))
	}
	start, err := p.Start(args[1:])
	if err != nil {
		return err
	}
	// The process parses its own flags: the keyring comes from the environment.
	return withClient(ctx, log, func(c tclient.Client) error { return start(ctx, c, out) })
}

// setupProcesses creates what every process needs on the Temporal side.
func setupProcesses(ctx context.Context, c tclient.Client, s *settings) error {
	for _, p := range processes.All(process.Deps{}) {
		if p.Setup == nil {
			continue
		}
		if err := p.Setup(ctx, c, process.Settings{DetectorInterval: s.detectorInterval}); err != nil {
			return fmt.Errorf("set up %s: %w", p.Name, err)
		}
	}
	return nil
}

func oneWorkflowID(name string, args []string) (string, []string, error) {
	if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		return "", nil, fmt.Errorf("%s: expected a workflow id, e.g. vendor-payment-INV-1042", name)
	}
	return args[0], args[1:], nil
}

// withClient dials Temporal from the environment configuration for fn,
// with the payload codec of the keyring the environment names
// (envCodecKeys: ORCH_CODEC_KEYS, ORCH_KEYS_DIR, ORCH_DATA_DIR).
func withClient(ctx context.Context, log *slog.Logger, fn func(tclient.Client) error) error {
	return withCodecClient(ctx, log, envCodecKeys(), fn)
}

// withCodecClient is withClient with the payload codec of the keyring at
// codecKeys (the worker's; settings.codecKeysPath with settings flags).
func withCodecClient(ctx context.Context, log *slog.Logger, codecKeys string, fn func(tclient.Client) error) error {
	ring, err := codec.Load(codecKeys)
	if err != nil {
		return err
	}
	c, err := client.Dial(ctx, log, client.WithCodec(ring))
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// runShow prints what get reads for one workflow id (status, result).
func runShow[T any](ctx context.Context, name string, args []string, out io.Writer, log *slog.Logger,
	get func(context.Context, tclient.Client, string) (T, error)) error {
	id, rest, err := oneWorkflowID(name, args)
	if err != nil {
		return err
	}
	keys, err := codecKeysFlag(name, rest)
	if err != nil {
		return err
	}
	return withCodecClient(ctx, log, keys, func(c tclient.Client) error {
		v, err := get(ctx, c, id)
		if err != nil {
			return err
		}
		return printJSON(out, v)
	})
}

// workflowResult waits for any process's workflow and returns its result
// as the JSON it is.
func workflowResult(ctx context.Context, c tclient.Client, id string) (json.RawMessage, error) {
	var res json.RawMessage
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
		return nil, fmt.Errorf("result of %s: %w", id, err)
	}
	return res, nil
}

// decisionFlags are how a person proves a decision from the command line.
type decisionFlags struct {
	as, comment, key, proof, code, digest string
}

// runDecision sends an approval or rejection as the "approval" Update, for
// the digest the workflow reports now: a person approves what they just saw.
// The decision carries a proof: an assertion signed with the person's own
// key, one copied from the web app, or a one-time code. No proof, no
// decision: --as alone is a claim anyone can type.
func runDecision(ctx context.Context, decision string, args []string, out io.Writer, log *slog.Logger) error {
	id, rest, err := oneWorkflowID(decision, args)
	if err != nil {
		return err
	}
	var f decisionFlags
	fs := flag.NewFlagSet(decision, flag.ContinueOnError)
	fs.StringVar(&f.as, "as", "", "person id of the approver (required)")
	fs.StringVar(&f.comment, "comment", "", "comment recorded with the decision")
	fs.StringVar(&f.key, "key", os.Getenv("ORCH_APPROVER_KEY"), "your private key file (orchestrator keys new); its public key is listed for you in the org directory (env ORCH_APPROVER_KEY)")
	fs.StringVar(&f.proof, "proof", "", "an assertion copied from the web app's decision page")
	fs.StringVar(&f.code, "code", "", "the six-digit code from your authenticator app")
	fs.StringVar(&f.digest, "digest", "", "the action digest you reviewed (orchestrator status); refused if the action changed since")
	codecKeys := fs.String("codec-keys", envCodecKeys(), codecKeysUsage)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if f.as == "" {
		return errors.New("--as: required (the approver's person id)")
	}
	given := slices.DeleteFunc([]string{f.key, f.proof, f.code}, func(s string) bool { return s == "" })
	if len(given) != 1 {
		return errors.New("--key, --proof or --code: exactly one is required; a decision is never accepted on a claimed identity")
	}
	return withCodecClient(ctx, log, *codecKeys, func(c tclient.Client) error { return decide(ctx, c, id, decision, f, time.Now(), out) })
}

func decide(ctx context.Context, c tclient.Client, id, decision string, f decisionFlags, now time.Time, out io.Writer) error {
	st, err := client.ApprovalStatus(ctx, c, id)
	if err != nil {
		return err
	}
	if st.ActionDigest == "" || st.AwaitingSlot == "" {
		return fmt.Errorf("%s is not awaiting a decision (stage %s)", id, st.Stage)
	}
	if f.digest != "" && f.digest != st.ActionDigest {
		return fmt.Errorf("--digest: you reviewed %s but the action is now %s; review it again (orchestrator status %s)", f.digest, st.ActionDigest, id)
	}
	// Say what is being signed: the person decides on this, not on a name.
	fmt.Fprintf(out, "%s: %s %q (%s), slot %s, digest %s\n", id, decision, st.Title, st.Target, st.AwaitingSlot, st.ActionDigest)
	d := approvals.DecisionApprove
	if decision == "reject" {
		d = approvals.DecisionReject
	}
	req := approvals.Request{Decision: d, Approver: f.as, Comment: f.comment, ActionDigest: st.ActionDigest, Proof: f.proof}
	switch {
	case f.code != "":
		req.Proof = f.code
	case f.key != "":
		signer, err := proof.LoadSigner(f.key)
		if err != nil {
			return fmt.Errorf("--key: %w", err)
		}
		if req.Proof, err = signer.Sign(proof.Assertion{
			Kind: proof.KindApproval, WorkflowID: id, RunID: st.RunID, Slot: st.AwaitingSlot,
			ActionDigest: st.ActionDigest, Decision: d, Subject: f.as, Method: proof.MethodKey,
			IssuedAt: now.UTC(), ExpiresAt: now.UTC().Add(5 * time.Minute),
		}); err != nil {
			return fmt.Errorf("--key: sign: %w", err)
		}
	}
	if err := client.Approve(ctx, c, id, req); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %s recorded by %s for %s\n", id, d, f.as, st.ActionDigest)
	return nil
}

// runKeys manages a person's own signing key: "orchestrator keys new --out maria.key".
func runKeys(_ context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "new" {
		return errors.New(`keys: expected "new", e.g. orchestrator keys new --out ~/.config/orchestrator/maria.key`)
	}
	fs := flag.NewFlagSet("keys new", flag.ContinueOnError)
	path := fs.String("out", "", "where to write the private key (required; never overwritten)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *path == "" {
		return errors.New("--out: required")
	}
	pub, priv, err := proof.GenerateKey()
	if err != nil {
		return err
	}
	if err := proof.WritePrivateKeyFile(*path, priv); err != nil {
		return err
	}
	fmt.Fprintf(out, "private key written to %s (keep it; it proves your decisions)\nadd this public key to your entry in the org directory (policy/org.yaml), under keys:\n  - %s\n",
		*path, proof.EncodePublicKey(pub))
	return nil
}

// runTOTP enrols a person for one-time codes: "orchestrator totp enroll maria".
func runTOTP(ctx context.Context, args []string, out io.Writer) error {
	if len(args) < 2 || args[0] != "enroll" {
		return errors.New(`totp: expected "enroll <person>", e.g. orchestrator totp enroll maria`)
	}
	person := args[1]
	s, err := parseSettings("totp enroll", args[2:], nil)
	if err != nil {
		return err
	}
	dir, err := loadDirectory(s)
	if err != nil {
		return err
	}
	if _, ok := dir.Person(person); !ok {
		return fmt.Errorf("person: %q is not in the org directory", person)
	}
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return err
	}
	store, err := totp.Open(ctx, s.databaseURL, s.sqlitePath("orchestrator.db"), time.Now)
	if err != nil {
		return err
	}
	defer store.Close()
	e, err := store.Enroll(ctx, person, "ExecutionOrchestrator")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "enrolled %s; add this to the authenticator app (scan as a QR code, or type the secret):\n  %s\n  secret %s\n", person, e.URL, e.Secret)
	return nil
}

func runSetup(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	s, err := parseSettings("setup", args, nil)
	if err != nil {
		return err
	}
	return withCodecClient(ctx, log, s.codecKeysPath(), func(c tclient.Client) error {
		if err := setupProcesses(ctx, c, s); err != nil {
			return err
		}
		fmt.Fprintf(out, "processes set up (the overdue-invoice detector runs every %s)\n", s.detectorInterval.Round(time.Second))
		return nil
	})
}

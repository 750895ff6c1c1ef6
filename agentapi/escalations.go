package agentapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/processes/customerescalation"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// ScopeEscalationsCreate starts customer escalations.
const ScopeEscalationsCreate = "escalations:create"

// ToolStartEscalation is the MCP tool that starts an escalation.
const ToolStartEscalation = "escalation_start"

// EscalationRequest is POST /v1/escalations and escalation_start's input.
type EscalationRequest struct {
	Ref       string `json:"ref" jsonschema:"your id for this escalation; starting again with the same ref returns the same escalation"`
	AccountID string `json:"accountId" jsonschema:"the CRM account id"`
	Severity  string `json:"severity" jsonschema:"sev1, sev2 or sev3"`
	Summary   string `json:"summary" jsonschema:"what is wrong, at most 500 bytes"`
}

// EscalationStarted is what a start answers.
type EscalationStarted struct {
	Ref        string `json:"ref"`
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId,omitempty"`
}

// ErrEscalationConflict: the ref was used for another request.
var ErrEscalationConflict = errors.New("this ref was already used for a different escalation")

// EscalationFieldError refuses a request by field.
type EscalationFieldError struct{ Field, Message string }

func (e *EscalationFieldError) Error() string { return e.Field + ": " + e.Message }

// Escalations starts agents' customer escalations.
type Escalations interface {
	Start(ctx context.Context, agent string, req EscalationRequest) (EscalationStarted, error)
}

// EscalationTemporal is what EscalationClient needs of tclient.Client.
type EscalationTemporal interface {
	ExecuteWorkflow(ctx context.Context, options tclient.StartWorkflowOptions, workflow any, args ...any) (tclient.WorkflowRun, error)
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

// EscalationClient is the Temporal-backed Escalations: it starts a
// CustomerEscalation (trigger agent, requestedBy agent:<name>) with a start
// proof signed by the gateway's key, or joins the running one of the ref.
type EscalationClient struct {
	Temporal EscalationTemporal
	Signer   *proof.Signer
	Now      func() time.Time
	// DataConverter is the Temporal client's (with the payload codec):
	// the memo is read back with it. nil: the default converter.
	DataConverter converter.DataConverter
}

const memoEscalationDigest = "agentRequestDigest"

// Start starts or joins the escalation of req.Ref.
func (c *EscalationClient) Start(ctx context.Context, agent string, req EscalationRequest) (EscalationStarted, error) {
	in := customerescalation.Input{Ref: req.Ref, AccountID: req.AccountID, Severity: req.Severity, Trigger: customerescalation.TriggerAgent,
		Summary: req.Summary, RequestedBy: "agent:" + agent}
	id := customerescalation.WorkflowID(in.Ref)
	// Validate before signing; the workflow refuses what it would not run.
	if _, err := customerescalation.Start(ctx, nilStarter{}, in); err != nil && !errors.Is(err, errNilStarter) {
		msg := err.Error()
		var ae *temporal.ApplicationError
		if errors.As(err, &ae) {
			msg = ae.Message()
		}
		field, rest, ok := strings.Cut(msg, ": ")
		if !ok {
			field, rest = "ref", msg
		}
		return EscalationStarted{}, &EscalationFieldError{Field: field, Message: strings.TrimSuffix(rest, ": invalid input")}
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	b, _ := json.Marshal(req)
	sum := sha256.Sum256(b)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	t := now().UTC()
	var err error
	if in.RequesterProof, err = c.Signer.Sign(proof.Assertion{Kind: proof.KindStart, WorkflowID: id, Subject: in.RequestedBy,
		Method: proof.MethodAgentKey, ActionDigest: digest, IssuedAt: t, ExpiresAt: t.Add(5 * time.Minute)}); err != nil {
		return EscalationStarted{}, fmt.Errorf("sign start of %s: %w", id, err)
	}
	opts := customerescalation.StartOptions(in)
	opts.Memo = map[string]any{memoEscalationDigest: digest}
	run, err := c.Temporal.ExecuteWorkflow(ctx, opts, customerescalation.Workflow, in)
	if err != nil {
		return EscalationStarted{}, fmt.Errorf("start escalation %s: %w", id, err)
	}
	// Started now or joined: the running one must be this request.
	d, err := c.Temporal.DescribeWorkflowExecution(ctx, id, run.GetRunID())
	if err != nil {
		return EscalationStarted{}, fmt.Errorf("describe escalation %s: %w", id, err)
	}
	var got string
	if f := d.GetWorkflowExecutionInfo().GetMemo().GetFields()[memoEscalationDigest]; f != nil {
		dc := c.DataConverter
		if dc == nil {
			dc = converter.GetDefaultDataConverter()
		}
		_ = dc.FromPayload(f, &got)
	}
	if got != digest {
		return EscalationStarted{}, ErrEscalationConflict
	}
	return EscalationStarted{Ref: in.Ref, WorkflowID: run.GetID(), RunID: run.GetRunID()}, nil
}

var errNilStarter = errors.New("validated")

// nilStarter lets customerescalation.Start validate without starting.
type nilStarter struct{ tclient.Client }

func (nilStarter) ExecuteWorkflow(context.Context, tclient.StartWorkflowOptions, any, ...any) (tclient.WorkflowRun, error) {
	return nil, errNilStarter
}

func (g *Gateway) escalationRoutes() []route {
	if g.escalations == nil {
		return nil
	}
	return []route{{"POST", "/v1/escalations", ScopeEscalationsCreate, g.startEscalation}}
}

func (g *Gateway) startEscalation(w http.ResponseWriter, r *http.Request, agent string) {
	var req EscalationRequest
	if !g.decode(w, r, &req) {
		return
	}
	st, err := g.escalations.Start(r.Context(), agent, req)
	var fe *EscalationFieldError
	switch {
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: fe.Error(), Field: fe.Field})
	case errors.Is(err, ErrEscalationConflict):
		writeJSON(w, http.StatusConflict, errorBody{Error: err.Error(), Field: "ref"})
	case err != nil:
		g.log.Error("agent request failed", "agent", agent, "method", r.Method, "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal error; the gateway logged the detail, try again later"})
	default:
		g.log.Info("escalation started", "agent", agent, "ref", st.Ref, "via", "rest")
		writeJSON(w, http.StatusAccepted, st)
	}
}

func (g *Gateway) addEscalationTools(s *mcp.Server) {
	yes := true
	mcp.AddTool(s, &mcp.Tool{
		Name: ToolStartEscalation,
		Description: "Start a customer escalation for an account: owners are assigned, an engineering ticket is opened, " +
			"SLA timers watch the acknowledgement and customer updates. Starting again with the same ref returns the same escalation.",
		Annotations: &mcp.ToolAnnotations{Title: "Start a customer escalation", IdempotentHint: true, DestructiveHint: &yes, OpenWorldHint: &yes},
	}, g.toolStartEscalation)
}

func (g *Gateway) toolStartEscalation(ctx context.Context, req *mcp.CallToolRequest, in EscalationRequest) (*mcp.CallToolResult, EscalationStarted, error) {
	agent, err := caller(req, ScopeEscalationsCreate)
	if err != nil {
		return nil, EscalationStarted{}, err
	}
	st, err := g.escalations.Start(ctx, agent, in)
	var fe *EscalationFieldError
	switch {
	case errors.As(err, &fe):
		return nil, EscalationStarted{}, fmt.Errorf("refused: field %q: %s", fe.Field, fe.Message)
	case errors.Is(err, ErrEscalationConflict):
		return nil, EscalationStarted{}, fmt.Errorf("refused: field %q: %s; nothing was started", "ref", err)
	case err != nil:
		g.log.Error("agent tool call failed", "tool", ToolStartEscalation, "agent", agent, "error", err)
		return nil, EscalationStarted{}, errors.New("internal error in the agent gateway; it logged the detail, try again later")
	}
	g.log.Info("escalation started", "agent", agent, "ref", st.Ref, "via", "mcp")
	return textResult(fmt.Sprintf("Escalation %s started or joined (workflow %s).", st.Ref, st.WorkflowID), st), st, nil
}

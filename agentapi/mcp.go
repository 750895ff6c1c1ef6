package agentapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/execution-orchestrator/orchestrator/processes/agentaction"
)

// Tool names. There is no approve tool: agents never approve (see the
// package comment).
const (
	ToolPropose       = "propose_action"
	ToolGet           = "get_action"
	ToolWait          = "wait_for_action"
	ToolList          = "list_actions"
	ToolCancel        = "cancel_action"
	ToolVendorPayment = "start_vendor_payment"
)

// ToolNames lists every tool a gateway may serve: the action tools, then
// the task tools (TaskToolNames), which a gateway serves only when
// Config.Tasks is set (see Gateway.ToolNames).
func ToolNames() []string { return append(actionToolNames(), TaskToolNames()...) }

func actionToolNames() []string {
	return []string{ToolPropose, ToolGet, ToolWait, ToolList, ToolCancel, ToolVendorPayment}
}

// ToolNames lists the tools this gateway serves.
func (g *Gateway) ToolNames() []string {
	if g.tasks == nil {
		return actionToolNames()
	}
	return ToolNames()
}

// instructions tell the model what it can and cannot do here.
const instructions = `ExecutionOrchestrator runs real-world actions that you propose (deploy a release, send an email, pay a vendor invoice).
A policy gate decides whether each action may run on its own; where policy asks, people approve it. You cannot approve anything, and there is no way to: when an action awaits approval, say who it waits for and wait.
Use one idempotencyKey per intended action: proposing again with the same key returns the same action and never starts a second one.
After proposing, call wait_for_action: it returns when the action is done, or when it starts or stops waiting for people.`

// proposeInput is propose_action's arguments. The agent is not among them:
// it is the key's.
type proposeInput struct {
	Kind   string         `json:"kind" jsonschema:"the kind of action: deploy.release, email.send or vendor_payment.release"`
	Target string         `json:"target" jsonschema:"what the action acts on: for deploy.release the environment (staging or production), for email.send the one recipient address, for vendor_payment.release the invoice id"`
	Params map[string]any `json:"params,omitempty" jsonschema:"the kind's parameters: deploy.release {service, version}; email.send {subject, body}; vendor_payment.release none"`
	// Justification is shown to the people asked to approve.
	Justification  string  `json:"justification" jsonschema:"why this action should run, for the person who may have to approve it"`
	Confidence     float64 `json:"confidence" jsonschema:"your confidence that the action is right, from 0 to 1; policies may ask people below a threshold"`
	IdempotencyKey string  `json:"idempotencyKey" jsonschema:"your key for this intended action (1-128 printable ASCII, no spaces); the same key returns the same action and never starts a second one"`
}

type idInput struct {
	ID string `json:"id" jsonschema:"the action id that propose_action or list_actions returned"`
}

type waitInput struct {
	ID             string `json:"id" jsonschema:"the action id that propose_action or list_actions returned"`
	TimeoutSeconds int    `json:"timeoutSeconds,omitempty" jsonschema:"how long to wait at most, 1 to 60 seconds (default 30)"`
}

type listInput struct {
	Limit int `json:"limit,omitempty" jsonschema:"how many of your newest actions to list, 1 to 100 (default 100)"`
}

type vendorPaymentInput struct {
	InvoiceID      string  `json:"invoiceId" jsonschema:"the id of the vendor invoice to pay, e.g. INV-1042"`
	Justification  string  `json:"justification" jsonschema:"why the invoice should be paid now, for the person who may have to approve it"`
	Confidence     float64 `json:"confidence" jsonschema:"your confidence that the payment is right, from 0 to 1"`
	IdempotencyKey string  `json:"idempotencyKey" jsonschema:"your key for this payment; the same key returns the same action and never starts a second one"`
}

// outputSchemas derives the tools' output schemas from their Go types. The
// SDK would derive them too, but would take json.RawMessage (params,
// action) for a byte array and then refuse every real output; here it is
// any JSON.
func outputSchemas() (status, list *jsonschema.Schema, err error) {
	opts := &jsonschema.ForOptions{TypeSchemas: map[reflect.Type]*jsonschema.Schema{reflect.TypeFor[json.RawMessage](): {}}}
	if status, err = jsonschema.For[agentaction.Status](opts); err != nil {
		return nil, nil, fmt.Errorf("agentapi: status output schema: %w", err)
	}
	if list, err = jsonschema.For[ActionList](opts); err != nil {
		return nil, nil, fmt.Errorf("agentapi: list output schema: %w", err)
	}
	return status, list, nil
}

func (g *Gateway) newMCPServer() (*mcp.Server, error) {
	statusSchema, listSchema, err := outputSchemas()
	if err != nil {
		return nil, err
	}
	instr := instructions
	if g.tasks != nil {
		instr += "\n" + taskInstructions
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "execution-orchestrator", Title: "ExecutionOrchestrator agent gateway", Version: "1.0.0"},
		&mcp.ServerOptions{Instructions: instr, Logger: g.log.With("part", "mcp")})
	yes := true
	mcp.AddTool(s, &mcp.Tool{
		Name: ToolPropose,
		Description: "Propose a real-world action. The policy gate decides whether it runs on its own or needs approval by people (you cannot approve). " +
			"Answers at once with the action's status; follow it with wait_for_action.",
		OutputSchema: statusSchema,
		Annotations:  &mcp.ToolAnnotations{Title: "Propose an action", IdempotentHint: true, DestructiveHint: &yes, OpenWorldHint: &yes},
	}, g.toolPropose)
	mcp.AddTool(s, &mcp.Tool{
		Name: ToolVendorPayment,
		Description: "Propose paying one vendor invoice (a vendor_payment.release action); the vendor-payment process checks it " +
			"against its own policy and approvals. Answers at once with the action's status.",
		OutputSchema: statusSchema,
		Annotations:  &mcp.ToolAnnotations{Title: "Pay a vendor invoice", IdempotentHint: true, DestructiveHint: &yes, OpenWorldHint: &yes},
	}, g.toolVendorPayment)
	mcp.AddTool(s, &mcp.Tool{
		Name:         ToolGet,
		Description:  "Get the status of one of your actions: stage, gate decisions, approvals, what executed and what verification saw.",
		OutputSchema: statusSchema,
		Annotations:  &mcp.ToolAnnotations{Title: "Get an action", ReadOnlyHint: true},
	}, g.toolGet)
	mcp.AddTool(s, &mcp.Tool{
		Name: ToolWait,
		Description: "Wait for one of your actions to finish, or to start or stop waiting for people, for at most timeoutSeconds; " +
			"answers with its status then. Call again if it is still running.",
		OutputSchema: statusSchema,
		Annotations:  &mcp.ToolAnnotations{Title: "Wait for an action", ReadOnlyHint: true},
	}, g.toolWait)
	mcp.AddTool(s, &mcp.Tool{
		Name:         ToolList,
		Description:  "List your newest actions with kind, target, stage and outcome; get_action has the rest.",
		OutputSchema: listSchema,
		Annotations:  &mcp.ToolAnnotations{Title: "List your actions", ReadOnlyHint: true},
	}, g.toolList)
	mcp.AddTool(s, &mcp.Tool{
		Name: ToolCancel,
		Description: "Ask one of your actions to stop. What it did already stays done (a release in flight may still complete); " +
			"the answer is its status.",
		OutputSchema: statusSchema,
		Annotations:  &mcp.ToolAnnotations{Title: "Cancel an action", IdempotentHint: true, DestructiveHint: &yes},
	}, g.toolCancel)
	if g.tasks != nil {
		if err := g.addTaskTools(s); err != nil {
			return nil, err
		}
	}
	if g.escalations != nil {
		g.addEscalationTools(s)
	}
	return s, nil
}

// caller is the agent a tool call is made by: the one whose key the bearer
// middleware verified for this request, if the key carries scope.
func caller(req *mcp.CallToolRequest, scope string) (string, error) {
	if req == nil || req.Extra == nil || req.Extra.TokenInfo == nil || req.Extra.TokenInfo.UserID == "" {
		return "", errors.New("not authenticated: call the gateway with Authorization: Bearer <agent key>")
	}
	info := req.Extra.TokenInfo
	if !slices.Contains(info.Scopes, scope) {
		return "", fmt.Errorf("forbidden: this agent key lacks scope %s", scope)
	}
	return info.UserID, nil
}

// toolErr turns an error of Actions into the tool error the model reads
// (the SDK returns a handler's error as a result with isError set): a
// refused field is named so the model can fix it; an internal failure is
// logged and not described.
func (g *Gateway) toolErr(tool, agent string, err error, rename func(string) string) error {
	var fe *agentaction.FieldError
	switch {
	case errors.As(err, &fe):
		return fmt.Errorf("refused: field %q: %s", renameField(fe.Field, rename), fe.Message)
	case errors.Is(err, agentaction.ErrNotFound):
		return errors.New("no such action")
	case errors.Is(err, agentaction.ErrConflict):
		return fmt.Errorf("refused: field %q: %s; nothing was started", "idempotencyKey", agentaction.ErrConflict)
	}
	g.log.Error("agent tool call failed", "tool", tool, "agent", agent, "error", err)
	return errors.New("internal error in the agent gateway; it logged the detail, try again later")
}

// statusResult is a status for the model: a one-line summary first, then
// the status as JSON for clients that do not read structured content.
func statusResult(st agentaction.Status) *mcp.CallToolResult {
	content := []mcp.Content{&mcp.TextContent{Text: Summary(st)}}
	if b, err := json.Marshal(st); err == nil {
		content = append(content, &mcp.TextContent{Text: string(b)})
	}
	return &mcp.CallToolResult{Content: content}
}

func (g *Gateway) toolPropose(ctx context.Context, req *mcp.CallToolRequest, in proposeInput) (*mcp.CallToolResult, agentaction.Status, error) {
	agent, err := caller(req, ScopePropose)
	if err != nil {
		return nil, agentaction.Status{}, err
	}
	p := agentaction.Proposal{Kind: in.Kind, Target: in.Target, Justification: in.Justification,
		Confidence: in.Confidence, IdempotencyKey: in.IdempotencyKey, Params: json.RawMessage(`{}`)}
	if in.Params != nil {
		if p.Params, err = json.Marshal(in.Params); err != nil {
			return nil, agentaction.Status{}, fmt.Errorf("refused: field %q: %v", "params", err)
		}
	}
	st, err := g.actions.Propose(ctx, agent, p)
	if err != nil {
		return nil, agentaction.Status{}, g.toolErr(ToolPropose, agent, err, nil)
	}
	g.log.Info("action proposed", "agent", agent, "id", st.ID, "kind", p.Kind, "target", p.Target, "via", "mcp")
	return statusResult(st), st, nil
}

func (g *Gateway) toolVendorPayment(ctx context.Context, req *mcp.CallToolRequest, in vendorPaymentInput) (*mcp.CallToolResult, agentaction.Status, error) {
	agent, err := caller(req, ScopePropose)
	if err != nil {
		return nil, agentaction.Status{}, err
	}
	v := VendorPaymentRequest{InvoiceID: in.InvoiceID, Justification: in.Justification, Confidence: in.Confidence, IdempotencyKey: in.IdempotencyKey}
	st, err := g.actions.Propose(ctx, agent, v.Proposal())
	if err != nil {
		return nil, agentaction.Status{}, g.toolErr(ToolVendorPayment, agent, err, vendorPaymentField)
	}
	g.log.Info("action proposed", "agent", agent, "id", st.ID, "kind", agentaction.KindVendorPayment, "target", in.InvoiceID, "via", "mcp")
	return statusResult(st), st, nil
}

func (g *Gateway) toolGet(ctx context.Context, req *mcp.CallToolRequest, in idInput) (*mcp.CallToolResult, agentaction.Status, error) {
	agent, err := caller(req, ScopeRead)
	if err != nil {
		return nil, agentaction.Status{}, err
	}
	st, err := g.actions.Get(ctx, agent, in.ID)
	if err != nil {
		return nil, agentaction.Status{}, g.toolErr(ToolGet, agent, err, nil)
	}
	return statusResult(st), st, nil
}

func (g *Gateway) toolWait(ctx context.Context, req *mcp.CallToolRequest, in waitInput) (*mcp.CallToolResult, agentaction.Status, error) {
	agent, err := caller(req, ScopeRead)
	if err != nil {
		return nil, agentaction.Status{}, err
	}
	timeout := DefaultWait
	switch maxSecs := int(agentaction.MaxWait / time.Second); {
	case in.TimeoutSeconds < 0 || in.TimeoutSeconds > maxSecs:
		return nil, agentaction.Status{}, fmt.Errorf("refused: field %q: must be from 1 to %d seconds", "timeoutSeconds", maxSecs)
	case in.TimeoutSeconds > 0:
		timeout = time.Duration(in.TimeoutSeconds) * time.Second
	}
	done, ok := g.startWait(agent)
	if !ok {
		return nil, agentaction.Status{}, errTooManyWaits
	}
	defer done()
	st, err := g.actions.Wait(ctx, agent, in.ID, timeout)
	if err != nil {
		return nil, agentaction.Status{}, g.toolErr(ToolWait, agent, err, nil)
	}
	return statusResult(st), st, nil
}

func (g *Gateway) toolList(ctx context.Context, req *mcp.CallToolRequest, in listInput) (*mcp.CallToolResult, ActionList, error) {
	agent, err := caller(req, ScopeRead)
	if err != nil {
		return nil, ActionList{}, err
	}
	if in.Limit < 0 || in.Limit > agentaction.MaxList {
		return nil, ActionList{}, fmt.Errorf("refused: field %q: must be from 1 to %d", "limit", agentaction.MaxList)
	}
	sts, err := g.actions.List(ctx, agent, in.Limit)
	if err != nil {
		return nil, ActionList{}, g.toolErr(ToolList, agent, err, nil)
	}
	out := listOf(sts)
	lines := []string{fmt.Sprintf("%d action(s).", len(out.Actions))}
	for _, st := range out.Actions {
		lines = append(lines, "- "+Summary(st))
	}
	content := []mcp.Content{&mcp.TextContent{Text: strings.Join(lines, "\n")}}
	if b, err := json.Marshal(out); err == nil {
		content = append(content, &mcp.TextContent{Text: string(b)})
	}
	return &mcp.CallToolResult{Content: content}, out, nil
}

func (g *Gateway) toolCancel(ctx context.Context, req *mcp.CallToolRequest, in idInput) (*mcp.CallToolResult, agentaction.Status, error) {
	agent, err := caller(req, ScopeCancel)
	if err != nil {
		return nil, agentaction.Status{}, err
	}
	st, err := g.actions.Cancel(ctx, agent, in.ID)
	if err != nil {
		return nil, agentaction.Status{}, g.toolErr(ToolCancel, agent, err, nil)
	}
	g.log.Info("action cancel requested", "agent", agent, "id", st.ID, "via", "mcp")
	return statusResult(st), st, nil
}

// Summary is one line about an action for a model to read, e.g.
// "Action agent-action-x-1a2b (deploy.release on staging): done, outcome
// succeeded — release rel-12 verified healthy".
func Summary(st agentaction.Status) string {
	head := fmt.Sprintf("Action %s (%s on %s): ", st.ID, orUnknown(st.Kind), orUnknown(st.Target))
	switch {
	case st.Outcome == agentaction.OutcomeDenied:
		return head + "denied: " + denial(st)
	case st.Outcome != "":
		return head + "done, outcome " + st.Outcome + outcomeDetail(st)
	case st.Stage == agentaction.StageAwaitingApproval:
		who := "people"
		if len(st.PendingApprovers) > 0 {
			who = strings.Join(st.PendingApprovers, " or ")
		}
		if st.AwaitingSlot != "" {
			who += " (" + st.AwaitingSlot + ")"
		}
		s := head + "awaiting approval by " + who
		if st.ApprovalReason != "" {
			s += ": " + st.ApprovalReason
		}
		return s
	case st.Stage == "":
		return head + "status not known yet"
	}
	return head + "in progress, stage " + st.Stage
}

// refNoun names what a kind's execution ref is.
func refNoun(kind string) string {
	switch kind {
	case agentaction.KindDeploy:
		return "release"
	case agentaction.KindEmail:
		return "message"
	case agentaction.KindVendorPayment:
		return "payment"
	}
	return ""
}

func outcomeDetail(st agentaction.Status) string {
	var parts []string
	if st.Execution != nil && st.Execution.Ref != "" {
		ref := st.Execution.Ref
		if n := refNoun(st.Kind); n != "" {
			ref = n + " " + ref
		}
		switch v := st.Verification; {
		case v != nil && v.Verified:
			parts = append(parts, ref+" verified "+orUnknown(v.State))
		case v != nil:
			parts = append(parts, ref+" not verified (state "+orUnknown(v.State)+")")
		default:
			parts = append(parts, ref+" executed")
		}
	}
	if st.Reason != "" {
		parts = append(parts, st.Reason)
	}
	if len(parts) == 0 {
		return ""
	}
	return " — " + strings.Join(parts, "; ")
}

// denial lists why the gate forbade the action: the policies' messages of
// its last deny, else the status's reason.
func denial(st agentaction.Status) string {
	for i := len(st.Gate) - 1; i >= 0; i-- {
		d := st.Gate[i].Decision
		if d.Permit {
			continue
		}
		var msgs []string
		for _, r := range d.Reasons {
			if r.Message != "" {
				msgs = append(msgs, r.Message)
			} else {
				msgs = append(msgs, "policy "+r.PolicyID)
			}
		}
		msgs = append(msgs, d.Errors...)
		if len(msgs) > 0 {
			return strings.Join(msgs, "; ")
		}
	}
	return orUnknown(st.Reason)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

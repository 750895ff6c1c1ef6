package agentaction

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/process"
)

// Definition is the agent-action process for the worker, the replayer and
// the CLI. d.Tuning[ProcessName] may hold a Config (tests shorten it).
// Agents start actions through the agent gateway (orchestrator agent-api,
// orchestrator mcp), which signs each start; `orchestrator start agent-action`
// proposes through the gateway too, with the agent's key.
func Definition(d process.Deps) process.Definition {
	cfg := DefaultConfig()
	if c, ok := d.Tuning[ProcessName].(Config); ok {
		cfg = c
	}
	return process.Definition{
		Name:              ProcessName,
		WorkflowTypes:     []string{Workflow},
		RegisterWorkflows: func(r process.WorkflowRegistry) { RegisterWorkflows(r, cfg) },
		Start:             startFromCLI,
		RegisterActivities: func(r process.Registry) {
			RegisterActivities(r, NewActivities(d))
		},
	}
}

// NewActivities builds the activities from the shared dependencies.
func NewActivities(d process.Deps) *Activities {
	a := &Activities{Trust: d.Trust, Signer: d.Signer, WebBaseURL: d.WebBaseURL, Logger: d.Logger, Now: d.Now, Audit: d.Audit}
	// Typed nils must stay untyped nils, so "not configured" is detected.
	if d.Temporal != nil {
		a.Temporal = d.Temporal
	}
	if d.Mail != nil {
		a.Mail = d.Mail
	}
	if d.Deploy != nil {
		a.Deploy = d.Deploy
	}
	if d.Directory != nil {
		a.Directory = d.Directory
	}
	if d.Gate != nil {
		a.Gate = d.Gate
	}
	if d.Codes != nil {
		a.Codes = d.Codes
	}
	return a
}

// RegisterWorkflows registers AgentAction under its contract name.
func RegisterWorkflows(r process.WorkflowRegistry, cfg Config) {
	r.RegisterWorkflowWithOptions(New(cfg).Run, workflow.RegisterOptions{Name: Workflow})
}

// RegisterActivities registers every activity under its contract name.
func RegisterActivities(r process.Registry, a *Activities) {
	for _, act := range []struct {
		name string
		fn   any
	}{
		{ActivityResolve, a.AgentResolveAction},
		{ActivityEvaluateGate, a.AgentEvaluateGate},
		{ActivityPlanApprovals, a.AgentPlanApprovals},
		{ActivityCheckApprovers, a.AgentCheckApprovers},
		{ActivityNotifyApprovers, a.AgentNotifyApprovers},
		{ActivityLoadTrust, a.AgentLoadTrust},
		{ActivityCheckCode, a.AgentCheckApprovalCode},
		{ActivityExecute, a.AgentExecute},
		{ActivityVerify, a.AgentVerify},
		{ActivitySignHandoff, a.AgentSignHandoff},
	} {
		r.RegisterActivityWithOptions(act.fn, activity.RegisterOptions{Name: act.name})
	}
}

// Package processes lists the business processes of ExecutionOrchestrator.
// The worker, the replay tests and the CLI loop over All; adding a process
// is a folder processes/<name> and one line here.
package processes

import (
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes/agentaction"
	"github.com/execution-orchestrator/orchestrator/processes/customerescalation"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/processes/onboarding"
	"github.com/execution-orchestrator/orchestrator/processes/vendorpayment"
)

// All returns every process, its activities bound to d.
func All(d process.Deps) []process.Definition {
	return []process.Definition{
		vendorpayment.Definition(d),
		agentaction.Definition(d),
		humantask.Definition(d),
		onboarding.Definition(d),
		customerescalation.Definition(d),
	}
}

// Find returns the process called name.
func Find(d process.Deps, name string) (process.Definition, bool) {
	for _, p := range All(d) {
		if p.Name == name {
			return p, true
		}
	}
	return process.Definition{}, false
}

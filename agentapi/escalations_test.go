package agentapi

import (
	"context"
	"sync"
)

// fakeEscalations is an Escalations: a ref names one request.
type fakeEscalations struct {
	mu   sync.Mutex
	seen map[string]EscalationRequest
}

func (f *fakeEscalations) Start(_ context.Context, agent string, req EscalationRequest) (EscalationStarted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Ref == "" {
		return EscalationStarted{}, &EscalationFieldError{Field: "ref", Message: "required"}
	}
	if f.seen == nil {
		f.seen = map[string]EscalationRequest{}
	}
	if prev, ok := f.seen[req.Ref]; ok && prev != req {
		return EscalationStarted{}, ErrEscalationConflict
	}
	f.seen[req.Ref] = req
	return EscalationStarted{Ref: req.Ref, WorkflowID: "escalation-" + req.Ref, RunID: "run-1"}, nil
}

// Package gate answers one question immediately before an activity changes an
// outside system: "is this exact action admissible right now?". The answer
// comes from Cedar policy files, not from code, so the rules can be read,
// reviewed and changed without a deploy; the gate itself knows no business
// process.
//
// The policy convention is one `@id("default-permit") permit(principal,
// action, resource);` plus `forbid` rules, each with an @id, so a deny always
// names the rules that caused it. A forbid annotated @approval("role") is one
// that an approval by that role lifts: a deny made only of such forbids means
// "ask people", not "never".
//
// The gate fails closed: policy files that do not parse, an unreadable policy
// directory or a set without a permit make Decide return an error wrapping
// ErrUndecidable, and an evaluation error (e.g. a missing context key) makes
// the decision a deny.
package gate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrUndecidable means the gate cannot decide at all: the policy files are
// broken, missing or unreadable. It is never a permit; callers should treat
// it as retryable (someone may fix the files) and must not act.
var ErrUndecidable = errors.New("gate: undecidable")

// ErrInvalidRequest means the request itself cannot be put to the policies
// (bad entity, unsupported context value). Retrying will not help.
var ErrInvalidRequest = errors.New("gate: invalid request")

// Entity names a principal or resource, e.g. {"Person","maria"},
// {"Agent","payables-bot"}, {"Target","V-100/DE89..."}. Type must be a Cedar
// entity type name.
type Entity struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

func (e Entity) String() string { return fmt.Sprintf("%s::%q", e.Type, e.ID) }

// Request is one concrete action about to be taken.
type Request struct {
	// Principal is the verified requester.
	Principal Entity
	// Action is the action kind, e.g. "vendor_payment.release"; policies see
	// it as Action::"vendor_payment.release".
	Action string
	// Resource is the target of the action.
	Resource Entity
	// Context values may be string, bool, int, int64, []string (a Cedar Set
	// of String) or map[string]any (a Record of the same); anything else is
	// an ErrInvalidRequest naming the key.
	Context map[string]any
}

// Reason is one forbid policy that matched.
type Reason struct {
	// PolicyID is the policy's @id annotation, or cedar's id with file:line
	// when the policy has none.
	PolicyID string `json:"policyId"`
	// Approval is the role named by @approval("role"): an approval by that
	// role lifts this forbid.
	Approval string `json:"approval,omitempty"`
	// Message is the policy's @message, for humans.
	Message string `json:"message,omitempty"`
}

// Decision is the gate's answer to one Request.
type Decision struct {
	Permit bool `json:"permit"`
	// Reasons are every forbid that matched, sorted by PolicyID; empty on a
	// permit.
	Reasons []Reason `json:"reasons,omitempty"`
	// PolicySetHash identifies the exact policy files decided on, so a
	// decision can be traced to the rules in force.
	PolicySetHash string `json:"policySetHash"`
	// Errors are policy evaluation errors. Any error makes the decision a
	// deny: a rule that could not be evaluated might have forbidden.
	Errors []string  `json:"errors,omitempty"`
	At     time.Time `json:"at"`
}

// NeedsApprovalOnly reports whether the action is denied only by forbids that
// approvals lift, i.e. the right next step is to ask people. It is false on a
// permit, on evaluation errors and when any reason has no @approval.
func (d Decision) NeedsApprovalOnly() bool {
	if d.Permit || len(d.Reasons) == 0 || len(d.Errors) > 0 {
		return false
	}
	for _, r := range d.Reasons {
		if r.Approval == "" {
			return false
		}
	}
	return true
}

// ApprovalRoles returns the sorted, unique roles whose approval would lift
// some of the reasons.
func (d Decision) ApprovalRoles() []string {
	var roles []string
	for _, r := range d.Reasons {
		if r.Approval != "" {
			roles = append(roles, r.Approval)
		}
	}
	slices.Sort(roles)
	return slices.Compact(roles)
}

// String is a one-line summary for logs and humans:
// "permit (policies sha256:…)" or "deny: autonomy.threshold (above …), …".
func (d Decision) String() string {
	if d.Permit {
		return "permit (policies " + d.PolicySetHash + ")"
	}
	parts := make([]string, 0, len(d.Reasons))
	for _, r := range d.Reasons {
		if r.Message == "" {
			parts = append(parts, r.PolicyID)
			continue
		}
		parts = append(parts, r.PolicyID+" ("+r.Message+")")
	}
	s := "deny: " + strings.Join(parts, ", ")
	if len(d.Errors) > 0 {
		if len(parts) > 0 {
			s += "; "
		}
		s += "evaluation errors: " + strings.Join(d.Errors, "; ")
	}
	if len(parts) == 0 && len(d.Errors) == 0 {
		s += "no permit policy matched"
	}
	return s
}

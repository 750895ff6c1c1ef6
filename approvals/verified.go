package approvals

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// Verified is what the approvals of an action amount to, once every proof
// is checked again at the side effect: the facts a gate decides on.
type Verified struct {
	Count     int
	Digests   []string
	Targets   []string
	Roles     []string // roles the approvers hold now (or hold for whom they stood in)
	OldestAge time.Duration
}

// GateContext returns the Cedar context keys every gated action passes.
func (v Verified) GateContext() map[string]any {
	return map[string]any{
		"approvalCount":            int64(v.Count),
		"approvedDigests":          nonNil(v.Digests),
		"approvedTargets":          nonNil(v.Targets),
		"approverRoles":            nonNil(v.Roles),
		"oldestApprovalAgeSeconds": int64(v.OldestAge / time.Second),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// VerifyApprovals applies the workflow's rules again, outside the workflow,
// to the approvals an activity was handed: distinct people, never the
// requester, nothing left blank, and a proof that verifies for this run,
// slot, digest and person as of when the workflow accepted it (its age is
// the gate's validity rule). A refusal is a non-retryable error of type
// ErrTypeProofRefused naming the approval. dir says which roles each
// approver holds now.
func VerifyApprovals(aps []Approval, trust proof.Trust, requestedBy, wfID, runID string, dir Directory, now time.Time) (Verified, error) {
	refuse := func(format string, args ...any) error {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrTypeProofRefused, nil)
	}
	var v Verified
	var people []string
	for i, ap := range aps {
		if ap.Decision != DecisionApprove {
			continue
		}
		key := PersonKey(ap.Approver)
		switch {
		case ap.Slot == "" || ap.ActionDigest == "" || key == "":
			return Verified{}, refuse("approvals[%d]: slot, actionDigest and approver are required", i)
		case IsAgent(ap.Approver):
			return Verified{}, refuse("approvals[%d].approver: %s is an agent; only people approve", i, ap.Approver)
		case slices.Contains(people, key):
			return Verified{}, refuse("approvals[%d].approver: %s approved twice; slots need distinct people", i, ap.Approver)
		case key == PersonKey(requestedBy):
			return Verified{}, refuse("approvals[%d].approver: %s requested this action", i, ap.Approver)
		case ap.Proof == nil:
			return Verified{}, refuse("approvals[%d].proof: %s's approval carries no proof", i, ap.Approver)
		}
		people = append(people, key)
		as, err := proof.Verify(ap.Proof.Token, trust, proof.Expect{
			Kind: proof.KindApproval, WorkflowID: wfID, RunID: runID, Slot: ap.Slot,
			ActionDigest: ap.ActionDigest, Decision: DecisionApprove, Subject: ap.Approver,
		}, ap.At)
		if err != nil {
			return Verified{}, refuse("approvals[%d].%v", i, err)
		}
		v.Count++
		v.Digests = appendUnique(v.Digests, ap.ActionDigest)
		v.Targets = appendUnique(v.Targets, ap.Target)
		if age := now.Sub(as.IssuedAt); age > v.OldestAge {
			v.OldestAge = age
		}
		if dir != nil && ApproverProblem(dir, ap) == "" {
			v.Roles = appendUnique(v.Roles, ap.Slot)
		}
	}
	return v, nil
}

// Directory is what the approval checks read of the org directory
// (*policy.Directory).
type Directory interface {
	Person(id string) (policy.Person, bool)
	HasRole(personID, role string) bool
}

// ApproverProblem says why ap no longer counts for its slot ("" when it
// does): the approver left the directory or lost the role, or no longer
// stands in for the person they approved for.
func ApproverProblem(d Directory, ap Approval) string {
	if _, ok := d.Person(ap.Approver); !ok {
		return fmt.Sprintf("%s is no longer in the directory", ap.Approver)
	}
	if d.HasRole(ap.Approver, ap.Slot) {
		return ""
	}
	if ap.OnBehalfOf == "" {
		return fmt.Sprintf("%s no longer holds role %s", ap.Approver, ap.Slot)
	}
	principal, ok := d.Person(ap.OnBehalfOf)
	switch {
	case !ok:
		return fmt.Sprintf("%s, for whom %s approved, is no longer in the directory", ap.OnBehalfOf, ap.Approver)
	case !d.HasRole(ap.OnBehalfOf, ap.Slot):
		return fmt.Sprintf("%s, for whom %s approved, no longer holds role %s", ap.OnBehalfOf, ap.Approver, ap.Slot)
	case principal.Delegate != ap.Approver && principal.Manager != ap.Approver:
		return fmt.Sprintf("%s no longer stands in for %s", ap.Approver, ap.OnBehalfOf)
	}
	return ""
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

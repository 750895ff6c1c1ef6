package approvals

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/totp"
)

// ApplicationError types of a refused code check.
const (
	ErrTypeProofRefused    = "ProofRefused"
	ErrTypeInvalidArgument = "InvalidArgument"
	ErrTypeNotConfigured   = "NotConfigured"
	ErrTypeNotOurs         = "NotOurs"
)

// CodeVerifier checks one-time codes from authenticator apps (*totp.Store).
type CodeVerifier interface {
	Verify(ctx context.Context, personID, code string) error
}

// CodeChecker is the activity side of a one-time-code decision, shared by
// every gated process: check the person's code and, when it is right, sign
// an assertion of the decision with the worker's key (method totp), so the
// decision carries a proof the side effect can verify again.
type CodeChecker struct {
	Codes  CodeVerifier
	Signer *proof.Signer
	Now    func() time.Time
}

// Check checks req for the run that asks. ours refuses a caller that is not
// the process's own workflow (each check is a guess at a person's secret,
// and what it signs is an approval). A wrong, reused or unknown code is
// refused non-retryably: retrying cannot help.
func (c CodeChecker) Check(ctx context.Context, req CodeCheck, ours func(ctx context.Context) error) (string, error) {
	nonRetryable := func(typ, format string, args ...any) error {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), typ, nil)
	}
	switch {
	case c.Codes == nil:
		return "", nonRetryable(ErrTypeNotConfigured, "activities: Codes is not configured")
	case c.Signer == nil:
		return "", nonRetryable(ErrTypeNotConfigured, "activities: Signer is not configured")
	case strings.TrimSpace(req.Approver) == "":
		return "", nonRetryable(ErrTypeInvalidArgument, "approver: required")
	case !IsOneTimeCode(req.Code):
		return "", nonRetryable(ErrTypeInvalidArgument, "proof: a one-time code is six digits")
	}
	info := activity.GetInfo(ctx)
	if req.WorkflowID != info.WorkflowExecution.ID || req.RunID != info.WorkflowExecution.RunID {
		return "", nonRetryable(ErrTypeNotOurs, "a code is checked only for the run that asks")
	}
	if err := ours(ctx); err != nil {
		return "", err
	}
	if err := c.Codes.Verify(ctx, req.Approver, req.Code); err != nil {
		if errors.Is(err, totp.ErrInvalidCode) || errors.Is(err, totp.ErrReused) || errors.Is(err, totp.ErrNotEnrolled) || errors.Is(err, totp.ErrLocked) {
			return "", nonRetryable(ErrTypeProofRefused, "%s", err.Error())
		}
		return "", fmt.Errorf("check one-time code of %s: %w", req.Approver, err)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	at := now().UTC()
	token, err := c.Signer.Sign(proof.Assertion{
		Kind: proof.KindApproval, WorkflowID: req.WorkflowID, RunID: req.RunID, Slot: req.Slot,
		ActionDigest: req.ActionDigest, Decision: req.Decision, Subject: req.Approver, Method: proof.MethodTOTP,
		IssuedAt: at, ExpiresAt: at.Add(10 * time.Minute),
	})
	if err != nil {
		return "", nonRetryable(ErrTypeNotConfigured, "sign code assertion: %v", err)
	}
	return token, nil
}

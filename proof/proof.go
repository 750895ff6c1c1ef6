// Package proof signs and verifies assertions about who decided something.
//
// A trusted signer (the web app after OIDC sign-in, a person's own key via the
// CLI, or the worker after it checked a TOTP code) signs an Assertion; a
// workflow verifies it inside an Update validator and the activity that acts
// on it verifies it again. Verification is therefore pure: no I/O, no clock,
// no randomness; the caller passes now.
//
// Wire form, short enough to paste into the Temporal UI's Signal dialog:
//
//	eo1.<base64url(RFC 8785 canonical JSON of the assertion)>.<base64url(Ed25519 signature over "eo1.<payload part>")>
//
// The package knows nothing about any business process: kinds, slots and
// digests are opaque strings compared for equality.
package proof

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gowebpki/jcs"
)

// Version is the only assertion version this package signs and accepts.
const Version = 1

// Assertion kinds.
const (
	KindApproval = "approval" // a person decided an approval slot
	KindStart    = "start"    // a person requested a run
	// KindTask: a worker acted on a human task (accepted or declined an
	// offer, submitted evidence). Slot names the step ("offer-2",
	// "submission-1"); ActionDigest is the digest of what was sent.
	KindTask = "task"
)

// Decisions an approval can carry.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
)

// What a worker may do on a human task (KindTask).
const (
	TaskAccept  = "accept"
	TaskDecline = "decline"
	TaskSubmit  = "submit"
)

// Methods by which a signer established the subject.
const (
	MethodOIDC = "oidc" // web app, after OIDC sign-in
	MethodKey  = "key"  // the person's own key (CLI)
	MethodTOTP = "totp" // worker, after checking an authenticator code
	MethodLink = "link" // web app, after redeeming an emailed one-time link
	// MethodDev: web app with the development person picker, where anyone
	// picks anyone. Only a web key listed with "methods=...,dev" (what
	// `orchestrator dev` writes) may claim it; production keys never do.
	MethodDev = "dev"
	// MethodService: the worker, for a start it made itself (the overdue
	// invoice detector's Schedule).
	MethodService = "service"
	// MethodAgentKey: the agent gateway, after checking an AI agent's
	// bearer key. Only a gateway key may claim it, and only for a start
	// whose subject is an agent (see permitted).
	MethodAgentKey = "agent-key"
	// MethodChat: the web app, after checking a chat webhook's signature
	// and mapping the message's author handle to a directory person
	// (policy.Directory.PersonByChat).
	MethodChat = "chat"
)

// Issuers: who holds a trusted key.
const (
	IssuerWeb    = "web"
	IssuerWorker = "worker"
	IssuerPerson = "person"
	// IssuerGateway is the agent gateway: it vouches that an agent asked,
	// never for a decision.
	IssuerGateway = "gateway"
)

const (
	// MaxTokenLen bounds what Verify will decode, so a pasted blob cannot
	// make a validator allocate or parse much.
	MaxTokenLen = 4096
	// MaxLifetime bounds exp-iat: a leaked assertion is useful only briefly.
	MaxLifetime = 24 * time.Hour
	// MaxClockSkew is how far in the future of now an iat may lie, because the
	// signer's clock and the verifier's now are not the same clock.
	MaxClockSkew = 2 * time.Minute
	// NonceBytes is the random size Sign uses and the minimum Verify accepts.
	NonceBytes = 16

	tokenPrefix = "eo1"
)

// Assertion is what a signer vouches for.
type Assertion struct {
	Version      int       `json:"v"`
	Kind         string    `json:"kind"`
	WorkflowID   string    `json:"workflowId"`
	RunID        string    `json:"runId,omitempty"`        // required for approvals; a start assertion is made before the run exists
	Slot         string    `json:"slot,omitempty"`         // approval slot (role) it decides
	ActionDigest string    `json:"actionDigest,omitempty"` // what exactly was approved
	Decision     string    `json:"decision,omitempty"`     // DecisionApprove or DecisionReject
	Subject      string    `json:"sub"`                    // person id (approver, or requester for KindStart)
	Method       string    `json:"method"`                 // how the signer established the subject
	IssuedAt     time.Time `json:"iat"`
	ExpiresAt    time.Time `json:"exp"`
	Nonce        string    `json:"nonce"` // random; the workflow refuses a reused nonce
	KeyID        string    `json:"kid"`
}

// Expect names what the verifier requires; empty fields are not checked.
type Expect struct {
	Kind, WorkflowID, RunID, Slot, ActionDigest, Decision, Subject string
}

// Sentinels for errors.Is. Every error from this package wraps exactly one.
var (
	ErrMalformed    = errors.New("malformed")             // shape, encoding, missing or invalid field
	ErrUnknownKey   = errors.New("unknown key")           // kid not in trust (or trust entry unusable)
	ErrBadSignature = errors.New("bad signature")         // signature does not verify
	ErrExpired      = errors.New("expired")               // exp is not after now
	ErrNotYetValid  = errors.New("not yet valid")         // iat too far in the future
	ErrMismatch     = errors.New("mismatch")              // made for another workflow, run, slot, digest, ...
	ErrNotPermitted = errors.New("not permitted to sign") // key may not sign for this subject or method
)

// Error is a refusal naming the offending field by its JSON name, so that a
// person pasting a token into a UI learns what was wrong with it.
type Error struct {
	Field  string // JSON field name, e.g. "kid", "runId"; "token" for the whole string
	Reason error  // one of the Err* sentinels
	Detail string
}

func (e *Error) Error() string { return "proof." + e.Field + ": " + e.Detail }

// Unwrap makes errors.Is(err, ErrExpired) and friends work.
func (e *Error) Unwrap() error { return e.Reason }

func fail(field string, reason error, format string, args ...any) error {
	return &Error{Field: field, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// b64 is strict so that one token has exactly one encoding: lax decoding of
// trailing bits would let a token be altered without touching its signature.
var b64 = base64.RawURLEncoding.Strict()

// NewNonce returns NonceBytes of crypto/rand, base64url-encoded.
func NewNonce() (string, error) {
	b := make([]byte, NonceBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("proof.nonce: random: %w", err)
	}
	return b64.EncodeToString(b), nil
}

// canonical returns the RFC 8785 form of a. Signer and verifier both use it,
// so a token is accepted only if its payload is exactly what Sign would have
// produced for the decoded assertion (no duplicate keys, no explicit empty
// optional fields, no alternative time spellings).
func canonical(a Assertion) ([]byte, error) {
	raw, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("marshal assertion: %w", err)
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("canonicalise assertion: %w", err)
	}
	return out, nil
}

// validate checks what every assertion must satisfy regardless of who signed
// it or what the verifier expects. Sign and Verify share it so a signer cannot
// produce a token that every verifier would refuse.
func validate(a Assertion) error {
	if a.Version != Version {
		return fail("v", ErrMalformed, "version %d, want %d", a.Version, Version)
	}
	switch a.Kind {
	case KindApproval:
		if a.RunID == "" {
			return fail("runId", ErrMalformed, "required for kind %q", a.Kind)
		}
		if a.Slot == "" {
			return fail("slot", ErrMalformed, "required for kind %q", a.Kind)
		}
		if a.ActionDigest == "" {
			return fail("actionDigest", ErrMalformed, "required for kind %q", a.Kind)
		}
		if a.Decision != DecisionApprove && a.Decision != DecisionReject {
			return fail("decision", ErrMalformed, "%q is neither %q nor %q", a.Decision, DecisionApprove, DecisionReject)
		}
	case KindTask:
		if a.RunID == "" {
			return fail("runId", ErrMalformed, "required for kind %q", a.Kind)
		}
		if a.Slot == "" {
			return fail("slot", ErrMalformed, "required for kind %q", a.Kind)
		}
		if a.ActionDigest == "" {
			return fail("actionDigest", ErrMalformed, "required for kind %q", a.Kind)
		}
		if a.Decision != TaskAccept && a.Decision != TaskDecline && a.Decision != TaskSubmit {
			return fail("decision", ErrMalformed, "%q is not %q, %q or %q", a.Decision, TaskAccept, TaskDecline, TaskSubmit)
		}
	case KindStart:
		// A request is not a decision; carrying one would invite confusion
		// with an approval.
		if a.Decision != "" {
			return fail("decision", ErrMalformed, "not allowed for kind %q", a.Kind)
		}
	case "":
		return fail("kind", ErrMalformed, "required")
	default:
		return fail("kind", ErrMalformed, "unknown kind %q", a.Kind)
	}
	if a.WorkflowID == "" {
		return fail("workflowId", ErrMalformed, "required")
	}
	if a.Subject == "" {
		return fail("sub", ErrMalformed, "required")
	}
	switch a.Method {
	case MethodOIDC, MethodKey, MethodTOTP, MethodLink, MethodDev, MethodService, MethodAgentKey, MethodChat:
	case "":
		return fail("method", ErrMalformed, "required")
	default:
		return fail("method", ErrMalformed, "unknown method %q", a.Method)
	}
	if a.IssuedAt.IsZero() {
		return fail("iat", ErrMalformed, "required")
	}
	if a.ExpiresAt.IsZero() {
		return fail("exp", ErrMalformed, "required")
	}
	if !a.ExpiresAt.After(a.IssuedAt) {
		return fail("exp", ErrMalformed, "%s is not after iat %s", a.ExpiresAt.Format(time.RFC3339), a.IssuedAt.Format(time.RFC3339))
	}
	if life := a.ExpiresAt.Sub(a.IssuedAt); life > MaxLifetime {
		return fail("exp", ErrMalformed, "lifetime %s exceeds %s", life, MaxLifetime)
	}
	if a.Nonce == "" {
		return fail("nonce", ErrMalformed, "required")
	}
	if n, err := b64.DecodeString(a.Nonce); err != nil || len(n) < NonceBytes {
		return fail("nonce", ErrMalformed, "must be at least %d random bytes, base64url without padding", NonceBytes)
	}
	if a.KeyID == "" {
		return fail("kid", ErrMalformed, "required")
	}
	return nil
}

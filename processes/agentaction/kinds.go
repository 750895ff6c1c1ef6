package agentaction

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/mail"
	"regexp"
	"slices"
	"strings"
)

// Caps on a proposal. The gateway refuses larger requests before decoding;
// the workflow checks again, because anyone who reaches the Temporal
// frontend can start one.
const (
	MaxProposalBytes     = 16 << 10
	MaxJustificationLen  = 2000
	MaxIdempotencyKeyLen = 128
	MaxTargetLen         = 254
	MaxParamsBytes       = 8 << 10
	MaxEmailSubjectLen   = 200
	MaxEmailBodyLen      = 4000
)

// Deploy targets of the deployment system.
const (
	TargetStaging    = "staging"
	TargetProduction = "production"
)

// DeployParams are the params of deploy.release; the target is the
// environment ("staging" or "production").
type DeployParams struct {
	Service string `json:"service"`
	Version string `json:"version"`
}

// EmailParams are the params of email.send; the target is the one recipient
// address.
type EmailParams struct {
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// VendorPaymentParams are the params of vendor_payment.release; the target is
// the invoice id, and the vendor-payment process pays it (with its own gate
// and approvals, the agent as the verified requester).
type VendorPaymentParams struct{}

// FieldError is a refused proposal: Field names what is wrong (JSON path).
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Kinds lists the kinds the layer knows, sorted.
func Kinds() []string { return []string{KindDeploy, KindEmail, KindVendorPayment} }

var (
	serviceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,39}$`)
	keyRE     = regexp.MustCompile(`^[\x21-\x7e]+$`)
	invoiceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// ValidateProposal checks a proposal; the error is a *FieldError naming the
// first field that is wrong.
func ValidateProposal(p Proposal) error {
	switch {
	case p.Kind == "":
		return fieldErr("kind", "required; one of %s", strings.Join(Kinds(), ", "))
	case !slices.Contains(Kinds(), p.Kind):
		return fieldErr("kind", "%q is not a kind the layer knows; one of %s", clip(p.Kind), strings.Join(Kinds(), ", "))
	case p.IdempotencyKey == "":
		return fieldErr("idempotencyKey", "required")
	case len(p.IdempotencyKey) > MaxIdempotencyKeyLen || !keyRE.MatchString(p.IdempotencyKey):
		return fieldErr("idempotencyKey", "1-%d printable ASCII characters without spaces", MaxIdempotencyKeyLen)
	case math.IsNaN(p.Confidence) || p.Confidence < 0 || p.Confidence > 1:
		return fieldErr("confidence", "must be between 0 and 1")
	case strings.TrimSpace(p.Justification) == "":
		return fieldErr("justification", "required: say why, for the person who may have to approve")
	case len(p.Justification) > MaxJustificationLen:
		return fieldErr("justification", "longer than %d bytes", MaxJustificationLen)
	case p.Target == "":
		return fieldErr("target", "required")
	case len(p.Target) > MaxTargetLen:
		return fieldErr("target", "longer than %d bytes", MaxTargetLen)
	case len(p.Params) > MaxParamsBytes:
		return fieldErr("params", "longer than %d bytes", MaxParamsBytes)
	}
	switch p.Kind {
	case KindDeploy:
		_, err := DecodeDeploy(p)
		return err
	case KindEmail:
		_, err := DecodeEmail(p)
		return err
	case KindVendorPayment:
		return decodeVendorPayment(p)
	}
	return nil
}

// DecodeDeploy returns the checked params of a deploy.release proposal.
func DecodeDeploy(p Proposal) (DeployParams, error) {
	var d DeployParams
	if p.Target != TargetStaging && p.Target != TargetProduction {
		return d, fieldErr("target", "%q is not a deploy target; one of %s, %s", clip(p.Target), TargetStaging, TargetProduction)
	}
	if err := decodeParams(p.Params, &d); err != nil {
		return d, err
	}
	switch {
	case d.Service == "":
		return d, fieldErr("params.service", "required")
	case !serviceRE.MatchString(d.Service):
		return d, fieldErr("params.service", "%q is not a service name (a-z, 0-9, '-', at most 63)", clip(d.Service))
	case d.Version == "":
		return d, fieldErr("params.version", "required")
	case !versionRE.MatchString(d.Version):
		return d, fieldErr("params.version", "%q is not a version (letters, digits, '.', '+', '_', '-', at most 40)", clip(d.Version))
	}
	return d, nil
}

// DecodeEmail returns the checked params of an email.send proposal.
func DecodeEmail(p Proposal) (EmailParams, error) {
	var e EmailParams
	addr, err := mail.ParseAddress(p.Target)
	if err != nil || addr.Address != p.Target || addr.Name != "" {
		return e, fieldErr("target", "%q is not a plain email address (name@domain)", clip(p.Target))
	}
	if err := decodeParams(p.Params, &e); err != nil {
		return e, err
	}
	switch {
	case strings.TrimSpace(e.Subject) == "":
		return e, fieldErr("params.subject", "required")
	case len(e.Subject) > MaxEmailSubjectLen || strings.ContainsAny(e.Subject, "\r\n"):
		return e, fieldErr("params.subject", "one line of at most %d bytes", MaxEmailSubjectLen)
	case strings.TrimSpace(e.Body) == "":
		return e, fieldErr("params.body", "required")
	case len(e.Body) > MaxEmailBodyLen:
		return e, fieldErr("params.body", "longer than %d bytes", MaxEmailBodyLen)
	}
	return e, nil
}

func decodeVendorPayment(p Proposal) error {
	if !invoiceRE.MatchString(p.Target) {
		return fieldErr("target", "%q is not an invoice id (1-64 letters, digits, '-', '_' or '.')", clip(p.Target))
	}
	var v VendorPaymentParams
	return decodeParams(p.Params, &v)
}

// decodeParams decodes params strictly: an unknown field is named, so an
// agent's typo is an error rather than an ignored wish.
func decodeParams(raw json.RawMessage, into any) error {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return fieldErr("params."+typeErr.Field, "must be a %s", typeErr.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return fieldErr("params."+name, "unknown field")
		}
		return fieldErr("params", "must be a JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fieldErr("params", "must be one JSON object")
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

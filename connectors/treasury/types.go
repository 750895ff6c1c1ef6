// Package treasury is the connector to the treasury system that releases
// payments. Every release carries an Idempotency-Key; the wire format is in
// sandbox/openapi.yaml.
package treasury

import (
	"time"

	"github.com/execution-orchestrator/orchestrator/connectors/erp"
)

// Payment statuses.
const (
	StatusReleased = "released"
	StatusSettled  = "settled"
	StatusFailed   = "failed"
)

// PaymentRequest asks treasury to release money.
type PaymentRequest struct {
	InvoiceID    string          `json:"invoiceId"`
	VendorID     string          `json:"vendorId"`
	AmountMinor  int64           `json:"amountMinor"`
	Currency     string          `json:"currency"`
	Beneficiary  erp.BankAccount `json:"beneficiary"`
	Reference    string          `json:"reference"`
	ActionDigest string          `json:"actionDigest"`
}

// Payment is a released payment as treasury reports it.
type Payment struct {
	ID             string          `json:"id"`
	IdempotencyKey string          `json:"idempotencyKey"`
	InvoiceID      string          `json:"invoiceId"`
	VendorID       string          `json:"vendorId"`
	AmountMinor    int64           `json:"amountMinor"`
	Currency       string          `json:"currency"`
	Beneficiary    erp.BankAccount `json:"beneficiary"`
	Reference      string          `json:"reference"`
	ActionDigest   string          `json:"actionDigest"`
	Status         string          `json:"status"`
	ReleasedAt     time.Time       `json:"releasedAt"`
	SettledAt      *time.Time      `json:"settledAt,omitempty"`
}

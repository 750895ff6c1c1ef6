// Package action describes side effects exactly, so that what a person
// approves and what executes can be compared byte for byte: an action is
// serialised as canonical JSON (RFC 8785) and identified by its SHA-256.
package action

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/gowebpki/jcs"

	"github.com/execution-orchestrator/orchestrator/connectors/erp"
)

// KindVendorPayment is the kind of a vendor payment release.
const KindVendorPayment = "vendor_payment.release"

// Payment is the exact payment a VendorPayment will release.
type Payment struct {
	Kind        string          `json:"kind"`
	InvoiceID   string          `json:"invoiceId"`
	VendorID    string          `json:"vendorId"`
	VendorName  string          `json:"vendorName"`
	AmountMinor int64           `json:"amountMinor"`
	Currency    string          `json:"currency"`
	Beneficiary erp.BankAccount `json:"beneficiary"`
	Reference   string          `json:"reference"`
}

// NewPayment builds the payment action for an invoice and its vendor. The
// beneficiary is the vendor's master-record account: the workflow has already
// refused invoices whose bank details differ from it.
func NewPayment(inv erp.Invoice, v erp.Vendor) Payment {
	return Payment{
		Kind:        KindVendorPayment,
		InvoiceID:   inv.ID,
		VendorID:    v.ID,
		VendorName:  v.Name,
		AmountMinor: inv.AmountMinor,
		Currency:    inv.Currency,
		Beneficiary: v.BankAccount,
		Reference:   "Invoice " + inv.ID,
	}
}

// Digest returns "sha256:<hex>" of the RFC 8785 canonical JSON of v.
func Digest(v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("marshal action: %w", err)
	}
	canon, err := jcs.Transform(raw)
	if err != nil {
		return "", fmt.Errorf("canonicalise action: %w", err)
	}
	sum := sha256.Sum256(canon)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

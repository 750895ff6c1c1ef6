package action

import (
	"testing"

	"github.com/execution-orchestrator/orchestrator/connectors/erp"
)

// BenchmarkDigest measures canonicalising and hashing one payment action,
// done on every pass of the release gate.
func BenchmarkDigest(b *testing.B) {
	p := NewPayment(
		erp.Invoice{ID: "INV-1042", VendorID: "V-100", AmountMinor: 125000, Currency: "EUR"},
		erp.Vendor{ID: "V-100", Name: "Acme Office Supplies GmbH",
			BankAccount: erp.BankAccount{IBAN: "DE89370400440532013000", BIC: "COBADEFFXXX", AccountHolder: "Acme Office Supplies GmbH"}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Digest(p); err != nil {
			b.Fatal(err)
		}
	}
}

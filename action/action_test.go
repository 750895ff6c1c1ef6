package action

import (
	"strings"
	"testing"

	"github.com/execution-orchestrator/orchestrator/connectors/erp"
)

func TestDigest(t *testing.T) {
	base := Payment{Kind: KindVendorPayment, InvoiceID: "INV-1", VendorID: "V-1", AmountMinor: 100, Currency: "EUR",
		Beneficiary: erp.BankAccount{IBAN: "DE00", BIC: "X", AccountHolder: "A"}, Reference: "Invoice INV-1"}
	d1, err := Digest(base)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d1, "sha256:") || len(d1) != len("sha256:")+64 {
		t.Fatalf("digest %q has wrong form", d1)
	}
	// Key order must not matter: a map with the same content digests the same.
	m := map[string]any{"reference": "Invoice INV-1", "currency": "EUR", "amountMinor": 100, "vendorName": "",
		"beneficiary": map[string]any{"bic": "X", "iban": "DE00", "accountHolder": "A"},
		"vendorId":    "V-1", "invoiceId": "INV-1", "kind": KindVendorPayment}
	d2, err := Digest(m)
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Errorf("same content, different digests: %s vs %s", d1, d2)
	}
	changed := base
	changed.AmountMinor = 101
	d3, _ := Digest(changed)
	if d3 == d1 {
		t.Error("changed amount kept the digest")
	}
	// A known vector guards against accidental changes to the canonical form:
	// sha256 of `{"a":"x","b":1}`.
	known, err := Digest(map[string]any{"b": 1, "a": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "sha256:cdab067e9f3beb32d1252cfd63e492592fecbf591b0d08cadb24bb17f3864246"; known != want {
		t.Errorf("canonical digest = %s, want %s", known, want)
	}
}

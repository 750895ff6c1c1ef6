// Package erp is the connector to the ERP: vendors, invoices and the approved
// payment schedule. The wire format is documented in sandbox/openapi.yaml; the
// sandbox implements it for local runs and tests.
package erp

// BankAccount identifies where money goes.
type BankAccount struct {
	IBAN          string `json:"iban"`
	BIC           string `json:"bic"`
	AccountHolder string `json:"accountHolder"`
}

// Contact is a person reachable by email.
type Contact struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Vendor is the ERP's master record of a supplier.
type Vendor struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	BankAccount BankAccount `json:"bankAccount"`
	APContact   Contact     `json:"apContact"`
}

// Invoice statuses.
const (
	InvoiceOpen = "open"
	InvoicePaid = "paid"
)

// Invoice is a vendor invoice. Amounts are in minor units (cents) so that they
// are exact and digest the same everywhere.
type Invoice struct {
	ID               string      `json:"id"`
	VendorID         string      `json:"vendorId"`
	AmountMinor      int64       `json:"amountMinor"`
	Currency         string      `json:"currency"`
	IssueDate        string      `json:"issueDate"` // YYYY-MM-DD
	DueDate          string      `json:"dueDate"`   // YYYY-MM-DD
	BankAccount      BankAccount `json:"bankAccount"`
	Status           string      `json:"status"`
	PaymentReference string      `json:"paymentReference,omitempty"`
	Notes            []string    `json:"notes,omitempty"`
}

// ScheduleEntry is one line of the approved payment schedule.
type ScheduleEntry struct {
	InvoiceID   string `json:"invoiceId"`
	Approved    bool   `json:"approved"`
	PayOn       string `json:"payOn"` // YYYY-MM-DD
	AmountMinor int64  `json:"amountMinor"`
}

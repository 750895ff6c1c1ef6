package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/connectors/deploy"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
)

// Seed invoice ids; tests and demos reference these.
const (
	// InvoiceHappyPath: overdue, 1 250.00 EUR, bank details match, scheduled.
	InvoiceHappyPath = "INV-1042"
	// InvoiceLarge: overdue, 48 000.00 EUR (above a 25 000 manager limit), scheduled.
	InvoiceLarge = "INV-1043"
	// InvoiceMedium: overdue, 9 800.00 EUR (above a 5 000 autonomous limit), scheduled.
	InvoiceMedium = "INV-1044"
	// InvoiceBankMismatch: overdue, scheduled, invoice IBAN differs from the vendor master record.
	InvoiceBankMismatch = "INV-1045"
	// InvoiceNotDue: due in 14 days, scheduled.
	InvoiceNotDue = "INV-1046"
	// InvoiceUnscheduled: overdue, NOT on the approved payment schedule.
	InvoiceUnscheduled = "INV-1047"
)

// Seed vendor ids.
const (
	VendorAcme     = "V-100"
	VendorGlobex   = "V-200"
	VendorInitech  = "V-300"
	VendorUmbrella = "V-400"
)

// Seed artifacts in the deployment registry: services and their versions.
const (
	ServiceCheckout    = "checkout"
	CheckoutVersionOld = "1.4.0"
	CheckoutVersionNew = "1.5.0"
	ServiceSearch      = "search"
	SearchVersion      = "2.0.1"
)

// AccountDemo is the seed CRM account: pending, in Lisbon, where the demo
// workforce is.
const AccountDemo = "ACC-DEMO"

// SeedAccounts returns the demo CRM accounts, created at createdAt, in
// listing order: the pending onboarding demo, then the customer accounts of
// SeedCustomerAccounts.
func SeedAccounts(createdAt time.Time) []crm.Account {
	return append([]crm.Account{{
		ID: AccountDemo, Name: "Joana Silva", Email: "joana.silva@example.com", Phone: "+351 21 000 0000",
		Address: "Rua Augusta 100, 1100-053 Lisboa", Lat: 38.7107, Lon: -9.1366, Plan: crm.PlanStandard,
		Status: crm.StatusPending, CreatedAt: createdAt.UTC(),
	}}, SeedCustomerAccounts(createdAt)...)
}

// SeedDigest is the digest the seed registry holds for service at version:
// "sha256:" and the hex SHA-256 of "<service>-<version>". Fixed, so tests and
// demos can approve a release by digest without asking the registry.
func SeedDigest(service, version string) string {
	sum := sha256.Sum256([]byte(service + "-" + version))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// SeedArtifacts returns the demo registry, pushed at pushedAt.
func SeedArtifacts(pushedAt time.Time) []deploy.Artifact {
	var out []deploy.Artifact
	for _, sv := range [][2]string{
		{ServiceCheckout, CheckoutVersionOld},
		{ServiceCheckout, CheckoutVersionNew},
		{ServiceSearch, SearchVersion},
	} {
		out = append(out, deploy.Artifact{Service: sv[0], Version: sv[1], Digest: SeedDigest(sv[0], sv[1]), PushedAt: pushedAt.UTC()})
	}
	return out
}

// SeedVendors returns the demo vendors.
func SeedVendors() []erp.Vendor {
	return []erp.Vendor{
		{ID: VendorAcme, Name: "Acme Office Supplies GmbH",
			BankAccount: erp.BankAccount{IBAN: "DE89370400440532013000", BIC: "COBADEFFXXX", AccountHolder: "Acme Office Supplies GmbH"},
			APContact:   erp.Contact{Name: "Acme Accounts Payable", Email: "ap@acme.example"}},
		{ID: VendorGlobex, Name: "Globex Logistics SE",
			BankAccount: erp.BankAccount{IBAN: "FR1420041010050500013M02606", BIC: "PSSTFRPPPAR", AccountHolder: "Globex Logistics SE"},
			APContact:   erp.Contact{Name: "Globex Accounts Payable", Email: "ap@globex.example"}},
		{ID: VendorInitech, Name: "Initech Software AG",
			BankAccount: erp.BankAccount{IBAN: "CH9300762011623852957", BIC: "UBSWCHZH80A", AccountHolder: "Initech Software AG"},
			APContact:   erp.Contact{Name: "Initech Accounts Payable", Email: "ap@initech.example"}},
		{ID: VendorUmbrella, Name: "Umbrella Facilities BV",
			BankAccount: erp.BankAccount{IBAN: "NL91ABNA0417164300", BIC: "ABNANL2A", AccountHolder: "Umbrella Facilities BV"},
			APContact:   erp.Contact{Name: "Umbrella Accounts Payable", Email: "ap@umbrella.example"}},
	}
}

// SeedInvoices returns the demo invoices with dates relative to today, so the
// overdue ones are overdue whatever the day.
func SeedInvoices(today time.Time) ([]erp.Invoice, []erp.ScheduleEntry) {
	day := func(offset int) string { return today.UTC().AddDate(0, 0, offset).Format(time.DateOnly) }
	vendors := map[string]erp.Vendor{}
	for _, v := range SeedVendors() {
		vendors[v.ID] = v
	}
	inv := func(id, vendorID string, amount int64, issue, due int) erp.Invoice {
		return erp.Invoice{ID: id, VendorID: vendorID, AmountMinor: amount, Currency: "EUR",
			IssueDate: day(issue), DueDate: day(due), BankAccount: vendors[vendorID].BankAccount, Status: erp.InvoiceOpen}
	}
	mismatch := inv(InvoiceBankMismatch, VendorUmbrella, 310000, -35, -5)
	mismatch.BankAccount = erp.BankAccount{IBAN: "NL02RABO0123456789", BIC: "RABONL2U", AccountHolder: "Umbrella Facilities BV"}
	invoices := []erp.Invoice{
		inv(InvoiceHappyPath, VendorAcme, 125000, -40, -10),
		inv(InvoiceLarge, VendorGlobex, 4800000, -45, -15),
		inv(InvoiceMedium, VendorInitech, 980000, -38, -8),
		mismatch,
		inv(InvoiceNotDue, VendorAcme, 42000, -16, 14),
		inv(InvoiceUnscheduled, VendorGlobex, 210000, -42, -12),
	}
	var schedule []erp.ScheduleEntry
	for _, in := range invoices {
		if in.ID == InvoiceUnscheduled {
			continue
		}
		payOn := day(-1)
		if in.ID == InvoiceNotDue {
			payOn = in.DueDate
		}
		schedule = append(schedule, erp.ScheduleEntry{InvoiceID: in.ID, Approved: true, PayOn: payOn, AmountMinor: in.AmountMinor})
	}
	return invoices, schedule
}

func (s *Server) seed(ctx context.Context) error {
	for _, v := range SeedVendors() {
		if err := s.store.putVendor(ctx, v); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	invoices, schedule := SeedInvoices(s.now())
	for _, inv := range invoices {
		if err := s.store.putInvoice(ctx, inv); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	for _, e := range schedule {
		if err := s.store.putSchedule(ctx, e); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	if err := s.seedArtifacts(ctx); err != nil {
		return err
	}
	if err := s.seedAccounts(ctx); err != nil {
		return err
	}
	if err := s.seedIssues(ctx); err != nil {
		return err
	}
	return s.seedChat(ctx)
}

func (s *Server) seedAccounts(ctx context.Context) error {
	for _, a := range SeedAccounts(s.now()) {
		if err := s.store.putSeedAccount(ctx, a); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	return nil
}

func (s *Server) seedArtifacts(ctx context.Context) error {
	for _, a := range SeedArtifacts(s.now()) {
		if _, err := s.store.putArtifact(ctx, a); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	return nil
}

// seedIfEmpty seeds an empty store. A store written before the deployment
// system, the CRM (or its customer accounts), the ticketing or the chat
// system existed is not empty yet lacks their data; it gets their seed alone,
// so demos work on it without a reset wiping its history.
func (s *Server) seedIfEmpty(ctx context.Context) error {
	empty, err := s.store.empty(ctx)
	if err != nil {
		return err
	}
	if empty {
		return s.seed(ctx)
	}
	noArtifacts, err := s.store.noArtifacts(ctx)
	if err != nil {
		return err
	}
	if noArtifacts {
		if err := s.seedArtifacts(ctx); err != nil {
			return err
		}
	}
	noAccounts, err := s.store.noAccounts(ctx)
	if err != nil {
		return err
	}
	noProfiles, err := s.store.noProfiles(ctx)
	if err != nil {
		return err
	}
	if noAccounts || noProfiles {
		// Seeding skips accounts already there.
		if err := s.seedAccounts(ctx); err != nil {
			return err
		}
	}
	return s.seedEscalationIfEmpty(ctx)
}

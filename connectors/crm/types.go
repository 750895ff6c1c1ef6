// Package crm is the connector to the customer-relationship system (think
// Salesforce or HubSpot): customer accounts that start pending, become
// active once the customer's identity is verified, and may be closed. Every
// account creation and note carries an Idempotency-Key; the wire format is
// in sandbox/openapi.yaml.
package crm

import "time"

// Account statuses. An account starts pending and becomes active once
// verified; a closed account stays closed (it cannot be activated).
const (
	StatusPending = "pending"
	StatusActive  = "active"
	StatusClosed  = "closed"
)

// Plans an account may be on.
const (
	PlanBasic    = "basic"
	PlanStandard = "standard"
	PlanPremium  = "premium"
)

// Plans lists the plans, cheapest first.
func Plans() []string { return []string{PlanBasic, PlanStandard, PlanPremium} }

// AccountRequest asks for a customer account. Lat and Lon locate Address
// (WGS 84), so field staff can be routed there.
type AccountRequest struct {
	Name    string  `json:"name"`
	Email   string  `json:"email"`
	Phone   string  `json:"phone"`
	Address string  `json:"address"`
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
	Plan    string  `json:"plan"`
}

// Account is a customer account as the CRM reports it.
type Account struct {
	ID             string  `json:"id"`
	IdempotencyKey string  `json:"idempotencyKey,omitempty"`
	Name           string  `json:"name"`
	Email          string  `json:"email"`
	Phone          string  `json:"phone"`
	Address        string  `json:"address"`
	Lat            float64 `json:"lat"`
	Lon            float64 `json:"lon"`
	Plan           string  `json:"plan"`
	Status         string  `json:"status"`
	// VerifiedBy is what verified the customer (a human task id), set on
	// activation.
	VerifiedBy   string     `json:"verifiedBy,omitempty"`
	CreatedAt    time.Time  `json:"createdAt"`
	ActivatedAt  *time.Time `json:"activatedAt,omitempty"`
	ClosedReason string     `json:"closedReason,omitempty"` // why it was closed
	// Notes are the account's notes, oldest first.
	Notes []string `json:"notes,omitempty"`

	// The commercial profile. Accounts made through CreateAccount have none
	// (zero values) until something sets it; seed enterprise accounts do.
	ARRMinor int64  `json:"arrMinor,omitempty"` // annual recurring revenue, minor units of Currency
	Currency string `json:"currency,omitempty"`
	Owner    string `json:"owner,omitempty"` // account executive, a person id
	CSM      string `json:"csm,omitempty"`   // customer success manager, a person id
	Tier     string `json:"tier,omitempty"`  // TierEnterprise, TierMidMarket, TierSMB
	// HealthScore is the latest score (0..100), nil when never scored;
	// HealthHistory holds every score, oldest first.
	HealthScore   *int          `json:"healthScore,omitempty"`
	HealthHistory []HealthPoint `json:"healthHistory,omitempty"`
}

// Account tiers.
const (
	TierEnterprise = "enterprise"
	TierMidMarket  = "mid-market"
	TierSMB        = "smb"
)

// HealthPoint is one health score of an account.
type HealthPoint struct {
	Score int       `json:"score"`
	At    time.Time `json:"at"`
}

// AccountFilter selects accounts to list; zero fields do not filter.
type AccountFilter struct {
	Email string
	Tier  string
	// HealthBelow > 0 keeps accounts with a health score below it (accounts
	// never scored are left out).
	HealthBelow int
}

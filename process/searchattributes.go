package workflows

import "go.temporal.io/sdk/temporal"

// Custom search attributes. They are registered by the dev server from
// temporal-dev.yaml and by the test harness; on another cluster an operator
// registers them once (see README).
var (
	SAProcess          = temporal.NewSearchAttributeKeyKeyword("EOProcess")
	SAStage            = temporal.NewSearchAttributeKeyKeyword("EOStage")
	SABusinessKey      = temporal.NewSearchAttributeKeyKeyword("EOBusinessKey")
	SAAmount           = temporal.NewSearchAttributeKeyFloat64("EOAmount")
	SAOutcome          = temporal.NewSearchAttributeKeyKeyword("EOOutcome")
	SAPendingApprovers = temporal.NewSearchAttributeKeyKeywordList("EOPendingApprovers")
)

// SearchAttributeTypes lists the custom search attributes with the type names
// `temporal operator search-attribute create` and start-dev accept.
var SearchAttributeTypes = map[string]string{
	"EOProcess":          "Keyword",
	"EOStage":            "Keyword",
	"EOBusinessKey":      "Keyword",
	"EOAmount":           "Double",
	"EOOutcome":          "Keyword",
	"EOPendingApprovers": "KeywordList",
}

// ProcessVendorPayment is the EOProcess value of a VendorPayment.
const ProcessVendorPayment = "vendor-payment"

// Package process holds what every business process shares with the
// platform: the task queue and the custom search attributes the Temporal UI,
// the inbox and operators filter by. It knows no process.
package process

import "go.temporal.io/sdk/temporal"

// TaskQueue is the default task queue every workflow of ours runs on.
const TaskQueue = "execution-orchestrator"

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
	// SARequester is who asked for the action ("agent:deploy-bot"); an
	// agent lists its own actions by it.
	SARequester = temporal.NewSearchAttributeKeyKeyword("EORequester")
	// SATaskWorker is the workforce id a human task is offered to or held
	// by now; the worker's task page lists by it.
	SATaskWorker = temporal.NewSearchAttributeKeyKeyword("EOTaskWorker")
	// SAAccount is the CRM account a customer process concerns.
	SAAccount = temporal.NewSearchAttributeKeyKeyword("EOAccount")
	// SASeverity is a customer escalation's severity (sev1, sev2, sev3).
	SASeverity = temporal.NewSearchAttributeKeyKeyword("EOSeverity")
	// SAOwner is the person who holds an escalation now.
	SAOwner = temporal.NewSearchAttributeKeyKeyword("EOOwner")
	// SASLAState is ok, breached or met.
	SASLAState = temporal.NewSearchAttributeKeyKeyword("EOSLAState")
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
	"EORequester":        "Keyword",
	"EOTaskWorker":       "Keyword",
	"EOAccount":          "Keyword",
	"EOSeverity":         "Keyword",
	"EOOwner":            "Keyword",
	"EOSLAState":         "Keyword",
}

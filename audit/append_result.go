package audit

// AppendResult is what the AuditAppend local activity returns, and so what
// the workflow's history keeps in the activity's marker. `audit verify
// --temporal` reads it back (TemporalHistories) and compares it with the
// ledger: a database rewritten after the fact no longer agrees with the
// histories Temporal holds.
type AppendResult struct {
	EventID string `json:"eventId"`
	Seq     int64  `json:"seq"`
	Hash    string `json:"hash"`
}

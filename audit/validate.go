package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// ErrInvalidEvent is wrapped by every error about an event's content: the
// append will never succeed, so callers must not retry it.
var ErrInvalidEvent = errors.New("invalid audit event")

// Caps on an event, so one event cannot bloat the ledger or an export line.
const (
	MaxIDBytes      = 256
	MaxSummaryBytes = 500
	MaxDataBytes    = 64 << 10
	MaxLinks        = 16
	// MaxFieldBytes caps the other strings (process, keys, ids, actor, a link).
	MaxFieldBytes = 1024
)

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidEvent, field, fmt.Sprintf(format, args...))
}

// checkText refuses what a database or the canonical encoding would change
// or refuse: invalid UTF-8 and NUL.
func checkText(field, s string, required bool, max int) error {
	switch {
	case s == "" && required:
		return invalid(field, "required")
	case len(s) > max:
		return invalid(field, "%d bytes exceeds %d", len(s), max)
	case !utf8.ValidString(s):
		return invalid(field, "not valid UTF-8")
	case strings.ContainsRune(s, 0):
		return invalid(field, "contains a NUL character")
	}
	return nil
}

// normalize validates ev and returns it in the form that is hashed and
// stored: times in UTC, Data canonical (RFC 8785), no empty Links. A zero
// At becomes now.
func normalize(ev Event, now time.Time) (Event, error) {
	for _, f := range []struct {
		name     string
		v        string
		required bool
		max      int
	}{
		{"id", ev.ID, true, MaxIDBytes},
		{"process", ev.Process, true, MaxFieldBytes},
		{"businessKey", ev.BusinessKey, false, MaxFieldBytes},
		{"workflowId", ev.WorkflowID, false, MaxFieldBytes},
		{"runId", ev.RunID, false, MaxFieldBytes},
		{"actor", ev.Actor, true, MaxFieldBytes},
		{"summary", ev.Summary, true, MaxSummaryBytes},
	} {
		if err := checkText(f.name, f.v, f.required, f.max); err != nil {
			return Event{}, err
		}
	}
	if !slices.Contains(Kinds, ev.Kind) {
		return Event{}, invalid("kind", "%q is not one of %v", ev.Kind, Kinds)
	}
	if ev.At.IsZero() {
		ev.At = now
	}
	ev.At = ev.At.UTC()
	if y := ev.At.Year(); y < 1 || y > 9999 {
		return Event{}, invalid("at", "year %d is outside 1..9999", y)
	}
	data, err := canonicalData(ev.Data)
	if err != nil {
		return Event{}, err
	}
	ev.Data = data
	if len(ev.Links) > MaxLinks {
		return Event{}, invalid("links", "%d links exceeds %d", len(ev.Links), MaxLinks)
	}
	for i, l := range ev.Links {
		if err := checkText(fmt.Sprintf("links[%d]", i), l, true, MaxFieldBytes); err != nil {
			return Event{}, err
		}
	}
	if len(ev.Links) == 0 {
		ev.Links = nil
	} else {
		ev.Links = slices.Clone(ev.Links)
	}
	return ev, nil
}

// canonicalData returns data as RFC 8785 JSON, or nil for no data (empty
// or null). Storing the canonical form means the stored bytes are the
// hashed bytes, whatever either database does to whitespace.
func canonicalData(data json.RawMessage) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, nil
	}
	// Whitespace may shrink; far beyond the cap is refused before parsing.
	if len(trimmed) > 4*MaxDataBytes {
		return nil, invalid("data", "%d bytes exceeds %d", len(trimmed), MaxDataBytes)
	}
	if trimmed[0] != '{' {
		return nil, invalid("data", "must be a JSON object")
	}
	if !json.Valid(trimmed) {
		return nil, invalid("data", "not valid JSON")
	}
	canon, err := jcs.Transform(trimmed)
	if err != nil {
		return nil, invalid("data", "%v", err)
	}
	if len(canon) > MaxDataBytes {
		return nil, invalid("data", "%d bytes exceeds %d", len(canon), MaxDataBytes)
	}
	return canon, nil
}

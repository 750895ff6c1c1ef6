package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/execution-orchestrator/orchestrator/proof"
)

// ExportVersion is the version of the export format.
const ExportVersion = 1

// ExportHeader is the first line of an export. Its PublicKeys say which
// keys signed the checkpoints, for the reader's information only: a
// verifier trusts the keys it is given (VerifyOptions.PublicKeys), never
// keys that travel with the data.
type ExportHeader struct {
	Version    int      `json:"version"`
	PublicKeys []string `json:"publicKeys"` // proof.EncodePublicKey form
}

// exportLine is one line of an export: exactly one field set.
type exportLine struct {
	Ledger     *ExportHeader `json:"ledger,omitempty"`
	Entry      *Entry        `json:"entry,omitempty"`
	Checkpoint *Checkpoint   `json:"checkpoint,omitempty"`
}

// exportPage is how many entries Export and Verify read at a time.
const exportPage = 1000

// maxExportLine bounds one line of an export: an entry at its caps, with
// every character of its strings escaped, stays well below.
const maxExportLine = 4 << 20

// Export writes the ledger as JSON Lines: {"ledger": ExportHeader}, then
// {"entry": Entry} by seq, then {"checkpoint": Checkpoint} by seq. Kept
// outside the database, a copy's checkpoints prove later truncation or
// rewriting of the live ledger (VerifyOptions.External).
func (l *Ledger) Export(ctx context.Context, w io.Writer) error {
	// Checkpoints first: every entry one of them covers is then in the
	// copy, even while appends continue.
	cps, err := l.Checkpoints(ctx)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	hdr := ExportHeader{Version: ExportVersion, PublicKeys: []string{}}
	if l.signer != nil {
		hdr.PublicKeys = append(hdr.PublicKeys, proof.EncodePublicKey(l.signer.Public().(ed25519.PublicKey)))
	}
	if err := enc.Encode(exportLine{Ledger: &hdr}); err != nil {
		return fmt.Errorf("export audit ledger: %w", err)
	}
	for after := int64(0); ; {
		page, err := l.Entries(ctx, Filter{AfterSeq: after, Limit: exportPage})
		if err != nil {
			return err
		}
		for i := range page {
			if err := enc.Encode(exportLine{Entry: &page[i]}); err != nil {
				return fmt.Errorf("export audit entry %d: %w", page[i].Seq, err)
			}
		}
		if len(page) < exportPage {
			break
		}
		after = page[len(page)-1].Seq
	}
	for i := range cps {
		if err := enc.Encode(exportLine{Checkpoint: &cps[i]}); err != nil {
			return fmt.Errorf("export audit checkpoint %d: %w", cps[i].Seq, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export audit ledger: %w", err)
	}
	return nil
}

// Exported is a parsed export. It is a Source, so Verify checks a copy the
// way it checks the live ledger.
type Exported struct {
	Header      ExportHeader
	entries     []Entry
	checkpoints []Checkpoint
}

// ReadExport parses an export written by Export. Errors name the line.
// Entries are kept as written; their order and links are Verify's to judge.
func ReadExport(r io.Reader) (*Exported, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxExportLine)
	x := &Exported{}
	n := 0
	for sc.Scan() {
		n++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var line exportLine
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&line); err != nil {
			return nil, fmt.Errorf("audit export line %d: %w", n, err)
		}
		set := 0
		for _, p := range []bool{line.Ledger != nil, line.Entry != nil, line.Checkpoint != nil} {
			if p {
				set++
			}
		}
		if set != 1 {
			return nil, fmt.Errorf(`audit export line %d: want exactly one of "ledger", "entry", "checkpoint"`, n)
		}
		switch {
		case line.Ledger != nil:
			if x.Header.Version != 0 {
				return nil, fmt.Errorf("audit export line %d: a second ledger header", n)
			}
			if line.Ledger.Version != ExportVersion {
				return nil, fmt.Errorf("audit export line %d: version %d, want %d", n, line.Ledger.Version, ExportVersion)
			}
			x.Header = *line.Ledger
		case x.Header.Version == 0:
			return nil, fmt.Errorf(`audit export line %d: the first line must be the {"ledger": ...} header`, n)
		case line.Entry != nil:
			x.entries = append(x.entries, *line.Entry)
		default:
			x.checkpoints = append(x.checkpoints, *line.Checkpoint)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("audit export line %d: %w", n+1, err)
	}
	if x.Header.Version == 0 {
		return nil, errors.New("audit export: empty (no ledger header)")
	}
	return x, nil
}

// Entries returns the copy's entries f selects, by seq.
func (x *Exported) Entries(_ context.Context, f Filter) ([]Entry, error) {
	out := []Entry{}
	for _, e := range x.entries {
		if f.match(e) {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// Checkpoints returns the copy's checkpoints, by seq.
func (x *Exported) Checkpoints(context.Context) ([]Checkpoint, error) {
	out := slices.Clone(x.checkpoints)
	slices.SortStableFunc(out, func(a, b Checkpoint) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// match is Filter's meaning for entries in memory (Ledger.Entries says it
// in SQL).
func (f Filter) match(e Entry) bool {
	ev := e.Event
	switch {
	case f.BusinessKey != "" && ev.BusinessKey != f.BusinessKey,
		len(f.WorkflowIDs) > 0 && !slices.Contains(f.WorkflowIDs, ev.WorkflowID),
		len(f.Kinds) > 0 && !slices.Contains(f.Kinds, ev.Kind),
		f.Process != "" && ev.Process != f.Process,
		!f.Since.IsZero() && ev.At.Before(f.Since),
		!f.Until.IsZero() && !ev.At.Before(f.Until),
		f.AfterSeq > 0 && e.Seq <= f.AfterSeq:
		return false
	}
	return true
}

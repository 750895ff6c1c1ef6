package audit

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Source is what Verify reads: the live *Ledger or an *Exported copy.
type Source interface {
	// Entries returns the entries f selects, by seq.
	Entries(ctx context.Context, f Filter) ([]Entry, error)
	// Checkpoints returns the checkpoints, by seq.
	Checkpoints(ctx context.Context) ([]Checkpoint, error)
}

// DefaultSample is how many entries VerifyOptions.Sample 0 checks against
// Temporal.
const DefaultSample = 20

// VerifyOptions say what Verify trusts and compares with.
type VerifyOptions struct {
	// PublicKeys are the trusted checkpoint keys. A checkpoint signed by
	// another key is a problem.
	PublicKeys []ed25519.PublicKey
	// External are checkpoints kept elsewhere (an exported copy's): they
	// prove truncation below the last stored checkpoint, and tampering
	// with the checkpoint table itself.
	External []Checkpoint
	// Histories cross-checks entries with the workflow histories; nil
	// skips it.
	Histories HistoryChecker
	// Sample is how many workflow-recorded entries, spread over the
	// ledger, Histories checks: 0 means DefaultSample, negative all.
	Sample int
	// CheckpointEvery, when positive, is the interval the appending ledger
	// signs checkpoints at (Options.CheckpointEvery; the worker's is
	// DefaultCheckpointEvery): an entry at a multiple of it without any
	// checkpoint is a problem. Without it, whoever can write the database
	// deletes the checkpoints, rebuilds the chain with new content and
	// consistent hashes, and the ledger verifies.
	CheckpointEvery int
}

// Problem is one thing wrong with the ledger, at the entry Seq names.
type Problem struct {
	Seq     int64  `json:"seq"`
	Message string `json:"message"`
}

// Report is Verify's verdict. Problems are by seq, the first bad entry
// first.
type Report struct {
	OK            bool           `json:"ok"`
	Entries       int            `json:"entries"`
	Checkpoints   int            `json:"checkpoints"`
	HeadSeq       int64          `json:"headSeq"`
	HeadHash      string         `json:"headHash"`
	Problems      []Problem      `json:"problems,omitempty"`
	HistoryChecks []HistoryCheck `json:"historyChecks,omitempty"`
}

// Verify recomputes every hash of src and checks the chain: seqs 1..n
// without gaps or repeats, each prevHash the previous entry's hash, every
// checkpoint (src's and opts.External) signed by a trusted key and matching
// the entry at its seq, and no checkpoint beyond the end (truncation).
// With opts.Histories it then compares a sample of entries with the
// workflow histories. The error is for failing to read (src, Temporal);
// what is wrong with the ledger is in the Report.
func Verify(ctx context.Context, src Source, opts VerifyOptions) (Report, error) {
	rep := Report{HeadHash: GenesisHash}
	problem := func(seq int64, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{Seq: seq, Message: fmt.Sprintf(format, args...)})
	}

	stored, err := src.Checkpoints(ctx)
	if err != nil {
		return rep, err
	}
	// Checkpoints whose signature holds, by the seq they vouch for.
	vouched := map[int64][]Checkpoint{}
	type cpKey struct {
		seq      int64
		kid, sig string
	}
	seen := map[cpKey]bool{}
	// Seqs with any checkpoint, valid or not (a bad one is its own problem).
	checkpointed := map[int64]bool{}
	for _, c := range append(stored, opts.External...) {
		// The same checkpoint in the database and in a copy counts once.
		k := cpKey{c.Seq, c.KeyID, c.Signature}
		if seen[k] {
			continue
		}
		seen[k] = true
		checkpointed[c.Seq] = true
		rep.Checkpoints++
		if err := VerifyCheckpoint(c, opts.PublicKeys); err != nil {
			problem(c.Seq, "checkpoint at seq %d: %v", c.Seq, err)
			continue
		}
		vouched[c.Seq] = append(vouched[c.Seq], c)
	}

	var (
		prevSeq    int64
		prevHash   = GenesisHash
		candidates []int64 // entries a workflow recorded, for the history sample
	)
	for after := int64(0); ; {
		page, err := src.Entries(ctx, Filter{AfterSeq: after, Limit: exportPage})
		if err != nil {
			return rep, err
		}
		for _, e := range page {
			rep.Entries++
			if e.Seq <= prevSeq {
				problem(e.Seq, "entry %d: out of order or repeated (after entry %d)", e.Seq, prevSeq)
				continue
			}
			gap := e.Seq > prevSeq+1
			switch {
			case gap && prevSeq == 0:
				problem(1, "entry 1: missing (the ledger starts at %d)", e.Seq)
			case gap && e.Seq == prevSeq+2:
				problem(prevSeq+1, "entry %d: missing (sequence jumps from %d to %d)", prevSeq+1, prevSeq, e.Seq)
			case gap:
				problem(prevSeq+1, "entries %d-%d: missing (sequence jumps from %d to %d)", prevSeq+1, e.Seq-1, prevSeq, e.Seq)
			}
			if h, err := HashEntry(e); err != nil || h != e.Hash {
				problem(e.Seq, "entry %d: hash mismatch (content changed after it was written)", e.Seq)
			} else if !gap && e.PrevHash != prevHash {
				if prevSeq == 0 {
					problem(e.Seq, "entry 1: prevHash is not the genesis hash (entry inserted or replaced)")
				} else {
					problem(e.Seq, "entry %d: prevHash does not link to entry %d (entry inserted, removed or replaced)", e.Seq, prevSeq)
				}
			}
			for _, c := range vouched[e.Seq] {
				if c.Hash != e.Hash {
					problem(e.Seq, "entry %d: differs from the checkpoint at seq %d signed by %s (ledger rewritten after the checkpoint)", e.Seq, c.Seq, c.KeyID)
				}
			}
			if every := int64(opts.CheckpointEvery); every > 0 && e.Seq%every == 0 && !checkpointed[e.Seq] {
				problem(e.Seq, "entry %d: no checkpoint, though one is signed every %d entries (checkpoints deleted, or the chain rebuilt without the key)", e.Seq, every)
			}
			if recordedByWorkflow(e) {
				candidates = append(candidates, e.Seq)
			}
			prevSeq, prevHash = e.Seq, e.Hash
		}
		if len(page) < exportPage {
			break
		}
		after = page[len(page)-1].Seq
	}
	rep.HeadSeq, rep.HeadHash = prevSeq, prevHash

	// The furthest checkpoint beyond the end names the truncation.
	var beyond *Checkpoint
	for seq, cs := range vouched {
		if seq > prevSeq && (beyond == nil || seq > beyond.Seq) {
			beyond = &cs[0]
		}
	}
	if beyond != nil {
		problem(prevSeq+1, "ledger truncated: checkpoint at seq %d signed by %s but the ledger ends at %d", beyond.Seq, beyond.KeyID, prevSeq)
	}

	if opts.Histories != nil {
		for _, seq := range sample(candidates, opts.Sample) {
			page, err := src.Entries(ctx, Filter{AfterSeq: seq - 1, Limit: 1})
			if err != nil {
				return rep, err
			}
			if len(page) == 0 || page[0].Seq != seq {
				continue // gone since the pass above; a later verify says so
			}
			hc, err := opts.Histories.CheckEntry(ctx, page[0])
			if err != nil {
				finish(&rep)
				return rep, fmt.Errorf("check entry %d against its workflow history: %w", seq, err)
			}
			rep.HistoryChecks = append(rep.HistoryChecks, hc)
			if hc.Status.Failed() {
				problem(seq, "entry %d: workflow history of %s/%s disagrees: %s", seq, hc.WorkflowID, hc.RunID, hc.Detail)
			}
		}
	}
	finish(&rep)
	return rep, nil
}

func finish(rep *Report) {
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int { return cmp.Compare(a.Seq, b.Seq) })
	rep.OK = len(rep.Problems) == 0
}

// recordedByWorkflow: the Recorder names its events
// "<workflowId>/<runId>/<n>", and only those have an AuditAppend marker
// in the run's history (a gate decision appended by an activity does not).
func recordedByWorkflow(e Entry) bool {
	ev := e.Event
	if ev.WorkflowID == "" || ev.RunID == "" {
		return false
	}
	n, ok := strings.CutPrefix(ev.ID, ev.WorkflowID+"/"+ev.RunID+"/")
	if !ok {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 64)
	return err == nil
}

// sample picks up to n of seqs spread evenly, first and last included: the
// same ledger always yields the same sample.
func sample(seqs []int64, n int) []int64 {
	if n == 0 {
		n = DefaultSample
	}
	if n < 0 || n >= len(seqs) {
		return seqs
	}
	if n == 1 {
		return seqs[len(seqs)-1:]
	}
	out := make([]int64, 0, n)
	for i := range n {
		out = append(out, seqs[i*(len(seqs)-1)/(n-1)])
	}
	return out
}

// FirstProblem describes the first problem, "" when OK.
func (r Report) FirstProblem() string {
	if len(r.Problems) == 0 {
		return ""
	}
	msg := r.Problems[0].Message
	if n := len(r.Problems) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more problem%s)", n, plural(n))
	}
	return msg
}

// WriteText writes the report for people; name says what was verified.
func (r Report) WriteText(w io.Writer, name string) error {
	var b strings.Builder
	status := "intact"
	if !r.OK {
		status = "FAILED"
	}
	fmt.Fprintf(&b, "%s: %s — %d entr%s, %d checkpoint%s", name, status, r.Entries, pluralY(r.Entries), r.Checkpoints, plural(r.Checkpoints))
	if r.HeadSeq > 0 {
		fmt.Fprintf(&b, ", head %d (%s)", r.HeadSeq, short(r.HeadHash))
	}
	b.WriteString("\n")
	const maxShown = 20
	for i, p := range r.Problems {
		if i == maxShown {
			fmt.Fprintf(&b, "  ... and %d more\n", len(r.Problems)-maxShown)
			break
		}
		fmt.Fprintf(&b, "  %s\n", p.Message)
	}
	if len(r.HistoryChecks) > 0 {
		counts := map[HistoryStatus]int{}
		for _, hc := range r.HistoryChecks {
			counts[hc.Status]++
		}
		fmt.Fprintf(&b, "  Temporal histories: %d entr%s checked: %d ok", len(r.HistoryChecks), pluralY(len(r.HistoryChecks)), counts[HistoryOK])
		for _, s := range []HistoryStatus{HistoryMismatch, HistoryMissing, HistorySkipped} {
			if counts[s] > 0 {
				fmt.Fprintf(&b, ", %d %s", counts[s], s)
			}
		}
		b.WriteString("\n")
		for _, hc := range r.HistoryChecks {
			if hc.Status == HistorySkipped {
				fmt.Fprintf(&b, "  entry %d: skipped: %s\n", hc.Seq, hc.Detail)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func pluralY(n int) string {
	if n == 1 {
		return "y"
	}
	return "ies"
}

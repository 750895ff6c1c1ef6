package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/execution-orchestrator/orchestrator/proof"
)

// GenesisHash is the PrevHash of entry 1.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// hashInput is what an entry's hash covers. Times are RFC 3339 strings in
// UTC with nanoseconds, so the value does not depend on the time zone or
// the database the entry was read from.
type hashInput struct {
	Seq        int64  `json:"seq"`
	Event      Event  `json:"event"`
	RecordedAt string `json:"recordedAt"`
	PrevHash   string `json:"prevHash"`
}

// HashEntry returns the hash e should have: hex SHA-256 over the RFC 8785
// canonical JSON of {seq, event, recordedAt, prevHash}. e.Hash is ignored.
func HashEntry(e Entry) (string, error) {
	ev := e.Event
	ev.At = ev.At.UTC()
	raw, err := json.Marshal(hashInput{Seq: e.Seq, Event: ev, RecordedAt: e.RecordedAt.UTC().Format(time.RFC3339Nano), PrevHash: e.PrevHash})
	if err != nil {
		return "", fmt.Errorf("hash entry %d: %w", e.Seq, err)
	}
	canon, err := jcs.Transform(raw)
	if err != nil {
		return "", fmt.Errorf("hash entry %d: canonical JSON: %w", e.Seq, err)
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:]), nil
}

// checkpointPayload is the signed message of a checkpoint: the canonical
// JSON of {seq, hash, at}.
func checkpointPayload(c Checkpoint) ([]byte, error) {
	raw, err := json.Marshal(struct {
		Seq  int64  `json:"seq"`
		Hash string `json:"hash"`
		At   string `json:"at"`
	}{c.Seq, c.Hash, c.At.UTC().Format(time.RFC3339Nano)})
	if err != nil {
		return nil, err
	}
	return jcs.Transform(raw)
}

var sigEncoding = base64.RawURLEncoding

// SignCheckpoint states "the ledger had seq entries and its head hash was
// hash" at at, signed with priv.
func SignCheckpoint(priv ed25519.PrivateKey, seq int64, hash string, at time.Time) (Checkpoint, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Checkpoint{}, errors.New("sign checkpoint: no signing key")
	}
	c := Checkpoint{Seq: seq, Hash: hash, At: at.UTC(), KeyID: proof.KeyID(priv.Public().(ed25519.PublicKey))}
	msg, err := checkpointPayload(c)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("sign checkpoint %d: %w", seq, err)
	}
	c.Signature = sigEncoding.EncodeToString(ed25519.Sign(priv, msg))
	return c, nil
}

// VerifyCheckpoint checks c's signature with the key among keys whose id
// is c.KeyID.
func VerifyCheckpoint(c Checkpoint, keys []ed25519.PublicKey) error {
	var pub ed25519.PublicKey
	for _, k := range keys {
		if proof.KeyID(k) == c.KeyID {
			pub = k
			break
		}
	}
	if pub == nil {
		return fmt.Errorf("signed by %s, which is not a trusted audit key", c.KeyID)
	}
	sig, err := sigEncoding.DecodeString(c.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("signature is malformed")
	}
	msg, err := checkpointPayload(c)
	if err != nil {
		return fmt.Errorf("checkpoint not encodable: %w", err)
	}
	if !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("signature by %s does not verify (forged or altered checkpoint)", c.KeyID)
	}
	return nil
}

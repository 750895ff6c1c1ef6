package codec

import (
	"crypto/rand"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

const (
	// Encoding is the metadata "encoding" of a sealed payload.
	Encoding = "binary/encrypted"
	// MetadataKeyID is the metadata key naming the key a payload is sealed with.
	MetadataKeyID = "encryption-key-id"

	nonceSize = 12 // AES-GCM's standard nonce
	tagSize   = 16
)

// Codec is the converter.PayloadCodec of a keyring.
type Codec struct{ ring *Keyring }

var _ converter.PayloadCodec = (*Codec)(nil)

// NewCodec returns the codec that seals payloads with ring's active key
// and opens them with any of its keys.
func NewCodec(ring *Keyring) *Codec { return &Codec{ring: ring} }

// Encode seals each payload whole (its metadata and data, as protobuf)
// with AES-256-GCM under the active key: a random 12-byte nonce, then the
// ciphertext and tag; the key id is authenticated as additional data.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	id := c.ring.ActiveID()
	aead, _ := c.ring.cipher(id)
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if p == nil {
			continue
		}
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("codec: encode payload: %w", err)
		}
		sealed := make([]byte, nonceSize, nonceSize+len(plain)+tagSize)
		if _, err := rand.Read(sealed); err != nil {
			return nil, fmt.Errorf("codec: random nonce: %w", err)
		}
		sealed = aead.Seal(sealed, sealed[:nonceSize], plain, []byte(id))
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(Encoding), MetadataKeyID: []byte(id)},
			Data:     sealed,
		}
	}
	return out, nil
}

// Decode opens the payloads this codec sealed and passes every other payload
// through unchanged, so histories written before encryption still read.
// A key id not in the keyring, or a payload that does not open (tampered,
// truncated), is an error naming the key id.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if p == nil || string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		plain, err := c.open(p)
		if err != nil {
			return nil, err
		}
		out[i] = plain
	}
	return out, nil
}

func (c *Codec) open(p *commonpb.Payload) (*commonpb.Payload, error) {
	id := string(p.GetMetadata()[MetadataKeyID])
	if id == "" {
		return nil, fmt.Errorf("codec: encrypted payload names no key (metadata %q missing)", MetadataKeyID)
	}
	aead, ok := c.ring.cipher(id)
	if !ok {
		return nil, fmt.Errorf("codec: payload is encrypted with key %q, which is not in the keyring (keys: %v)", shortID(id), c.ring.IDs())
	}
	data := p.GetData()
	if len(data) < nonceSize+tagSize {
		return nil, fmt.Errorf("codec: payload encrypted with key %q is truncated (%d bytes)", id, len(data))
	}
	plain, err := aead.Open(nil, data[:nonceSize], data[nonceSize:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("codec: payload encrypted with key %q does not decrypt: altered, or sealed by another key of that id", id)
	}
	var out commonpb.Payload
	if err := proto.Unmarshal(plain, &out); err != nil {
		return nil, fmt.Errorf("codec: payload encrypted with key %q holds no payload: %w", id, err)
	}
	return &out, nil
}

// shortID keeps a hostile key id from flooding an error message.
func shortID(id string) string {
	if len(id) > 64 {
		return id[:64] + "…"
	}
	return id
}

// DataConverter is Temporal's default data converter with ring's codec:
// what every client and worker of ExecutionOrchestrator uses.
func DataConverter(ring *Keyring) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), NewCodec(ring))
}

// FailureConverter encodes failures' messages and stack traces with dc
// (they end up in "encoded attributes"; the server sees "Encoded failure").
func FailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc, EncodeCommonAttributes: true})
}

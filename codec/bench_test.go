package codec

import (
	"bytes"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// BenchmarkEncodeDecode is the codec's cost on a typical payload (a 2 KiB
// activity input) each way.
func BenchmarkEncodeDecode(b *testing.B) {
	ring, err := Generate()
	if err != nil {
		b.Fatal(err)
	}
	c := NewCodec(ring)
	p, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{"body": string(bytes.Repeat([]byte("x"), 2048))})
	if err != nil {
		b.Fatal(err)
	}
	in := []*commonpb.Payload{p}
	b.SetBytes(int64(len(p.Data)))
	for b.Loop() {
		enc, err := c.Encode(in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

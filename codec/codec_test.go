package codec

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

type invoice struct {
	InvoiceID string `json:"invoiceId"`
	IBAN      string `json:"iban"`
}

var secretInvoice = invoice{InvoiceID: "INV-1042", IBAN: "DE89370400440532013000"}

func ring(t *testing.T) *Keyring {
	t.Helper()
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func plainPayload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTripAndCiphertext(t *testing.T) {
	k := ring(t)
	c := NewCodec(k)
	plain := plainPayload(t, secretInvoice)
	enc, err := c.Encode([]*commonpb.Payload{plain, nil})
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) != 2 || enc[1] != nil {
		t.Fatalf("encode kept %d payloads (%v), want 2 with the nil kept", len(enc), enc)
	}
	e := enc[0]
	if got := string(e.Metadata[converter.MetadataEncoding]); got != Encoding {
		t.Errorf("encoding %q, want %q", got, Encoding)
	}
	if got := string(e.Metadata[MetadataKeyID]); got != k.ActiveID() {
		t.Errorf("key id %q, want %q", got, k.ActiveID())
	}
	raw, _ := proto.Marshal(e)
	for _, secret := range []string{"INV-1042", "DE89370400440532013000", "json/plain", "invoiceId"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("encrypted payload contains %q", secret)
		}
	}
	// Two encodings of the same value differ (random nonce).
	again, _ := c.Encode([]*commonpb.Payload{plain})
	if bytes.Equal(again[0].Data, e.Data) {
		t.Error("two encodings are identical: the nonce is not random")
	}
	dec, err := c.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(dec[0], plain) || dec[1] != nil {
		t.Fatalf("decoded %v, want %v", dec, plain)
	}
}

func TestDataConverterRoundTrip(t *testing.T) {
	dc := DataConverter(ring(t))
	p, err := dc.ToPayload(secretInvoice)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte("INV-1042")) {
		t.Fatal("data converter left the invoice id in clear")
	}
	var got invoice
	if err := dc.FromPayload(p, &got); err != nil || got != secretInvoice {
		t.Fatalf("FromPayload = %+v, %v", got, err)
	}
}

func TestPlaintextPassesThrough(t *testing.T) {
	c := NewCodec(ring(t))
	plain := plainPayload(t, secretInvoice)
	other := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("binary/zlib")}, Data: []byte{1, 2, 3}}
	dec, err := c.Decode([]*commonpb.Payload{plain, other})
	if err != nil {
		t.Fatal(err)
	}
	if dec[0] != plain || dec[1] != other {
		t.Fatal("payloads not sealed by the codec were changed")
	}
	// An old history's plaintext decodes through the data converter too.
	var got invoice
	if err := DataConverter(ring(t)).FromPayload(plain, &got); err != nil || got != secretInvoice {
		t.Fatalf("plaintext through the codec data converter: %+v, %v", got, err)
	}
}

func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", FileName)
	old, err := Ensure(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file mode %v, %v; want 0600", fi.Mode(), err)
	}
	sealed, err := NewCodec(old).Encode([]*commonpb.Payload{plainPayload(t, secretInvoice)})
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := Rotate(path)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.ActiveID() == old.ActiveID() || !rotated.Has(old.ActiveID()) {
		t.Fatalf("after rotation active %s, ids %v; want a new active key and %s kept", rotated.ActiveID(), rotated.IDs(), old.ActiveID())
	}
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := loaded.IDs(); len(got) != 2 || got[0] != rotated.ActiveID() || got[1] != old.ActiveID() {
		t.Fatalf("loaded ids %v, want [%s %s]", got, rotated.ActiveID(), old.ActiveID())
	}
	c := NewCodec(loaded)
	if _, err := c.Decode(sealed); err != nil {
		t.Fatalf("a payload sealed before rotation: %v", err)
	}
	fresh, err := c.Encode([]*commonpb.Payload{plainPayload(t, "x")})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(fresh[0].Metadata[MetadataKeyID]); got != rotated.ActiveID() {
		t.Errorf("new payloads sealed with %s, want the new key %s", got, rotated.ActiveID())
	}
	// Ensure on an existing file loads it, never replaces it.
	again, err := Ensure(path)
	if err != nil || again.ActiveID() != rotated.ActiveID() {
		t.Fatalf("Ensure on an existing keyring: %v, %v", again, err)
	}
	if _, err := Create(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing keyring: %v, want fs.ErrExist", err)
	}
}

func TestEnsureConcurrentAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			k, err := Ensure(path)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = k.ActiveID()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent Ensure made different keyrings: %v", ids)
		}
	}
}

func TestUnknownKeyID(t *testing.T) {
	sealed, err := NewCodec(ring(t)).Encode([]*commonpb.Payload{plainPayload(t, secretInvoice)})
	if err != nil {
		t.Fatal(err)
	}
	id := string(sealed[0].Metadata[MetadataKeyID])
	_, err = NewCodec(ring(t)).Decode(sealed)
	if err == nil || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "not in the keyring") {
		t.Fatalf("decode with another keyring: %v, want an error naming key %s", err, id)
	}
}

func TestTamperedAndMalformed(t *testing.T) {
	k := ring(t)
	c := NewCodec(k)
	sealed, err := c.Encode([]*commonpb.Payload{plainPayload(t, secretInvoice)})
	if err != nil {
		t.Fatal(err)
	}
	good := sealed[0]
	id := k.ActiveID()
	mutate := func(f func(p *commonpb.Payload)) *commonpb.Payload {
		p := proto.Clone(good).(*commonpb.Payload)
		f(p)
		return p
	}
	cases := map[string]*commonpb.Payload{
		"flipped byte":   mutate(func(p *commonpb.Payload) { p.Data[len(p.Data)/2] ^= 1 }),
		"flipped nonce":  mutate(func(p *commonpb.Payload) { p.Data[0] ^= 0x80 }),
		"flipped tag":    mutate(func(p *commonpb.Payload) { p.Data[len(p.Data)-1] ^= 1 }),
		"empty":          mutate(func(p *commonpb.Payload) { p.Data = nil }),
		"no key id":      mutate(func(p *commonpb.Payload) { delete(p.Metadata, MetadataKeyID) }),
		"other key id":   mutate(func(p *commonpb.Payload) { p.Metadata[MetadataKeyID] = []byte("k00000000") }),
		"huge key id":    mutate(func(p *commonpb.Payload) { p.Metadata[MetadataKeyID] = bytes.Repeat([]byte("x"), 10000) }),
		"key id swapped": mutate(func(p *commonpb.Payload) { p.Metadata[MetadataKeyID] = []byte(id + "x") }),
	}
	// Every truncation, and garbage of every short length.
	for n := 0; n < len(good.Data); n += 3 {
		cases["truncated to "+strconv.Itoa(n)] = mutate(func(p *commonpb.Payload) { p.Data = p.Data[:n] })
	}
	for n := range 64 {
		garbage := bytes.Repeat([]byte{byte(n * 7)}, n)
		cases["garbage "+strconv.Itoa(n)] = &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte(Encoding), MetadataKeyID: []byte(id)}, Data: garbage}
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			out, err := c.Decode([]*commonpb.Payload{p})
			if err == nil {
				t.Fatalf("decoded %v, want an error", out)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error of %d bytes", len(err.Error()))
			}
		})
	}
	// A sealed protobuf that opens but holds no payload is an error too.
	aead, _ := k.cipher(id)
	nonce := make([]byte, nonceSize)
	junk := aead.Seal(append([]byte{}, nonce...), nonce, []byte{0xff, 0xff, 0xff}, []byte(id))
	if _, err := c.Decode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte(Encoding), MetadataKeyID: []byte(id)}, Data: junk}}); err == nil {
		t.Error("decoded a sealed non-payload")
	}
}

func TestFailureConverterEncodesMessage(t *testing.T) {
	dc := DataConverter(ring(t))
	fc := FailureConverter(dc)
	f := fc.ErrorToFailure(temporal.NewApplicationError("bank account DE89370400440532013000 does not match", "BankMismatch"))
	raw, _ := proto.Marshal(f)
	if bytes.Contains(raw, []byte("DE89370400440532013000")) {
		t.Fatalf("failure holds the message in clear: %v", f)
	}
	if f.GetMessage() != "Encoded failure" || f.GetEncodedAttributes() == nil {
		t.Fatalf("failure %v, want the message in encoded attributes", f)
	}
	if got := string(f.GetEncodedAttributes().GetMetadata()["encoding"]); got != Encoding {
		t.Fatalf("encoded attributes encoding %q, want %q", got, Encoding)
	}
	err := fc.FailureToError(proto.Clone(f).(*failurepb.Failure))
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || !strings.Contains(ae.Error(), "does not match") || ae.Type() != "BankMismatch" {
		t.Fatalf("decoded failure %v, want the original message and type", err)
	}
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	good := "k1 " + strings.Repeat("A", 43) + "=\n"
	tests := []struct{ name, data, want string }{
		{"empty", "# only a comment\n", "f.keys: no keys"},
		{"fields", "# c\nk1\n", "f.keys:2: want"},
		{"bad id", "-k AAAA\n", "f.keys:1: key id"},
		{"not base64", "k1 !!!\n", "f.keys:1: key \"k1\" is not base64"},
		{"short", "k1 AAAA\n", "f.keys:1: key \"k1\" is 3 bytes"},
		{"duplicate", good + "\n" + good, "f.keys:3: key id \"k1\" already on line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.keys", []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	k, err := Parse("f.keys", []byte("# header\n\n"+good))
	if err != nil || k.ActiveID() != "k1" {
		t.Fatalf("Parse = %v, %v", k, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.keys")); err == nil || !strings.Contains(err.Error(), "missing.keys does not exist") {
		t.Fatalf("Load of a missing file: %v", err)
	}
}

func TestMarshalParses(t *testing.T) {
	k := ring(t)
	back, err := Parse("x", k.Marshal())
	if err != nil || back.ActiveID() != k.ActiveID() {
		t.Fatalf("Parse(Marshal) = %v, %v", back, err)
	}
	sealed, _ := NewCodec(k).Encode([]*commonpb.Payload{plainPayload(t, 1)})
	if _, err := NewCodec(back).Decode(sealed); err != nil {
		t.Fatal(err)
	}
}

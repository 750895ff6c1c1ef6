package evidencetest

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"net/http"
	"testing"
	"time"
)

func TestFilesAreValid(t *testing.T) {
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	for name, b := range map[string][]byte{
		"jpeg":        JPEG(38.7, -9.1, at),
		"jpeg offset": JPEGWith(Photo{Lat: -1, Lon: 2, TakenAt: at.In(time.FixedZone("", 5400)), WithOffset: true, BigEndian: true}),
		"no gps":      NoGPSJPEG(at),
		"plain":       PlainJPEG(),
	} {
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if img.Bounds() != image.Rect(0, 0, 16, 16) {
			t.Errorf("%s: bounds %v", name, img.Bounds())
		}
		if got := http.DetectContentType(b); got != "image/jpeg" {
			t.Errorf("%s: sniffed as %s", name, got)
		}
	}
	if _, err := png.Decode(bytes.NewReader(PNG())); err != nil {
		t.Fatal(err)
	}
	if got := http.DetectContentType(PDF()); got != "application/pdf" {
		t.Errorf("pdf sniffed as %s", got)
	}
	if !bytes.HasSuffix(PDF(), []byte("%%EOF\n")) {
		t.Error("pdf has no end-of-file marker")
	}
	if !bytes.Equal(JPEG(1, 2, at), JPEG(1, 2, at)) {
		t.Error("the same photo twice is not the same bytes")
	}
	if bytes.Equal(JPEGWith(Photo{Lat: 1, Lon: 2, TakenAt: at}), JPEGWith(Photo{Lat: 1, Lon: 2, TakenAt: at, Variant: 1})) {
		t.Error("variants are the same bytes")
	}
}

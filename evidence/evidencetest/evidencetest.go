// Package evidencetest makes small, valid files for tests of the evidence
// checks: JPEG photos carrying an EXIF APP1 segment with GPS and
// DateTimeOriginal (written by hand, the way a phone camera lays it out),
// a PNG for a drawn signature and a minimal PDF.
//
// The files are deterministic: the same arguments give the same bytes, and
// so the same SHA-256. Two photos meant to be different files must differ
// in coordinates, time or Photo.Variant, or the evidence checks will see
// one photo reused.
package evidencetest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"time"
)

// Photo describes the EXIF a generated JPEG carries.
type Photo struct {
	// NoGPS leaves the GPS IFD out; otherwise Lat and Lon (decimal
	// degrees, negative south and west) are written with their N/S and E/W
	// references.
	NoGPS    bool
	Lat, Lon float64
	// TakenAt is written as DateTimeOriginal; the zero time leaves it out.
	// Without WithOffset it is written as UTC wall time (no zone tag);
	// with WithOffset it is written as wall time in TakenAt's own location
	// plus an OffsetTimeOriginal tag ("+01:00").
	TakenAt    time.Time
	WithOffset bool
	// BigEndian writes the TIFF structure in Motorola order ("MM"), as
	// some cameras do; the default is Intel order ("II"), as phones do.
	BigEndian bool
	// ValuesFirst puts the tag values before the IFDs and IFD0 last, as
	// editing software often writes EXIF.
	ValuesFirst bool
	// Variant changes the pixels, so that photos with the same metadata
	// are still different files.
	Variant int
}

// JPEG returns a 16x16 JPEG whose EXIF holds GPS lat/lon and
// DateTimeOriginal (takenAt as UTC wall time).
func JPEG(lat, lon float64, takenAt time.Time) []byte {
	return JPEGWith(Photo{Lat: lat, Lon: lon, TakenAt: takenAt})
}

// JPEGWith returns a 16x16 JPEG carrying the EXIF p describes. With no GPS
// and no time it carries no EXIF at all.
func JPEGWith(p Photo) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			img.Set(x, y, color.RGBA{R: uint8(x * 16), G: uint8(y * 16), B: uint8(p.Variant * 37), A: 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		panic(fmt.Sprintf("evidencetest: encode jpeg: %v", err))
	}
	raw := buf.Bytes()
	if p.NoGPS && p.TakenAt.IsZero() {
		return raw
	}
	tiff := exifTIFF(p)
	// APP1: marker, length (itself + "Exif\0\0" + TIFF), "Exif\0\0", TIFF.
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(2+6+len(tiff)))
	seg = append(seg, "Exif\x00\x00"...)
	seg = append(seg, tiff...)
	// Right after SOI, before the quantisation tables, where cameras put it.
	out := make([]byte, 0, len(raw)+len(seg))
	out = append(out, raw[:2]...)
	out = append(out, seg...)
	return append(out, raw[2:]...)
}

// NoGPSJPEG returns a JPEG with DateTimeOriginal but no GPS.
func NoGPSJPEG(takenAt time.Time) []byte {
	return JPEGWith(Photo{NoGPS: true, TakenAt: takenAt})
}

// PlainJPEG returns a JPEG without any EXIF.
func PlainJPEG() []byte { return JPEGWith(Photo{NoGPS: true}) }

// PNG returns a small PNG, as a drawn signature would be.
func PNG() []byte {
	img := image.NewGray(image.Rect(0, 0, 32, 12))
	for x := 0; x < 32; x++ {
		img.SetGray(x, 0, color.Gray{Y: 255})
		img.SetGray(x, 6+int(4*math.Sin(float64(x)/3)), color.Gray{Y: 0})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(fmt.Sprintf("evidencetest: encode png: %v", err))
	}
	return buf.Bytes()
}

// PDF returns a minimal one-page PDF.
func PDF() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// TIFF field types and the tags written.
const (
	typeByte     = 1
	typeASCII    = 2
	typeLong     = 4
	typeRational = 5

	tagExifIFD            = 0x8769
	tagGPSIFD             = 0x8825
	tagDateTimeOriginal   = 0x9003
	tagOffsetTimeOriginal = 0x9011
	tagGPSVersionID       = 0x0000
	tagGPSLatitudeRef     = 0x0001
	tagGPSLatitude        = 0x0002
	tagGPSLongitudeRef    = 0x0003
	tagGPSLongitude       = 0x0004
)

type entry struct {
	tag, typ uint16
	count    uint32
	value    []byte // the value's bytes; at most 4 are stored in the entry
}

// exifTIFF lays out the TIFF structure of the APP1 segment. By default,
// as cameras and phones do: header, IFD0 (pointers to the Exif and GPS
// IFDs), the Exif IFD and its values, then the GPS IFD and its values;
// every value after the IFD that points to it, as streaming readers
// expect. With ValuesFirst, as editing software often does: the values,
// then the GPS and Exif IFDs, and IFD0 last.
func exifTIFF(p Photo) []byte {
	var bo byteOrder = binary.LittleEndian
	header := []byte{'I', 'I', 42, 0}
	if p.BigEndian {
		bo = binary.BigEndian
		header = []byte{'M', 'M', 0, 42}
	}
	exif, gps := &ifd{}, &ifd{}
	if !p.TakenAt.IsZero() {
		t := p.TakenAt.UTC()
		if p.WithOffset {
			t = p.TakenAt
		}
		exif.entries = append(exif.entries, ascii(tagDateTimeOriginal, t.Format("2006:01:02 15:04:05")))
		if p.WithOffset {
			exif.entries = append(exif.entries, ascii(tagOffsetTimeOriginal, t.Format("-07:00")))
		}
	}
	if !p.NoGPS {
		latRef, lonRef := "N", "E"
		if p.Lat < 0 {
			latRef = "S"
		}
		if p.Lon < 0 {
			lonRef = "W"
		}
		gps.entries = []entry{
			{tag: tagGPSVersionID, typ: typeByte, count: 4, value: []byte{2, 3, 0, 0}},
			ascii(tagGPSLatitudeRef, latRef),
			{tag: tagGPSLatitude, typ: typeRational, count: 3, value: dms(bo, p.Lat)},
			ascii(tagGPSLongitudeRef, lonRef),
			{tag: tagGPSLongitude, typ: typeRational, count: 3, value: dms(bo, p.Lon)},
		}
	}
	// IFD0 points to the others; the pointers are filled in once placed.
	ifd0 := &ifd{}
	var subs []*ifd
	if len(exif.entries) > 0 {
		ifd0.entries = append(ifd0.entries, entry{tag: tagExifIFD, typ: typeLong, count: 1})
		subs = append(subs, exif)
	}
	if len(gps.entries) > 0 {
		ifd0.entries = append(ifd0.entries, entry{tag: tagGPSIFD, typ: typeLong, count: 1})
		subs = append(subs, gps)
	}

	// Place the blocks: each IFD and, separately, its out-of-line values.
	type block struct {
		d      *ifd
		values bool
	}
	var order []block
	if p.ValuesFirst {
		for _, d := range subs {
			order = append(order, block{d, true})
		}
		for i := len(subs) - 1; i >= 0; i-- {
			order = append(order, block{subs[i], false})
		}
		order = append(order, block{ifd0, false})
	} else {
		for _, d := range append([]*ifd{ifd0}, subs...) {
			order = append(order, block{d, false}, block{d, true})
		}
	}
	at := uint32(8)
	for _, b := range order {
		if b.values {
			b.d.valuesAt = at
			at += b.d.valuesLen()
		} else {
			b.d.at = at
			at += b.d.len()
		}
	}
	for i := range ifd0.entries {
		switch ifd0.entries[i].tag {
		case tagExifIFD:
			ifd0.entries[i].value = bo.AppendUint32(nil, exif.at)
		case tagGPSIFD:
			ifd0.entries[i].value = bo.AppendUint32(nil, gps.at)
		}
	}

	out := make([]byte, at)
	copy(out, header)
	bo.PutUint32(out[4:], ifd0.at)
	for _, d := range append([]*ifd{ifd0}, subs...) {
		d.write(bo, out)
	}
	return out
}

// ifd is one image file directory and where it and its values go.
type ifd struct {
	entries      []entry
	at, valuesAt uint32
}

func (d *ifd) len() uint32 { return 2 + 12*uint32(len(d.entries)) + 4 }

func (d *ifd) valuesLen() uint32 {
	var n uint32
	for _, e := range d.entries {
		if len(e.value) > 4 {
			n += uint32(len(e.value)+1) &^ 1 // values start on word boundaries
		}
	}
	return n
}

// write puts the IFD and its out-of-line values into out at their places.
func (d *ifd) write(bo byteOrder, out []byte) {
	w := out[d.at:d.at]
	w = bo.AppendUint16(w, uint16(len(d.entries)))
	v := d.valuesAt
	for _, e := range d.entries {
		w = bo.AppendUint16(w, e.tag)
		w = bo.AppendUint16(w, e.typ)
		w = bo.AppendUint32(w, e.count)
		if len(e.value) <= 4 {
			inline := make([]byte, 4)
			copy(inline, e.value)
			w = append(w, inline...)
			continue
		}
		w = bo.AppendUint32(w, v)
		copy(out[v:], e.value)
		v += uint32(len(e.value)+1) &^ 1
	}
	bo.AppendUint32(w, 0) // no next IFD
}

func ascii(tag uint16, s string) entry {
	v := append([]byte(s), 0)
	return entry{tag: tag, typ: typeASCII, count: uint32(len(v)), value: v}
}

// dms writes |deg| as three rationals: degrees, minutes and seconds in
// ten-thousandths (about 3 mm).
func dms(bo byteOrder, deg float64) []byte {
	const secScale = 10000
	total := uint64(math.Round(math.Abs(deg) * 3600 * secScale))
	d := total / (3600 * secScale)
	m := total / (60 * secScale) % 60
	s := total % (60 * secScale)
	var v []byte
	for _, r := range [][2]uint32{{uint32(d), 1}, {uint32(m), 1}, {uint32(s), secScale}} {
		v = bo.AppendUint32(v, r[0])
		v = bo.AppendUint32(v, r[1])
	}
	return v
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

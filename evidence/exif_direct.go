package evidence

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
)

// readEXIFDirect is ReadPhotoMeta's reader, on the standard library
// alone: it finds the JPEG's Exif APP1 segment and reads the few tags
// needed with random access into the TIFF structure, so it also reads EXIF
// laid out as editing software (Photoshop, Lightroom and others) writes it:
// IFD0 last, values first. ok is false when there is no readable Exif
// segment.
func readEXIFDirect(data []byte) (m photoTags, ok bool) {
	tiff := exifSegment(data)
	if len(tiff) < 8 {
		return m, false
	}
	var bo binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return m, false
	}
	if bo.Uint16(tiff[2:]) != 42 {
		return m, false
	}
	t := tiffReader{b: tiff, bo: bo}
	ifd0, ok := t.ifd(bo.Uint32(tiff[4:]))
	if !ok {
		return m, false
	}
	if e, found := ifd0[0x8769]; found { // ExifIFD pointer
		if off, isPtr := t.pointer(e); isPtr {
			exif, _ := t.ifd(off)
			if e, found := exif[0x9003]; found { // DateTimeOriginal
				m.dateTimeOriginal = t.ascii(e)
			}
			if e, found := exif[0x9011]; found { // OffsetTimeOriginal
				m.offsetTimeOriginal = t.ascii(e)
			}
		}
	}
	if e, found := ifd0[0x8825]; found { // GPS IFD pointer
		if off, isPtr := t.pointer(e); isPtr {
			gps, _ := t.ifd(off)
			if e, found := gps[0x0001]; found {
				m.latRef = firstLetter(t.ascii(e))
			}
			if e, found := gps[0x0003]; found {
				m.lonRef = firstLetter(t.ascii(e))
			}
			if e, found := gps[0x0002]; found {
				m.lat, m.hasLat = t.degrees(e)
			}
			if e, found := gps[0x0004]; found {
				m.lon, m.hasLon = t.degrees(e)
			}
		}
	}
	return m, true
}

// exifSegment returns the TIFF structure of the first Exif APP1 segment
// before the image data, or nil.
func exifSegment(data []byte) []byte {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil
	}
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xFF {
			return nil
		}
		marker := data[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8): // no length
			i += 2
			continue
		case marker == 0xDA || marker == 0xD9: // image data or end: no EXIF
			return nil
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return nil
		}
		seg := data[i+4 : i+2+n]
		if marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return seg[6:]
		}
		i += 2 + n
	}
	return nil
}

// tiffEntry is one IFD entry: its type, count and the 4 bytes holding the
// value or its offset.
type tiffEntry struct {
	typ   uint16
	count uint32
	raw   [4]byte
}

type tiffReader struct {
	b  []byte
	bo binary.ByteOrder
}

const maxIFDEntries = 1000

// ifd reads the entries of the IFD at off, by tag.
func (t tiffReader) ifd(off uint32) (map[uint16]tiffEntry, bool) {
	if uint64(off)+2 > uint64(len(t.b)) {
		return nil, false
	}
	n := int(t.bo.Uint16(t.b[off:]))
	if n > maxIFDEntries || uint64(off)+2+12*uint64(n) > uint64(len(t.b)) {
		return nil, false
	}
	out := make(map[uint16]tiffEntry, n)
	for i := 0; i < n; i++ {
		p := t.b[int(off)+2+12*i:]
		e := tiffEntry{typ: t.bo.Uint16(p[2:]), count: t.bo.Uint32(p[4:])}
		copy(e.raw[:], p[8:12])
		if _, dup := out[t.bo.Uint16(p)]; !dup {
			out[t.bo.Uint16(p)] = e
		}
	}
	return out, true
}

// value returns the bytes of e's value, or nil if they lie outside.
func (t tiffReader) value(e tiffEntry) []byte {
	var size uint64
	switch e.typ {
	case 1, 2, 6, 7: // BYTE, ASCII, SBYTE, UNDEFINED
		size = 1
	case 3, 8: // SHORT, SSHORT
		size = 2
	case 4, 9, 13: // LONG, SLONG, IFD
		size = 4
	case 5, 10: // RATIONAL, SRATIONAL
		size = 8
	default:
		return nil
	}
	size *= uint64(e.count)
	if size <= 4 {
		return e.raw[:size]
	}
	off := uint64(t.bo.Uint32(e.raw[:]))
	if off+size > uint64(len(t.b)) {
		return nil
	}
	return t.b[off : off+size]
}

func (t tiffReader) pointer(e tiffEntry) (uint32, bool) {
	if (e.typ != 4 && e.typ != 13) || e.count != 1 {
		return 0, false
	}
	return t.bo.Uint32(e.raw[:]), true
}

func (t tiffReader) ascii(e tiffEntry) string {
	if e.typ != 2 {
		return ""
	}
	v := t.value(e)
	if i := bytes.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(string(v))
}

// degrees reads degrees, minutes and seconds as three rationals; a zero
// denominator gives NaN, which the range check refuses.
func (t tiffReader) degrees(e tiffEntry) (float64, bool) {
	if (e.typ != 5 && e.typ != 10) || e.count != 3 {
		return 0, false
	}
	v := t.value(e)
	if v == nil {
		return 0, false
	}
	var deg float64
	for i, scale := range []float64{1, 60, 3600} {
		num, den := t.bo.Uint32(v[8*i:]), t.bo.Uint32(v[8*i+4:])
		if den == 0 {
			return math.NaN(), true
		}
		if e.typ == 10 {
			deg += float64(int32(num)) / float64(int32(den)) / scale
		} else {
			deg += float64(num) / float64(den) / scale
		}
	}
	return math.Abs(deg), true // the hemisphere is the reference's
}

func firstLetter(s string) string {
	if s == "" {
		return "?"
	}
	return s[:1]
}

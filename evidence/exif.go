package evidence

import (
	"errors"
	"math"
	"time"
)

// ErrNotJPEG is returned by ReadPhotoMeta for anything but a JPEG.
var ErrNotJPEG = errors.New("not a JPEG")

// ReadPhotoMeta reads where and when a JPEG photo was taken from its EXIF:
// GPSLatitude/GPSLongitude with their N/S and E/W references, and
// DateTimeOriginal, which is UTC unless an OffsetTimeOriginal says
// otherwise. gps or takenAt is nil when the photo does not carry it (or
// carries a value that makes no sense); a JPEG without EXIF gives both nil
// and no error. When both are known, gps.At is takenAt. err is for a file
// that is not a JPEG.
//
// The EXIF is read by readEXIFDirect, a bounded standard-library reader
// (every offset checked, entry counts capped, no pointer followed twice;
// fuzzed). github.com/evanoberholster/imagemeta v0.3.1 read it before, and
// was dropped after measurement: a 70-byte crafted JPEG (SOI, EOI, APP1,
// zeros) sends its JPEG scanner into an endless loop that no recover
// stops, one spinning core per activity attempt; it also skips EXIF laid
// out values-first (as editors write it) and drops one-letter strings.
func ReadPhotoMeta(data []byte) (gps *GeoPoint, takenAt *time.Time, err error) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF {
		return nil, nil, ErrNotJPEG
	}
	m, ok := readEXIFDirect(data)
	if !ok {
		return nil, nil, nil
	}
	gps, takenAt = m.gps(), m.takenAt()
	if gps != nil && takenAt != nil {
		gps.At = *takenAt
	}
	return gps, takenAt, nil
}

// photoTags collects the tags ReadPhotoMeta needs, noting which were there.
type photoTags struct {
	lat, lon           float64
	hasLat, hasLon     bool
	latRef, lonRef     string
	dateTimeOriginal   string
	offsetTimeOriginal string
}

func (m *photoTags) gps() *GeoPoint {
	if !m.hasLat || !m.hasLon {
		return nil
	}
	lat, lon := m.lat, m.lon
	switch m.latRef {
	case "S", "s":
		lat = -lat
	case "N", "n":
	default:
		return nil
	}
	switch m.lonRef {
	case "W", "w":
		lon = -lon
	case "E", "e":
	default:
		return nil
	}
	if !validLatLon(lat, lon) {
		return nil // a zero denominator or an out-of-range value
	}
	return &GeoPoint{Lat: lat, Lon: lon}
}

func (m *photoTags) takenAt() *time.Time {
	loc := time.UTC
	if m.offsetTimeOriginal != "" {
		off, err := time.Parse("-07:00", m.offsetTimeOriginal)
		if err != nil {
			return nil // a zone we cannot read makes the time unknown
		}
		_, secs := off.Zone()
		loc = time.FixedZone(m.offsetTimeOriginal, secs)
	}
	// Cameras without a clock write blanks or zeros; those parse as errors.
	t, err := time.ParseInLocation("2006:01:02 15:04:05", m.dateTimeOriginal, loc)
	if err != nil {
		return nil
	}
	t = t.UTC()
	return &t
}

func validLatLon(lat, lon float64) bool {
	return !math.IsNaN(lat) && !math.IsNaN(lon) && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180
}

package evidence

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/evanoberholster/imagemeta/exif2"
	"github.com/evanoberholster/imagemeta/exif2/ifds"
	"github.com/evanoberholster/imagemeta/exif2/ifds/exififd"
	"github.com/evanoberholster/imagemeta/exif2/ifds/gpsifd"
	"github.com/evanoberholster/imagemeta/imagetype"
	"github.com/evanoberholster/imagemeta/jpeg"
)

// ErrNotJPEG is returned by ReadPhotoMeta for anything but a JPEG.
var ErrNotJPEG = errors.New("not a JPEG")

// ReadPhotoMeta reads where and when a JPEG photo was taken from its EXIF:
// GPSLatitude/GPSLongitude with their N/S and E/W references, and
// DateTimeOriginal, which is UTC unless an OffsetTimeOriginal says
// otherwise. gps or takenAt is nil when the photo does not carry it (or
// carries a value that makes no sense); a JPEG without EXIF gives both nil
// and no error. When both are known, gps.At is takenAt. err is for a file
// that is not a JPEG, or whose EXIF cannot be read at all.
//
// It uses github.com/evanoberholster/imagemeta's JPEG scanner and IFD
// reader with a custom tag parser: the library's own Exif result cannot
// tell a missing GPS position from (0, 0), nor a missing time from the
// zero time, and its date parsing indexes fixed positions of the value.
// The library reads the TIFF structure forward only and so misses EXIF
// laid out values-first (as editing software writes it); what it misses is
// then read by a small standard-library parser (readEXIFDirect).
func ReadPhotoMeta(data []byte) (gps *GeoPoint, takenAt *time.Time, err error) {
	m, err := readEXIFLibrary(data)
	if errors.Is(err, ErrNotJPEG) {
		return nil, nil, err
	}
	// When the library misses what we need, read the segment directly.
	if m.gps() == nil || m.takenAt() == nil {
		if d, ok := readEXIFDirect(data); ok {
			m.fillFrom(d)
			err = nil
		}
	}
	// Damage after the tags were read (the scan goes on to the image
	// data) does not unread them: each is checked on its own below.
	if err != nil && !m.any() {
		return nil, nil, err
	}
	gps, takenAt = m.gps(), m.takenAt()
	if gps != nil && takenAt != nil {
		gps.At = *takenAt
	}
	return gps, takenAt, nil
}

// readEXIFLibrary collects the tags with imagemeta.
func readEXIFLibrary(data []byte) (m photoTags, err error) {
	defer func() {
		// The library reads untrusted bytes; a malformed file must be an
		// error, not a crash.
		if r := recover(); r != nil {
			err = fmt.Errorf("read EXIF: malformed file (%v)", r)
		}
	}()
	br := bufio.NewReaderSize(bytes.NewReader(data), 64*1024)
	if it, err := imagetype.ScanBuf(br); err != nil || it != imagetype.ImageJPEG {
		return m, ErrNotJPEG
	}
	ir := exif2.NewIfdReader(exif2.Logger)
	defer ir.Close()
	ir.SetCustomTagParser(m.parse)
	if err := jpeg.ScanJPEG(br, ir.DecodeJPEGIfd, nil); err != nil && !errors.Is(err, jpeg.ErrEndOfImage) {
		return m, fmt.Errorf("read EXIF: %w", err)
	}
	return m, nil
}

// photoTags collects the tags ReadPhotoMeta needs, noting which were there.
type photoTags struct {
	lat, lon           float64
	hasLat, hasLon     bool
	latRef, lonRef     string
	dateTimeOriginal   string
	offsetTimeOriginal string
}

// fillFrom takes from d what m lacks: the position, the time.
func (m *photoTags) fillFrom(d photoTags) {
	if m.gps() == nil && d.gps() != nil {
		m.lat, m.lon, m.hasLat, m.hasLon, m.latRef, m.lonRef = d.lat, d.lon, d.hasLat, d.hasLon, d.latRef, d.lonRef
	}
	if m.takenAt() == nil && d.takenAt() != nil {
		m.dateTimeOriginal, m.offsetTimeOriginal = d.dateTimeOriginal, d.offsetTimeOriginal
	}
}

func (m *photoTags) any() bool {
	return m.hasLat || m.hasLon || m.dateTimeOriginal != ""
}

func (m *photoTags) parse(p exif2.TagParser, t exif2.Tag) error {
	switch t.Ifd {
	case ifds.GPSIFD:
		switch t.ID {
		case gpsifd.GPSLatitudeRef:
			m.latRef = gpsRef(t)
		case gpsifd.GPSLongitudeRef:
			m.lonRef = gpsRef(t)
		case gpsifd.GPSLatitude:
			if t.UnitCount == 3 {
				m.lat, m.hasLat = p.ParseGPSCoord(t), true
			}
		case gpsifd.GPSLongitude:
			if t.UnitCount == 3 {
				m.lon, m.hasLon = p.ParseGPSCoord(t), true
			}
		}
	case ifds.ExifIFD:
		switch t.ID {
		case exififd.DateTimeOriginal:
			m.dateTimeOriginal = strings.TrimSpace(p.ParseString(t))
		case exififd.OffsetTimeOriginal:
			m.offsetTimeOriginal = strings.TrimSpace(p.ParseString(t))
		}
	}
	return nil
}

// gpsRef reads a one-letter reference ("N\x00"), always embedded in the
// entry. Not through ParseString: the library's NUL trimming never looks at
// the first byte, so a one-letter string comes back empty.
func gpsRef(t exif2.Tag) string {
	if !t.IsEmbedded() || t.UnitCount == 0 {
		return "?"
	}
	var b [4]byte
	t.EmbeddedValue(b[:])
	return string(b[:1])
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

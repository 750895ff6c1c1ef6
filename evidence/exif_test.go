package evidence

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/evidence/evidencetest"
)

func TestReadPhotoMetaRoundTrip(t *testing.T) {
	at := time.Date(2026, 5, 4, 10, 30, 15, 0, time.UTC)
	brasilia := time.FixedZone("BRT", -3*3600)
	tokyo := time.FixedZone("JST", 9*3600)
	cases := []struct {
		name     string
		photo    evidencetest.Photo
		lat, lon float64
		noGPS    bool
		at       time.Time // zero: none
	}{
		{name: "lisbon (north, west)", photo: evidencetest.Photo{Lat: 38.7223, Lon: -9.1393, TakenAt: at}, lat: 38.7223, lon: -9.1393, at: at},
		{name: "sydney (south, east)", photo: evidencetest.Photo{Lat: -33.8688, Lon: 151.2093, TakenAt: at}, lat: -33.8688, lon: 151.2093, at: at},
		{name: "rio (south, west)", photo: evidencetest.Photo{Lat: -22.9068, Lon: -43.1729, TakenAt: at}, lat: -22.9068, lon: -43.1729, at: at},
		{name: "tokyo (north, east)", photo: evidencetest.Photo{Lat: 35.6764, Lon: 139.65, TakenAt: at}, lat: 35.6764, lon: 139.65, at: at},
		{name: "big-endian tiff", photo: evidencetest.Photo{Lat: -1.2921, Lon: 36.8219, TakenAt: at, BigEndian: true}, lat: -1.2921, lon: 36.8219, at: at},
		{name: "extremes", photo: evidencetest.Photo{Lat: -89.999999, Lon: -179.999999, TakenAt: at}, lat: -89.999999, lon: -179.999999, at: at},
		{name: "null island is a position", photo: evidencetest.Photo{Lat: 0, Lon: 0, TakenAt: at}, lat: 0, lon: 0, at: at},
		{name: "offset west of utc", photo: evidencetest.Photo{Lat: 1, Lon: 2, TakenAt: at.In(brasilia), WithOffset: true}, lat: 1, lon: 2, at: at},
		{name: "offset east of utc, big-endian", photo: evidencetest.Photo{Lat: 1, Lon: 2, TakenAt: at.In(tokyo), WithOffset: true, BigEndian: true}, lat: 1, lon: 2, at: at},
		{name: "values first (as editors write it)", photo: evidencetest.Photo{Lat: -33.8688, Lon: -70.6693, TakenAt: at, ValuesFirst: true}, lat: -33.8688, lon: -70.6693, at: at},
		{name: "values first, big-endian, with zone", photo: evidencetest.Photo{Lat: 64.1466, Lon: -21.9426, TakenAt: at.In(tokyo), WithOffset: true, ValuesFirst: true, BigEndian: true}, lat: 64.1466, lon: -21.9426, at: at},
		{name: "values first, no gps", photo: evidencetest.Photo{NoGPS: true, TakenAt: at, ValuesFirst: true}, noGPS: true, at: at},
		{name: "no gps", photo: evidencetest.Photo{NoGPS: true, TakenAt: at}, noGPS: true, at: at},
		{name: "no time", photo: evidencetest.Photo{Lat: 10, Lon: 20}, lat: 10, lon: 20},
		{name: "no exif", photo: evidencetest.Photo{NoGPS: true}, noGPS: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gps, taken, err := ReadPhotoMeta(evidencetest.JPEGWith(tc.photo))
			require.NoError(t, err)
			if tc.noGPS {
				assert.Nil(t, gps)
			} else {
				require.NotNil(t, gps)
				assert.InDelta(t, tc.lat, gps.Lat, 1e-6)
				assert.InDelta(t, tc.lon, gps.Lon, 1e-6)
				if !tc.at.IsZero() {
					assert.True(t, tc.at.Equal(gps.At), "gps.At %s", gps.At)
				}
			}
			if tc.at.IsZero() {
				assert.Nil(t, taken)
			} else {
				require.NotNil(t, taken)
				assert.True(t, tc.at.Equal(*taken), "taken at %s, want %s", taken, tc.at)
				assert.Equal(t, time.UTC, taken.Location())
			}
		})
	}
}

// Both layouts are read: the camera's (IFD0 first) and the editor's
// (values first, IFD0 last).
func TestEXIFLayouts(t *testing.T) {
	at := time.Date(2026, 5, 4, 10, 30, 15, 0, time.UTC)
	for _, valuesFirst := range []bool{false, true} {
		d, ok := readEXIFDirect(evidencetest.JPEGWith(evidencetest.Photo{Lat: 38.7223, Lon: -9.1393, TakenAt: at, ValuesFirst: valuesFirst}))
		require.True(t, ok)
		require.NotNil(t, d.gps())
		assert.InDelta(t, -9.1393, d.gps().Lon, 1e-6)
		assert.True(t, at.Equal(*d.takenAt()))
	}
	_, ok := readEXIFDirect(evidencetest.PlainJPEG())
	assert.False(t, ok)
}

// The 70-byte JPEG that hung imagemeta v0.3.1's scanner forever (SOI, EOI,
// APP1, zeros) is answered at once.
func TestCraftedJPEGDoesNotHang(t *testing.T) {
	data := append([]byte{0xFF, 0xD8, 0xFF, 0xD9, 0xFF, 0xE1}, make([]byte, 64)...)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, _ = ReadPhotoMeta(data)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("ReadPhotoMeta did not return within 5 s")
	}
}

// FuzzReadPhotoMeta: untrusted bytes never panic or hang the reader.
func FuzzReadPhotoMeta(f *testing.F) {
	at := time.Date(2026, 5, 4, 10, 30, 15, 0, time.UTC)
	f.Add(evidencetest.JPEG(38.7, -9.1, at))
	f.Add(evidencetest.JPEGWith(evidencetest.Photo{Lat: -33.9, Lon: 18.4, TakenAt: at, ValuesFirst: true, BigEndian: true}))
	f.Add(append([]byte{0xFF, 0xD8, 0xFF, 0xD9, 0xFF, 0xE1}, make([]byte, 64)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, _ = ReadPhotoMeta(data)
	})
}

func TestReadPhotoMetaRefusesOrSurvives(t *testing.T) {
	_, _, err := ReadPhotoMeta(evidencetest.PNG())
	assert.ErrorIs(t, err, ErrNotJPEG)
	_, _, err = ReadPhotoMeta(evidencetest.PDF())
	assert.ErrorIs(t, err, ErrNotJPEG)
	_, _, err = ReadPhotoMeta(nil)
	assert.ErrorIs(t, err, ErrNotJPEG)

	// A damaged file is an error or no metadata, never a crash.
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	for _, full := range [][]byte{
		evidencetest.JPEG(38.7, -9.1, at),
		evidencetest.JPEGWith(evidencetest.Photo{Lat: 38.7, Lon: -9.1, TakenAt: at, ValuesFirst: true, WithOffset: true}),
	} {
		for n := 0; n < len(full); n++ {
			_, _, _ = ReadPhotoMeta(full[:n])
		}
		for i := 2; i < 400 && i < len(full); i++ {
			for _, x := range []byte{0xff, 0x80, 0x01} {
				damaged := append([]byte(nil), full...)
				damaged[i] ^= x
				_, _, _ = ReadPhotoMeta(damaged)
			}
		}
	}
}

package workforce

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones load the same on every host, tzdata installed or not
	"unicode/utf8"
)

// FieldError is a refused worker or requirement: Field names what is wrong
// by its JSON path ("skills[1].level", "availability[0].start").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Limits of a worker record.
const (
	MaxNameLen   = 200
	MaxRadiusKm  = 500
	MinLevel     = 1
	MaxLevel     = 5
	maxSkills    = 50
	maxWindows   = 50
	maxShownText = 64
)

var (
	idRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	skillRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)
	phoneRE = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	clockRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
)

// ValidID reports whether id is a well-formed worker id.
func ValidID(id string) bool { return idRE.MatchString(id) }

// Validate checks a worker; the error is a *FieldError naming the first
// field that is wrong.
func Validate(w Worker) error {
	switch {
	case w.ID == "":
		return fieldErr("id", "required")
	case !idRE.MatchString(w.ID):
		return fieldErr("id", "%q is not a worker id (1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit)", clip(w.ID))
	case strings.TrimSpace(w.Name) == "":
		return fieldErr("name", "required")
	case len(w.Name) > MaxNameLen || !utf8.ValidString(w.Name) || strings.ContainsFunc(w.Name, isControl):
		return fieldErr("name", "one line of at most %d bytes of UTF-8", MaxNameLen)
	case w.Email == "":
		return fieldErr("email", "required")
	case !plainAddress(w.Email):
		return fieldErr("email", "%q is not a plain email address (name@domain)", clip(w.Email))
	case w.Phone != "" && !phoneRE.MatchString(w.Phone):
		return fieldErr("phone", "%q is not an E.164 number (+ and 7-15 digits, e.g. +351912345678)", clip(w.Phone))
	case w.Channel == "":
		return fieldErr("channel", "required; %s or %s", ChannelEmail, ChannelSMS)
	case w.Channel != ChannelEmail && w.Channel != ChannelSMS:
		return fieldErr("channel", "%q is not a channel; %s or %s", clip(w.Channel), ChannelEmail, ChannelSMS)
	case w.Channel == ChannelSMS && w.Phone == "":
		return fieldErr("phone", "required when the channel is %s", ChannelSMS)
	}
	if err := validateSkills("skills", w.Skills); err != nil {
		return err
	}
	if err := validatePlace("", w.Lat, w.Lon); err != nil {
		return err
	}
	switch {
	case math.IsNaN(w.RadiusKm) || w.RadiusKm <= 0 || w.RadiusKm > MaxRadiusKm:
		return fieldErr("radiusKm", "must be more than 0 and at most %d", MaxRadiusKm)
	case w.TimeZone == "":
		return fieldErr("timeZone", "required: an IANA time zone such as Europe/Lisbon or UTC")
	case w.TimeZone == "Local":
		return fieldErr("timeZone", `"Local" depends on the host; name the zone, e.g. Europe/Lisbon`)
	}
	if _, err := time.LoadLocation(w.TimeZone); err != nil {
		return fieldErr("timeZone", "%q is not an IANA time zone (e.g. Europe/Lisbon, UTC)", clip(w.TimeZone))
	}
	if err := validateAvailability(w.Availability); err != nil {
		return err
	}
	switch {
	case w.Load < 0:
		return fieldErr("load", "must be 0 or more")
	case w.MaxLoad < 1:
		return fieldErr("maxLoad", "must be at least 1")
	}
	return nil
}

// ValidateRequirement checks a requirement before it is routed; the error
// is a *FieldError. Route itself accepts anything (a bad interval simply
// matches nobody's availability).
func ValidateRequirement(req Requirement) error {
	if err := validateSkills("skills", req.Skills); err != nil {
		return err
	}
	if err := validatePlace("", req.Lat, req.Lon); err != nil {
		return err
	}
	switch {
	case req.Start.IsZero():
		return fieldErr("start", "required")
	case req.End.IsZero():
		return fieldErr("end", "required")
	case !req.End.After(req.Start):
		return fieldErr("end", "must be after start")
	}
	for i, id := range req.Exclude {
		if !idRE.MatchString(id) {
			return fieldErr(fmt.Sprintf("exclude[%d]", i), "%q is not a worker id", clip(id))
		}
	}
	return nil
}

func validateSkills(field string, skills []Skill) error {
	switch {
	case len(skills) == 0:
		return fieldErr(field, "at least one skill is required")
	case len(skills) > maxSkills:
		return fieldErr(field, "at most %d skills", maxSkills)
	}
	for i, s := range skills {
		at := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case s.Name == "":
			return fieldErr(at+".name", "required")
		case !skillRE.MatchString(s.Name):
			return fieldErr(at+".name", "%q is not a skill name (1-40 of a-z, 0-9, '-', starting with a letter)", clip(s.Name))
		case s.Level < MinLevel || s.Level > MaxLevel:
			return fieldErr(at+".level", "must be %d to %d, not %d", MinLevel, MaxLevel, s.Level)
		}
		if j := slices.IndexFunc(skills[:i], func(o Skill) bool { return o.Name == s.Name }); j >= 0 {
			return fieldErr(at+".name", "duplicate skill %s (also %s[%d])", s.Name, field, j)
		}
	}
	return nil
}

func validatePlace(prefix string, lat, lon float64) error {
	switch {
	case math.IsNaN(lat) || lat < -90 || lat > 90:
		return fieldErr(prefix+"lat", "must be between -90 and 90")
	case math.IsNaN(lon) || lon < -180 || lon > 180:
		return fieldErr(prefix+"lon", "must be between -180 and 180")
	}
	return nil
}

func validateAvailability(ws []Window) error {
	switch {
	case len(ws) == 0:
		return fieldErr("availability", "at least one window is required")
	case len(ws) > maxWindows:
		return fieldErr("availability", "at most %d windows", maxWindows)
	}
	for i, win := range ws {
		at := fmt.Sprintf("availability[%d]", i)
		if len(win.Days) == 0 {
			return fieldErr(at+".days", "at least one day is required (1 = Monday .. 7 = Sunday)")
		}
		for j, d := range win.Days {
			dat := fmt.Sprintf("%s.days[%d]", at, j)
			if d < 1 || d > 7 {
				return fieldErr(dat, "must be 1 (Monday) to 7 (Sunday), not %d", d)
			}
			if slices.Contains(win.Days[:j], d) {
				return fieldErr(dat, "duplicate day %d", d)
			}
		}
		start, ok := clockSeconds(win.Start)
		if !ok {
			return fieldErr(at+".start", "%q is not a time of day HH:MM (00:00 to 23:59)", clip(win.Start))
		}
		end, ok := clockSeconds(win.End)
		if !ok {
			return fieldErr(at+".end", "%q is not a time of day HH:MM (00:00 to 23:59)", clip(win.End))
		}
		if end <= start {
			return fieldErr(at+".end", "must be after start %s (no overnight windows: split them at midnight)", win.Start)
		}
	}
	return nil
}

// clockSeconds parses "HH:MM" into seconds after midnight.
func clockSeconds(v string) (int, bool) {
	if !clockRE.MatchString(v) {
		return 0, false
	}
	return (int(v[0]-'0')*10+int(v[1]-'0'))*3600 + (int(v[3]-'0')*10+int(v[4]-'0'))*60, true
}

func plainAddress(v string) bool {
	addr, err := mail.ParseAddress(v)
	return err == nil && addr.Name == "" && addr.Address == v
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func clip(s string) string {
	if len(s) > maxShownText {
		return s[:maxShownText] + "…"
	}
	return s
}

// DecodeWorker reads one worker from JSON strictly: an unknown field or a
// value of the wrong type is a *FieldError naming it, so a typo is an error
// rather than a silently ignored setting; any other error means the JSON is
// malformed. It does not Validate.
func DecodeWorker(data []byte) (Worker, error) {
	var w Worker
	if len(bytes.TrimSpace(data)) == 0 {
		return w, bodyError("a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(&w)
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case err == nil:
	case errors.As(err, &syntaxErr):
		return Worker{}, bodyError(fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr))
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return Worker{}, fieldErr(typeErr.Field, "must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &typeErr):
		return Worker{}, bodyError("must be a JSON object, not " + typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Worker{}, fieldErr(name, "unknown field")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Worker{}, bodyError("malformed JSON: it ends early")
	default:
		return Worker{}, bodyError("malformed JSON: " + err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return Worker{}, bodyError("must be exactly one JSON object")
	}
	return w, nil
}

// bodyError is a body DecodeWorker cannot read at all: not about one field.
type bodyError string

func (e bodyError) Error() string { return string(e) }

// jsonKind names the JSON type a Go kind decodes from.
func jsonKind(kind string) string {
	switch {
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "a boolean"
	case kind == "slice" || kind == "array":
		return "an array"
	case kind == "struct" || kind == "map":
		return "an object"
	case strings.HasPrefix(kind, "int") || strings.HasPrefix(kind, "uint") || strings.HasPrefix(kind, "float"):
		return "a number"
	}
	return "a " + kind
}

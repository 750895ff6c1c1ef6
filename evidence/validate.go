package evidence

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// Question types.
const (
	QuestionText   = "text"
	QuestionBool   = "bool"
	QuestionNumber = "number"
)

// Limits of a spec.
const (
	maxPhotos    = 20
	maxDocuments = 20
	maxQuestions = 50
	maxPromptLen = 1000
)

// ValidateSpec checks an evidence spec; the error is a *FieldError naming
// the first field that is wrong ("photos[1].name"). Names of photos and
// documents are unique among both, question ids among questions; all match
// ^[a-z][a-z0-9-]{0,39}$. A photo's maxDistanceM must be positive;
// checkInMaxDistanceM is positive or 0 (the default, 200 m). A document's
// types are among image/jpeg, image/png and application/pdf (none: any of
// them).
func ValidateSpec(spec Spec) error {
	switch {
	case len(spec.Photos) > maxPhotos:
		return fieldErr("photos", "at most %d", maxPhotos)
	case len(spec.Documents) > maxDocuments:
		return fieldErr("documents", "at most %d", maxDocuments)
	case len(spec.Questions) > maxQuestions:
		return fieldErr("questions", "at most %d", maxQuestions)
	case !finite(spec.CheckInMaxDistanceM) || spec.CheckInMaxDistanceM < 0:
		return fieldErr("checkInMaxDistanceM", "must be a positive number of metres, or 0 for %d m", DefaultCheckInMaxDistanceM)
	}
	names := map[string]string{} // name -> where it was first used
	checkName := func(field, name string) error {
		switch {
		case name == "":
			return fieldErr(field, "required")
		case !nameRE.MatchString(name):
			return fieldErr(field, "%q is not a name (1-40 of a-z, 0-9 and '-', starting with a letter)", clip(name))
		case names[name] != "":
			return fieldErr(field, "%q is used twice (also %s)", name, names[name])
		}
		names[name] = field
		return nil
	}
	for i, p := range spec.Photos {
		at := fmt.Sprintf("photos[%d]", i)
		if err := checkName(at+".name", p.Name); err != nil {
			return err
		}
		if err := checkPrompt(at+".prompt", p.Prompt); err != nil {
			return err
		}
		if !finite(p.MaxDistanceM) || p.MaxDistanceM <= 0 {
			return fieldErr(at+".maxDistanceM", "must be a positive number of metres")
		}
	}
	for i, d := range spec.Documents {
		at := fmt.Sprintf("documents[%d]", i)
		if err := checkName(at+".name", d.Name); err != nil {
			return err
		}
		if err := checkPrompt(at+".prompt", d.Prompt); err != nil {
			return err
		}
		for j, t := range d.Types {
			if !slices.Contains(AllowedTypes(), t) {
				return fieldErr(fmt.Sprintf("%s.types[%d]", at, j), "%q is not one of %s", clip(t), strings.Join(AllowedTypes(), ", "))
			}
		}
	}
	ids := map[string]bool{}
	for i, q := range spec.Questions {
		at := fmt.Sprintf("questions[%d]", i)
		switch {
		case q.ID == "":
			return fieldErr(at+".id", "required")
		case !nameRE.MatchString(q.ID):
			return fieldErr(at+".id", "%q is not an id (1-40 of a-z, 0-9 and '-', starting with a letter)", clip(q.ID))
		case ids[q.ID]:
			return fieldErr(at+".id", "%q is used twice", q.ID)
		case q.Type != QuestionText && q.Type != QuestionBool && q.Type != QuestionNumber:
			return fieldErr(at+".type", "%q is not a question type; %s, %s or %s", clip(q.Type), QuestionText, QuestionBool, QuestionNumber)
		}
		ids[q.ID] = true
		if err := checkPrompt(at+".prompt", q.Prompt); err != nil {
			return err
		}
	}
	return nil
}

func checkPrompt(field, s string) error {
	if len(s) > maxPromptLen || !utf8.ValidString(s) {
		return fieldErr(field, "at most %d bytes of UTF-8", maxPromptLen)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

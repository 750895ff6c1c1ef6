// Package evidence keeps what workers upload for human tasks (photos,
// documents, signatures), content-addressed by SHA-256, and checks a
// submission against the task's evidence spec: hashes, EXIF GPS and time
// against the place, the check-in and the window, reuse across tasks, and
// that the submission is the assigned worker's for this task.
package evidence

import "time"

// Verdicts, per item and overall.
const (
	Accepted    = "accepted"
	Rejected    = "rejected"
	NeedsReview = "needs_review"
)

// GeoPoint is a position; AccuracyM is the claimed accuracy (0 unknown).
type GeoPoint struct {
	Lat       float64   `json:"lat"`
	Lon       float64   `json:"lon"`
	AccuracyM float64   `json:"accuracyM,omitempty"`
	At        time.Time `json:"at,omitempty"`
}

// PhotoSpec asks for a photo taken within MaxDistanceM of the place and
// inside the task's window.
type PhotoSpec struct {
	Name         string  `json:"name"`
	Prompt       string  `json:"prompt"`
	MaxDistanceM float64 `json:"maxDistanceM"`
	Required     bool    `json:"required"`
}

// DocumentSpec asks for a document of one of Types (MIME types).
type DocumentSpec struct {
	Name     string   `json:"name"`
	Prompt   string   `json:"prompt"`
	Types    []string `json:"types"`
	Required bool     `json:"required"`
}

// Question is one structured answer; Type is text, bool or number.
type Question struct {
	ID       string `json:"id"`
	Prompt   string `json:"prompt"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
}

// Spec is what a task's evidence must contain.
type Spec struct {
	Photos    []PhotoSpec    `json:"photos,omitempty"`
	Documents []DocumentSpec `json:"documents,omitempty"`
	Signature bool           `json:"signature,omitempty"`
	// SignedBy is whose signature it must be, by name (the customer at the
	// door); empty means the worker's own.
	SignedBy  string     `json:"signedBy,omitempty"`
	Questions []Question `json:"questions,omitempty"`
	// CheckInMaxDistanceM bounds the check-in's distance from the place
	// (0 => 200 m).
	CheckInMaxDistanceM float64 `json:"checkInMaxDistanceM,omitempty"`
}

// Signature is a drawn signature (a PNG upload) with the typed name.
type Signature struct {
	SHA256    string `json:"sha256"`
	TypedName string `json:"typedName"`
}

// Submission is what a worker sends for a task: references to uploads by
// hash, the check-in, the signature and the answers.
type Submission struct {
	TaskID    string            `json:"taskId"`
	WorkerID  string            `json:"workerId"`
	CheckIn   *GeoPoint         `json:"checkIn,omitempty"`
	Photos    map[string]string `json:"photos,omitempty"`    // spec name -> sha256
	Documents map[string]string `json:"documents,omitempty"` // spec name -> sha256
	Signature *Signature        `json:"signature,omitempty"`
	Answers   map[string]any    `json:"answers,omitempty"`
}

// Item is one checked piece of evidence.
type Item struct {
	Item    string   `json:"item"` // "photo:id-front", "document:contract", "signature", "answer:name", "check-in"
	SHA256  string   `json:"sha256,omitempty"`
	Verdict string   `json:"verdict"`
	Reasons []string `json:"reasons,omitempty"`
	// What the check read, for the record.
	GPS     *GeoPoint  `json:"gps,omitempty"`
	TakenAt *time.Time `json:"takenAt,omitempty"`
}

// Verdict is the check of one submission: rejected if any item is, else
// needs_review if any item does, else accepted.
type Verdict struct {
	Overall string `json:"overall"`
	Items   []Item `json:"items"`
}

// Upload is one stored file's metadata.
type Upload struct {
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	ContentType string    `json:"contentType"`
	TaskID      string    `json:"taskId"`
	Item        string    `json:"item"`
	UploadedBy  string    `json:"uploadedBy"`
	UploadedAt  time.Time `json:"uploadedAt"`
}

package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MaxSize is the largest state accepted: 50 MB.
const MaxSize = 50_000_000

// ErrInvalid: the body is not a Terraform state this service accepts.
var ErrInvalid = errors.New("invalid state")

// File is what the service reads out of a state file.
type File struct {
	Serial  int64
	Lineage string
	Outputs map[string]Output
}

// Output is one root module output.
type Output struct {
	Value     json.RawMessage `json:"value"`
	Type      json.RawMessage `json:"type,omitempty"`
	Sensitive bool            `json:"sensitive,omitempty"`
}

type rawState struct {
	Version          *int              `json:"version"`
	TerraformVersion string            `json:"terraform_version"`
	Serial           *json.Number      `json:"serial"`
	Lineage          *string           `json:"lineage"`
	Outputs          map[string]Output `json:"outputs"`
	Resources        []json.RawMessage `json:"resources"`
}

// Parse validates a Terraform state (format version 4, written by Terraform
// 0.12 and later) and extracts what the service stores beside it. Error
// messages name fields and offsets, never values: states hold secrets.
func Parse(data []byte) (File, error) {
	if len(data) > MaxSize {
		return File{}, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxSize)
	}
	var raw rawState
	if err := json.Unmarshal(data, &raw); err != nil {
		return File{}, fmt.Errorf("%w: not a JSON state object (%s)", ErrInvalid, describe(err))
	}
	switch {
	case raw.Version == nil:
		return File{}, fmt.Errorf("%w: no \"version\" field; is this a Terraform state?", ErrInvalid)
	case *raw.Version != 4:
		return File{}, fmt.Errorf("%w: state format version %d; only version 4 (Terraform 0.12+) is accepted", ErrInvalid, *raw.Version)
	case raw.Lineage == nil || *raw.Lineage == "":
		return File{}, fmt.Errorf("%w: no \"lineage\"", ErrInvalid)
	case len(*raw.Lineage) > 200:
		return File{}, fmt.Errorf("%w: \"lineage\" is longer than 200 characters", ErrInvalid)
	case raw.Serial == nil:
		return File{}, fmt.Errorf("%w: no \"serial\"", ErrInvalid)
	}
	serial, err := strconv.ParseUint(raw.Serial.String(), 10, 64)
	if err != nil || serial > math.MaxInt64 {
		return File{}, fmt.Errorf("%w: \"serial\" must be an integer from 0 to %d", ErrInvalid, int64(math.MaxInt64))
	}
	for name, o := range raw.Outputs {
		if len(o.Value) == 0 {
			return File{}, fmt.Errorf("%w: output %q has no value", ErrInvalid, name)
		}
	}
	if raw.Outputs == nil {
		raw.Outputs = map[string]Output{}
	}
	return File{Serial: int64(serial), Lineage: *raw.Lineage, Outputs: raw.Outputs}, nil
}

// describe turns a decoding error into words without the offending value.
func describe(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type at byte %d", typ.Field, typ.Offset)
	}
	return "malformed JSON"
}

// withSerial returns the state with its serial replaced, every other field
// kept as it was; a rollback uses it to move an old state above the current one.
func withSerial(data []byte, serial int64) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, describe(err))
	}
	// encoding/json matches field names without regard to case, as
	// Terraform's reader does, so every spelling of serial goes.
	for k := range fields {
		if strings.EqualFold(k, "serial") {
			delete(fields, k)
		}
	}
	fields["serial"] = json.RawMessage(strconv.FormatInt(serial, 10))
	return json.MarshalIndent(fields, "", "  ")
}

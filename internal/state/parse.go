package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/runplane/runplane/internal/fault"
)

// MaxSize is the largest state accepted: 50 MB.
const MaxSize = 50_000_000

// ErrInvalid: the body is not a Terraform state this service accepts.
var ErrInvalid = fault.New(fault.Invalid, "invalid_state", "invalid state")

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

// rawState mirrors the field types of Terraform's own state v4 structure
// (internal/states/statefile/version4.go in Terraform), which Terraform
// decodes with encoding/json as this does: a state accepted here decodes
// there too. Looser types would store, say, a quoted serial or a resource
// that is not an object, and every terraform reading the workspace after
// that would fail.
type rawState struct {
	Version          *uint64           `json:"version"`
	TerraformVersion string            `json:"terraform_version"`
	Serial           *uint64           `json:"serial"`
	Lineage          *string           `json:"lineage"`
	Outputs          map[string]Output `json:"outputs"`
	Resources        []struct {
		Module    string `json:"module"`
		Mode      string `json:"mode"`
		Type      string `json:"type"`
		Name      string `json:"name"`
		Each      string `json:"each"`
		Provider  string `json:"provider"`
		Instances []struct {
			IndexKey            any               `json:"index_key"`
			Status              string            `json:"status"`
			Deposed             string            `json:"deposed"`
			SchemaVersion       uint64            `json:"schema_version"`
			Attributes          json.RawMessage   `json:"attributes"`
			AttributesFlat      map[string]string `json:"attributes_flat"`
			SensitiveAttributes [][]struct {
				Type  string          `json:"type"`
				Value json.RawMessage `json:"value"`
			} `json:"sensitive_attributes"`
			IdentitySchemaVersion uint64          `json:"identity_schema_version"`
			Identity              json.RawMessage `json:"identity"`
			Private               []byte          `json:"private"`
			Dependencies          []string        `json:"dependencies"`
			CreateBeforeDestroy   bool            `json:"create_before_destroy"`
		} `json:"instances"`
	} `json:"resources"`
	CheckResults []struct {
		ObjectKind string `json:"object_kind"`
		ConfigAddr string `json:"config_addr"`
		Status     string `json:"status"`
		Objects    []struct {
			ObjectAddr      string   `json:"object_addr"`
			Status          string   `json:"status"`
			FailureMessages []string `json:"failure_messages"`
		} `json:"objects"`
	} `json:"check_results"`
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
	if *raw.Serial > MaxSerial {
		return File{}, fmt.Errorf("%w: \"serial\" must be an integer from 0 to %d", ErrInvalid, int64(MaxSerial))
	}
	if err := readableByTerraform(&raw); err != nil {
		return File{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if raw.Outputs == nil {
		raw.Outputs = map[string]Output{}
	}
	return File{Serial: int64(*raw.Serial), Lineage: *raw.Lineage, Outputs: raw.Outputs}, nil
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

// Serials are bounded so that no write can leave a workspace whose next
// version's serial (current + 1, for an apply or a rollback) does not fit:
// a state may carry at most MaxSerial, and a new version may step at most
// MaxSerialStep above the current one. Terraform adds one per write; from
// zero it takes 2^30 writes at the largest step to reach MaxSerial.
const (
	MaxSerial     = 1 << 62
	MaxSerialStep = 1 << 32
)

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

// readableByTerraform checks what Terraform's state reader checks beyond the
// field types, as far as it can be checked without Terraform's address
// parser: output names and types, resource modes, instance statuses and
// keys, attributes, dependencies, check results. Messages name the place,
// not the value.
func readableByTerraform(raw *rawState) error {
	if raw.TerraformVersion != "" && !versionPattern.MatchString(raw.TerraformVersion) {
		return errors.New(`"terraform_version" is not a version number`)
	}
	for name, o := range raw.Outputs {
		switch {
		case !validIdentifier(name):
			return errors.New("an output name is not a valid identifier")
		case len(o.Value) == 0:
			return fmt.Errorf("output %q has no value", name)
		case !validType(o.Type):
			return fmt.Errorf("output %q has no \"type\" that is a Terraform type", name)
		case !conforms(o.Value, o.Type):
			return fmt.Errorf("output %q has a value that does not have its \"type\"", name)
		}
	}
	for i, r := range raw.Resources {
		if r.Mode != "managed" && r.Mode != "data" {
			return fmt.Errorf("resources[%d]: \"mode\" must be managed or data", i)
		}
		for j, in := range r.Instances {
			at := fmt.Sprintf("resources[%d].instances[%d]", i, j)
			switch in.IndexKey.(type) {
			case nil, string, float64:
			default:
				return fmt.Errorf("%s: \"index_key\" must be a number or a string", at)
			}
			if in.Status != "" && in.Status != "tainted" {
				return fmt.Errorf("%s: \"status\" must be tainted or absent", at)
			}
			if a := bytes.TrimSpace(in.Attributes); len(a) > 0 && a[0] != '{' && string(a) != "null" {
				return fmt.Errorf("%s: \"attributes\" must be an object", at)
			}
			for _, d := range in.Dependencies {
				if !addressPattern.MatchString(d) {
					return fmt.Errorf("%s: a dependency is not a resource address", at)
				}
			}
			for _, path := range in.SensitiveAttributes {
				for _, step := range path {
					if step.Type != "get_attr" && step.Type != "index" {
						return fmt.Errorf("%s: a sensitive attribute path step is neither get_attr nor index", at)
					}
				}
			}
		}
	}
	for i, c := range raw.CheckResults {
		if !checkKinds[c.ObjectKind] || !checkStatuses[c.Status] || !addressPattern.MatchString(c.ConfigAddr) {
			return fmt.Errorf("check_results[%d]: unknown \"object_kind\", \"status\" or \"config_addr\"", i)
		}
		for j, o := range c.Objects {
			if !checkStatuses[o.Status] || !addressPattern.MatchString(o.ObjectAddr) {
				return fmt.Errorf("check_results[%d].objects[%d]: unknown \"status\" or \"object_addr\"", i, j)
			}
		}
	}
	return nil
}

var (
	// versionPattern is what hashicorp/go-version parses, loosely.
	versionPattern = regexp.MustCompile(`^v?[0-9]+(\.[0-9]+)*(-?[0-9A-Za-z.~-]+)?(\+[0-9A-Za-z.~-]+)?$`)
	// addressPattern is an address of a resource, output, check or variable,
	// as dependencies and check results hold them: a module path, then
	// [data.]type.name, output.name, check.name or var.name, maybe a key.
	addressPattern = regexp.MustCompile(`^(module\.[\pL_][\pL\pN_-]*(\[[^\]]+\])?\.)*(data\.)?[\pL_][\pL\pN_-]*\.[\pL_][\pL\pN_-]*(\[[^\]]+\])?$`)
	checkKinds     = map[string]bool{"resource": true, "output": true, "check": true, "var": true}
	checkStatuses  = map[string]bool{"pass": true, "fail": true, "error": true, "unknown": true}
)

// validIdentifier is HCL's rule for names: a letter or underscore, then
// letters, digits, underscores and dashes.
func validIdentifier(s string) bool {
	for i, r := range s {
		if !(unicode.IsLetter(r) || r == '_' || i > 0 && (unicode.IsDigit(r) || r == '-')) {
			return false
		}
	}
	return s != ""
}

// validType reports whether raw is a type in cty's JSON form, as Terraform
// records an output's type: "string", ["list", "number"], ["object", {…}] …
func validType(raw json.RawMessage) bool {
	var name string
	if json.Unmarshal(raw, &name) == nil {
		return name == "string" || name == "number" || name == "bool" || name == "dynamic"
	}
	var parts []json.RawMessage
	if json.Unmarshal(raw, &parts) != nil || len(parts) < 2 || json.Unmarshal(parts[0], &name) != nil {
		return false
	}
	switch name {
	case "list", "set", "map":
		return len(parts) == 2 && validType(parts[1])
	case "tuple":
		var elems []json.RawMessage
		if len(parts) != 2 || json.Unmarshal(parts[1], &elems) != nil {
			return false
		}
		for _, e := range elems {
			if !validType(e) {
				return false
			}
		}
		return true
	case "object":
		var attrs map[string]json.RawMessage
		if len(parts) > 3 || json.Unmarshal(parts[1], &attrs) != nil || attrs == nil {
			return false
		}
		for _, a := range attrs {
			if !validType(a) {
				return false
			}
		}
		var optional []string
		return len(parts) == 2 || json.Unmarshal(parts[2], &optional) == nil
	}
	return false
}

// conforms reports whether value, in cty's JSON form, has type typ (which
// validType accepted): what Terraform checks when it loads an output.
func conforms(value, typ json.RawMessage) bool {
	value = bytes.TrimSpace(value)
	if string(value) == "null" {
		return true
	}
	var name string
	if json.Unmarshal(typ, &name) == nil {
		var v any
		if json.Unmarshal(value, &v) != nil {
			return false
		}
		switch name {
		case "string":
			_, ok := v.(string)
			return ok
		case "number":
			_, ok := v.(float64)
			return ok
		case "bool":
			_, ok := v.(bool)
			return ok
		}
		return true // dynamic: stored with its own type, not checked here
	}
	var parts []json.RawMessage
	_ = json.Unmarshal(typ, &parts)
	_ = json.Unmarshal(parts[0], &name)
	switch name {
	case "list", "set", "tuple":
		var elems []json.RawMessage
		if json.Unmarshal(value, &elems) != nil {
			return false
		}
		var types []json.RawMessage
		if name == "tuple" {
			if json.Unmarshal(parts[1], &types); len(types) != len(elems) {
				return false
			}
		}
		for i, e := range elems {
			t := parts[1]
			if name == "tuple" {
				t = types[i]
			}
			if !conforms(e, t) {
				return false
			}
		}
		return true
	case "map", "object":
		var fields map[string]json.RawMessage
		if json.Unmarshal(value, &fields) != nil || fields == nil {
			return false
		}
		var attrs map[string]json.RawMessage
		if name == "object" {
			_ = json.Unmarshal(parts[1], &attrs)
		}
		for k, f := range fields {
			t := parts[1]
			if name == "object" {
				var ok bool
				if t, ok = attrs[k]; !ok {
					return false
				}
			}
			if !conforms(f, t) {
				return false
			}
		}
		return true
	}
	return false
}

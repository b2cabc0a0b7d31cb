package state

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse: Parse never panics, refuses with ErrInvalid only, and what it
// accepts is a version-4 state whose serial a rollback can move while
// keeping lineage and outputs.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":4,"terraform_version":"1.11.0","serial":3,"lineage":"l","outputs":{"a":{"value":1,"type":"number"}},"resources":[]}`))
	f.Add([]byte(`{"version":4,"serial":0,"lineage":"x","outputs":{"s":{"value":"p","type":"string","sensitive":true}}}`))
	f.Add([]byte(`{"version":3,"serial":1,"lineage":"x"}`))
	f.Add([]byte(`{"version":4,"serial":-1,"lineage":"x"}`))
	f.Add([]byte(`{"version":4,"serial":1e3,"lineage":"x"}`))
	f.Add([]byte(`{"version":4,"serial":18446744073709551615,"lineage":"x"}`))
	f.Add([]byte(`{"version":4,"serial":1,"lineage":""}`))
	f.Add([]byte(`{"version":4,"serial":1,"lineage":"x","outputs":{"a":{}}}`))
	f.Add([]byte(`{"version":4,"serial":1,"lineage":"x"} {}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refusal is not ErrInvalid: %v", err)
			}
			return
		}
		if file.Serial < 0 || file.Lineage == "" || file.Outputs == nil {
			t.Fatalf("accepted a bad state: %+v", file)
		}
		moved, err := withSerial(data, file.Serial+1)
		if file.Serial == 1<<63-1 {
			return
		}
		if err != nil {
			t.Fatalf("withSerial: %v", err)
		}
		again, err := Parse(moved)
		if err != nil {
			t.Fatalf("rolled-back state does not parse: %v\n%s", err, moved)
		}
		if again.Serial != file.Serial+1 || again.Lineage != file.Lineage || len(again.Outputs) != len(file.Outputs) {
			t.Fatalf("rollback changed more than the serial: %+v -> %+v", file, again)
		}
		for name, o := range file.Outputs {
			if !jsonEqual(o.Value, again.Outputs[name].Value) || o.Sensitive != again.Outputs[name].Sensitive {
				t.Fatalf("output %q changed", name)
			}
		}
	})
}

func TestParseMessagesNeverQuoteValues(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"version":4,"serial":"topsecret","lineage":"x"}`,
		`{"version":4,"serial":1,"lineage":"x","outputs":{"a":{"value":"topsecret","sensitive":"topsecret"}}}`,
		`{"version":4,"serial":1,"lineage":"x","outputs":{"topsecret`,
	} {
		_, err := Parse([]byte(body))
		if err == nil || bytes.Contains([]byte(err.Error()), []byte("topsecret")) {
			t.Errorf("error for %s: %v", body, err)
		}
	}
}

package state

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// terraformState is a state as Terraform 1.11 writes it, with one of each
// part Parse looks into.
const terraformState = `{
  "version": 4, "terraform_version": "1.11.4", "serial": 3, "lineage": "3f1c9a2e",
  "outputs": {"cidr": {"value": "10.0.0.0/16", "type": "string"}, "ports": {"value": [80], "type": ["list", "number"], "sensitive": true}},
  "resources": [{
    "mode": "managed", "type": "terraform_data", "name": "net", "each": "list",
    "provider": "provider[\"terraform.io/builtin/terraform\"]",
    "instances": [{"index_key": 0, "schema_version": 0, "attributes": {"id": "a"}, "sensitive_attributes": [],
                   "private": "bnVsbA==", "dependencies": ["module.m[\"k\"].terraform_data.other"], "create_before_destroy": true}]
  }],
  "check_results": [{"object_kind": "resource", "config_addr": "terraform_data.net", "status": "pass",
                     "objects": [{"object_addr": "terraform_data.net[0]", "status": "pass"}]}]
}`

// Every state the service accepts must be one Terraform can read, or the
// workspace is broken for every run after it. Each value of a real state is
// replaced in turn by values of every JSON kind; whatever Parse accepts,
// the real terraform binary must read (`terraform state list -state=…`).
func TestAcceptedStatesAreReadableByTerraform(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatal("terraform is not on PATH: this test checks accepted states against the real terraform binary (1.x)")
	}
	var base any
	if err := json.Unmarshal([]byte(terraformState), &base); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{"as written": []byte(terraformState)}
	replacements := []any{"x", "", 5.0, -1.0, 1.5, true, nil, []any{}, map[string]any{}, []any{"x"}}
	for path, mutant := range mutants(base, replacements) {
		raw, err := json.Marshal(mutant)
		if err != nil {
			t.Fatal(err)
		}
		cases[path] = raw
	}
	// Keys as well as values: output names, and a serial quoted as a string.
	cases["output name with a space"] = []byte(`{"version":4,"serial":1,"lineage":"l","outputs":{"a b":{"value":1}}}`)
	cases["quoted serial"] = []byte(`{"version":4,"serial":"1","lineage":"l"}`)

	dir := t.TempDir()
	cliConfig := filepath.Join(dir, "terraformrc")
	if err := os.WriteFile(cliConfig, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	type verdict struct {
		name   string
		readOK bool
		out    string
	}
	results := make(chan verdict, len(cases))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	i := 0
	refused := 0
	for name, data := range cases {
		if _, err := Parse(data); err != nil {
			if name == "as written" {
				t.Fatalf("the state as Terraform writes it was refused: %v", err)
			}
			refused++
			continue // refusing is always safe; only acceptance needs terraform's word
		}
		i++
		file := filepath.Join(dir, fmt.Sprintf("%d.tfstate", i))
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command(bin, "state", "list", "-state="+file)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig, "CHECKPOINT_DISABLE=1")
			out, err := cmd.CombinedOutput()
			results <- verdict{name, err == nil, string(out)}
		}()
	}
	wg.Wait()
	close(results)
	accepted := 0
	for v := range results {
		accepted++
		if !v.readOK {
			t.Errorf("%s: accepted, but terraform cannot read it:\n%s", v.name, v.out)
		}
	}
	t.Logf("%d states accepted, %d refused", accepted, refused)
}

// mutants returns, for every value inside v, a copy of v with that value
// replaced by each replacement, keyed by the value's path.
func mutants(v any, replacements []any) map[string]any {
	out := map[string]any{}
	var walk func(path string, cur any, set func(any) any)
	walk = func(path string, cur any, set func(any) any) {
		for i, r := range replacements {
			out[fmt.Sprintf("%s := #%d %v", path, i, r)] = set(r)
		}
		switch c := cur.(type) {
		case map[string]any:
			for k, child := range c {
				walk(path+"."+k, child, func(r any) any {
					cp := make(map[string]any, len(c))
					for kk, vv := range c {
						cp[kk] = vv
					}
					cp[k] = r
					return set(cp)
				})
			}
		case []any:
			for i, child := range c {
				walk(fmt.Sprintf("%s[%d]", path, i), child, func(r any) any {
					cp := append([]any(nil), c...)
					cp[i] = r
					return set(cp)
				})
			}
		}
	}
	walk("$", v, func(r any) any { return r })
	return out
}

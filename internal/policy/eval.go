package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/runplane/runplane/internal/validate"
)

// forbidden builtins reach outside the evaluation: the network, or the
// process environment, where the platform's own secrets live.
var forbidden = []string{"http.send", "net.lookup_ip_addr", "net.cidr_expand", "opa.runtime"}

// capabilities are OPA's builtins less the forbidden ones.
var capabilities = func() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(c.Builtins, func(b *ast.Builtin) bool { return slices.Contains(forbidden, b.Name) })
	return c
}()

// evalTimeout bounds one policy's evaluation, so a runaway policy fails
// instead of holding the run; checkTimeout bounds all of a run's policies
// together, so the agent's finish that runs the check stays inside the
// claim function's 29 s. A policy not evaluated in time fails.
const (
	evalTimeout  = 10 * time.Second
	checkTimeout = 20 * time.Second
)

// compile parses and type-checks a policy. Its errors are the caller's to
// fix and say where (line and column of the policy text).
func compile(name, text string) (*ast.Module, error) {
	mod, err := ast.ParseModuleWithOpts(name+".rego", text, ast.ParserOptions{RegoVersion: ast.RegoV1, Capabilities: capabilities})
	if err != nil {
		return nil, validate.Errorf("rego does not parse: %v", err)
	}
	if !slices.ContainsFunc(mod.Rules, func(r *ast.Rule) bool { return r.Head.Ref().String() == "deny" }) {
		return nil, validate.Errorf("rego has no deny rule: define `deny contains msg if { … }`")
	}
	c := ast.NewCompiler().WithCapabilities(capabilities)
	if c.Compile(map[string]*ast.Module{name: mod}); c.Failed() {
		return nil, validate.Errorf("rego does not compile: %v", c.Errors)
	}
	return mod, nil
}

// planInput turns a plan JSON into OPA's value once, for every policy.
func planInput(plan []byte) (ast.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(plan))
	dec.UseNumber()
	var input any
	if err := dec.Decode(&input); err != nil {
		return nil, fmt.Errorf("the plan JSON does not parse: %w", err)
	}
	return ast.InterfaceToValue(input)
}

// evaluate runs one policy against a plan and returns its deny messages.
func evaluate(ctx context.Context, mod *ast.Module, input ast.Value) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, evalTimeout)
	defer cancel()
	rs, err := rego.New(
		rego.Query(mod.Package.Path.String()+".deny"),
		rego.ParsedModule(mod),
		rego.ParsedInput(input),
		rego.Capabilities(capabilities),
		rego.StrictBuiltinErrors(true),
	).Eval(ctx)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, nil // deny is undefined: nothing denied
	}
	switch v := rs[0].Expressions[0].Value.(type) {
	case []any:
		msgs := make([]string, 0, len(v))
		for _, m := range v {
			if s, ok := m.(string); ok {
				msgs = append(msgs, s)
			} else {
				b, _ := json.Marshal(m)
				msgs = append(msgs, string(b))
			}
		}
		slices.Sort(msgs)
		return msgs, nil
	case bool:
		if v {
			return []string{"denied"}, nil
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("deny is a %T, not a set of messages", v)
	}
}

// describeError keeps an evaluation error to one line without the plan.
func describeError(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}

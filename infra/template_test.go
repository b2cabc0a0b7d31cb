// Package infra_test checks the SAM template against the code it deploys.
package infra_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type function struct {
	Type       string `yaml:"Type"`
	Properties struct {
		CodeUri     string `yaml:"CodeUri"`
		Environment struct {
			Variables map[string]any `yaml:"Variables"`
		} `yaml:"Environment"`
		Policies any `yaml:"Policies"`
		Events   map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				FunctionResponseTypes []string `yaml:"FunctionResponseTypes"`
			} `yaml:"Properties"`
		} `yaml:"Events"`
	} `yaml:"Properties"`
}

// functions reads the template's AWS::Serverless::Function resources.
// CloudFormation's short intrinsics (!Ref, !GetAtt, !Sub) decode as the
// plain values they tag.
func functions(t *testing.T) map[string]function {
	t.Helper()
	src, err := os.ReadFile("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]function `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(src, &tpl); err != nil {
		t.Fatalf("template.yaml does not parse: %v", err)
	}
	fns := map[string]function{}
	for name, r := range tpl.Resources {
		if r.Type == "AWS::Serverless::Function" {
			fns[name] = r
		}
	}
	if len(fns) == 0 {
		t.Fatal("template.yaml has no functions")
	}
	return fns
}

// Every function's code is a main package under functions/, and every
// main package there is deployed.
func TestEveryFunctionHasItsCode(t *testing.T) {
	t.Parallel()
	deployed := map[string]bool{}
	for name, fn := range functions(t) {
		dir := filepath.Clean(fn.Properties.CodeUri)
		deployed[dir] = true
		src, err := os.ReadFile(filepath.Join("..", dir, "main.go"))
		if err != nil || !strings.Contains(string(src), "package main") {
			t.Errorf("%s: CodeUri %q has no main package: %v", name, fn.Properties.CodeUri, err)
		}
	}
	entries, err := os.ReadDir("../functions")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if dir := filepath.Join("functions", e.Name()); e.IsDir() && !deployed[dir] {
			t.Errorf("%s is not deployed by template.yaml", dir)
		}
	}
}

// The trigger fan-out is wired end to end: the claim function (the agents'
// finish) is told the queue and may send to it, and the fanout function
// consumes it reporting partial batch failures.
func TestFanoutQueueIsWired(t *testing.T) {
	t.Parallel()
	fns := functions(t)
	claim, ok := fns["ClaimFunction"]
	fanout, ok2 := fns["FanoutFunction"]
	if !ok || !ok2 {
		t.Fatal("ClaimFunction and FanoutFunction must exist")
	}
	if claim.Properties.Environment.Variables["RUNPLANE_FANOUT_QUEUE_URL"] == nil {
		t.Error("ClaimFunction is not given RUNPLANE_FANOUT_QUEUE_URL")
	}
	if policies := fmt.Sprint(claim.Properties.Policies); !strings.Contains(policies, "sqs:SendMessage") {
		t.Errorf("ClaimFunction may not sqs:SendMessage: %s", policies)
	}
	var sqsEvents int
	for _, ev := range fanout.Properties.Events {
		if ev.Type != "SQS" {
			continue
		}
		sqsEvents++
		if !slices.Contains(ev.Properties.FunctionResponseTypes, "ReportBatchItemFailures") {
			t.Error("FanoutFunction's SQS event does not report partial batch failures")
		}
	}
	if sqsEvents != 1 {
		t.Errorf("FanoutFunction has %d SQS events, want 1", sqsEvents)
	}
}

// Package infra_test checks the SAM template against the code it deploys.
package infra_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type function struct {
	Type       string `yaml:"Type"`
	Properties struct {
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

// Every function is built by the Makefile's build-<Function> target (what
// `sam build` runs for BuildMethod makefile) from a main package under
// functions/, and every main package there is deployed.
func TestEveryFunctionHasItsCode(t *testing.T) {
	t.Parallel()
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	deployed := map[string]bool{}
	for name := range functions(t) {
		target := regexp.MustCompile(`(?m)^build-` + name + `:\n\t\$\(LAMBDA_BUILD\) \./(functions/[a-z]+)$`).FindSubmatch(makefile)
		if target == nil {
			t.Errorf("%s: the Makefile has no build-%s target building a functions/ package", name, name)
			continue
		}
		dir := string(target[1])
		deployed[dir] = true
		src, err := os.ReadFile(filepath.Join("..", dir, "main.go"))
		if err != nil || !strings.Contains(string(src), "package main") {
			t.Errorf("%s: %s has no main package: %v", name, dir, err)
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

// The event log is wired end to end: the claim function (the agents'
// finish) is told the queue and may send to it, and the events function
// consumes it reporting partial batch failures.
func TestEventsQueueIsWired(t *testing.T) {
	t.Parallel()
	fns := functions(t)
	claim, ok := fns["ClaimFunction"]
	consumer, ok2 := fns["EventsFunction"]
	if !ok || !ok2 {
		t.Fatal("ClaimFunction and EventsFunction must exist")
	}
	if claim.Properties.Environment.Variables["RUNPLANE_EVENTS_QUEUE_URL"] == nil {
		t.Error("ClaimFunction is not given RUNPLANE_EVENTS_QUEUE_URL")
	}
	if policies := fmt.Sprint(claim.Properties.Policies); !strings.Contains(policies, "sqs:SendMessage") {
		t.Errorf("ClaimFunction may not sqs:SendMessage: %s", policies)
	}
	var sqsEvents int
	for _, ev := range consumer.Properties.Events {
		if ev.Type != "SQS" {
			continue
		}
		sqsEvents++
		if !slices.Contains(ev.Properties.FunctionResponseTypes, "ReportBatchItemFailures") {
			t.Error("EventsFunction's SQS event does not report partial batch failures")
		}
	}
	if sqsEvents != 1 {
		t.Errorf("EventsFunction has %d SQS events, want 1", sqsEvents)
	}
}

// grant is an IAM action on the state bucket's objects under a prefix, or
// on another resource (prefix "": the state key, a secret).
type grant struct{ action, prefix string }

// granted lists a function's grants from its inline policy statements.
func granted(fn function) map[grant]bool {
	out := map[grant]bool{}
	list := func(v any) []string {
		switch v := v.(type) {
		case string:
			return []string{v}
		case []any:
			var s []string
			for _, x := range v {
				s = append(s, fmt.Sprint(x))
			}
			return s
		}
		return nil
	}
	policies, _ := fn.Properties.Policies.([]any)
	for _, p := range policies {
		statements, _ := p.(map[string]any)["Statement"].([]any)
		for _, st := range statements {
			st, _ := st.(map[string]any)
			if st["Effect"] != "Allow" {
				continue
			}
			for _, action := range list(st["Action"]) {
				for _, res := range list(st["Resource"]) {
					prefix := ""
					if _, after, ok := strings.Cut(res, "${StateBucket.Arn}/"); ok {
						prefix = strings.TrimSuffix(after, "*")
					} else if strings.HasPrefix(action, "secretsmanager:") {
						prefix = res // the secret's parameter
					}
					out[grant{action, prefix}] = true
				}
			}
		}
	}
	return out
}

// Each function may touch exactly the sealed objects its code reads and
// writes: a prefix the code writes under that no function may write, or a
// function missing a grant its code path needs, fails here instead of as
// AccessDenied in production.
func TestStoragePermissionsMatchTheCode(t *testing.T) {
	t.Parallel()
	needs := map[string][]grant{
		// State backend reads and writes, configuration uploads (and the TFE
		// API's downloads), plan JSON (TFE API), logs of ended phases.
		"ApiFunction": {{"s3:GetObject", "state/"}, {"s3:PutObject", "state/"}, {"s3:PutObject", "config/"}, {"s3:GetObject", "config/"},
			{"s3:GetObject", "runs/"}, {"s3:GetObject", "logs/"}, {"kms:GenerateDataKey", ""}, {"kms:Decrypt", ""}},
		// Agents download configurations and move plan files; a finished
		// phase's log is archived.
		"ClaimFunction": {{"s3:GetObject", "config/"}, {"s3:GetObject", "runs/"}, {"s3:PutObject", "runs/"}, {"s3:PutObject", "logs/"}, {"kms:GenerateDataKey", ""}, {"kms:Decrypt", ""}},
		// The sweep's events (policy checks, outputs_changed edges); reaped jobs' logs.
		"SchedulerFunction": {{"s3:GetObject", "runs/"}, {"s3:PutObject", "logs/"}, {"kms:GenerateDataKey", ""}, {"kms:Decrypt", ""}},
		// Policy checks read plan JSON; outputs_changed edges open sealed outputs.
		"EventsFunction": {{"s3:GetObject", "runs/"}, {"kms:Decrypt", ""}},
	}
	fns := functions(t)
	written := map[string]bool{}
	for name, want := range needs {
		got := granted(fns[name])
		for _, g := range want {
			if !got[g] {
				t.Errorf("%s lacks %s on %q", name, g.action, g.prefix)
			}
			if g.action == "s3:PutObject" {
				written[g.prefix] = true
			}
		}
	}
	// The prefixes the code stores sealed objects under: every blob key is
	// built as "<prefix>/%s/…", whether the server puts the object or signs
	// a client's upload of it.
	put := regexp.MustCompile(`fmt\.Sprintf\("([a-z]+/)%s`)
	err := filepath.WalkDir("../internal", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		for _, m := range put.FindAllStringSubmatch(string(src), -1) {
			if !written[m[1]] {
				t.Errorf("%s stores objects under %q, which no function may write", path, m[1])
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 4 {
		t.Errorf("prefixes written: %v", written)
	}
}

// A secret reaches the functions that use it and no other: the API the
// admin token, the claim function the agent token, every function the
// database URL. Each is named by ARN and read at start, never resolved
// into a function's configuration, and each function may read exactly
// its own secrets (platform.Needs says what each requires at start).
func TestSecretsReachOnlyTheFunctionsThatUseThem(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(src), "{{resolve:secretsmanager") {
		t.Error("a secret is resolved into the template's configuration")
	}
	var tpl struct {
		Globals struct {
			Function struct {
				Environment struct {
					Variables map[string]any `yaml:"Variables"`
				} `yaml:"Environment"`
			} `yaml:"Function"`
		} `yaml:"Globals"`
	}
	if err := yaml.Unmarshal(src, &tpl); err != nil {
		t.Fatal(err)
	}
	if tpl.Globals.Function.Environment.Variables["DATABASE_URL_SECRET_ARN"] == nil {
		t.Error("the functions are not told the database URL's secret")
	}
	users := map[string]string{"RUNPLANE_ADMIN_TOKEN_SECRET_ARN": "ApiFunction", "RUNPLANE_AGENT_TOKEN_SECRET_ARN": "ClaimFunction"}
	for secret := range users {
		if tpl.Globals.Function.Environment.Variables[secret] != nil {
			t.Errorf("%s is in every function's environment (Globals)", secret)
		}
	}
	readable := map[string][]string{
		"ApiFunction": {"DatabaseUrlSecretArn", "AdminTokenSecretArn"}, "ClaimFunction": {"DatabaseUrlSecretArn", "AgentTokenSecretArn"},
		"SchedulerFunction": {"DatabaseUrlSecretArn"}, "EventsFunction": {"DatabaseUrlSecretArn"},
	}
	for name, fn := range functions(t) {
		for secret, user := range users {
			has := fn.Properties.Environment.Variables[secret] != nil
			if has != (name == user) {
				t.Errorf("%s has %s: %v, want %v", name, secret, has, name == user)
			}
		}
		var got []string
		for g := range granted(fn) {
			if g.action == "secretsmanager:GetSecretValue" {
				got = append(got, g.prefix)
			}
		}
		slices.Sort(got)
		if want := slices.Sorted(slices.Values(readable[name])); !slices.Equal(got, want) {
			t.Errorf("%s may read secrets %v, want %v", name, got, want)
		}
	}
}

// resources reads every resource of the template with its policies.
func resources(t *testing.T) map[string]struct {
	Type                string         `yaml:"Type"`
	Condition           string         `yaml:"Condition"`
	DeletionPolicy      string         `yaml:"DeletionPolicy"`
	UpdateReplacePolicy string         `yaml:"UpdateReplacePolicy"`
	Properties          map[string]any `yaml:"Properties"`
} {
	t.Helper()
	src, err := os.ReadFile("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type                string         `yaml:"Type"`
			Condition           string         `yaml:"Condition"`
			DeletionPolicy      string         `yaml:"DeletionPolicy"`
			UpdateReplacePolicy string         `yaml:"UpdateReplacePolicy"`
			Properties          map[string]any `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(src, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl.Resources
}

// What holds data outlives the stack: deleting it or replacing one of
// these must not destroy the key every state's data key is wrapped by,
// the sealed objects, or undelivered events. Every function's logs are
// kept for a bounded time, and the tick's schedule is named per stack.
func TestDataIsRetainedAndLogsExpire(t *testing.T) {
	t.Parallel()
	res := resources(t)
	for _, kind := range []string{"AWS::KMS::Key", "AWS::S3::Bucket", "AWS::SQS::Queue"} {
		found := 0
		for name, r := range res {
			if r.Type != kind {
				continue
			}
			found++
			if r.DeletionPolicy != "Retain" || r.UpdateReplacePolicy != "Retain" {
				t.Errorf("%s (%s): DeletionPolicy %q, UpdateReplacePolicy %q; want Retain", name, kind, r.DeletionPolicy, r.UpdateReplacePolicy)
			}
		}
		if found == 0 {
			t.Errorf("no %s in the template", kind)
		}
	}
	groups := map[string]bool{}
	for _, r := range res {
		if r.Type == "AWS::Logs::LogGroup" && r.Properties["RetentionInDays"] != nil {
			groups[fmt.Sprint(r.Properties["LogGroupName"])] = true
		}
	}
	for name := range functions(t) {
		if !groups["/aws/lambda/${"+name+"}"] {
			t.Errorf("%s has no log group with a retention", name)
		}
	}
	// Logs and plan files expire with the bucket's lifecycle; states and
	// configurations (a workspace's latest may be years old) never do.
	rules := fmt.Sprint(res["StateBucket"].Properties["LifecycleConfiguration"])
	for _, prefix := range []string{"runs/", "logs/"} {
		if !strings.Contains(rules, "Prefix:"+prefix) {
			t.Errorf("no lifecycle rule expires %s: %s", prefix, rules)
		}
	}
	for _, prefix := range []string{"state/", "config/"} {
		if strings.Contains(rules, prefix) {
			t.Errorf("a lifecycle rule touches %s: %s", prefix, rules)
		}
	}
	tick := fmt.Sprint(res["SchedulerFunction"].Properties["Events"])
	if !strings.Contains(tick, "${AWS::StackName}") {
		t.Errorf("the tick's schedule is not named per stack: %s", tick)
	}
}

// cfn-lint, informational checks included, finds nothing in the template
// as SAM translates it: what it would say is fixed, not ignored.
func TestCfnLintIsClean(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatal("cfn-lint is not on PATH: the deploy check lints template.yaml with it (Python package cfn-lint, which brings the SAM translator)")
	}
	out, err := exec.Command(bin, "--include-checks", "I", "--", "../template.yaml").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("cfn-lint: %v\n%s", err, out)
	}
}

// The tick can launch agents, and an agent task gets only what it needs:
// the scheduler function knows the cluster, task definition, network and
// pool and may run and list tasks there and pass the execution role; the
// task has no role of its own (a run's terraform gets no AWS credentials
// from the platform) and receives the agent token as a secret, never as
// plain environment.
func TestAgentTasksAreWired(t *testing.T) {
	t.Parallel()
	fns := functions(t)
	scheduler := fns["SchedulerFunction"]
	for _, v := range []string{"RUNPLANE_AGENT_POOL_SIZE", "RUNPLANE_AGENT_ECS_CLUSTER", "RUNPLANE_AGENT_ECS_TASK_DEFINITION",
		"RUNPLANE_AGENT_ECS_SUBNETS", "RUNPLANE_AGENT_ECS_SECURITY_GROUPS"} {
		if scheduler.Properties.Environment.Variables[v] == nil {
			t.Errorf("SchedulerFunction is not given %s", v)
		}
	}
	policies := fmt.Sprint(scheduler.Properties.Policies)
	for _, action := range []string{"ecs:RunTask", "ecs:ListTasks", "iam:PassRole"} {
		if !strings.Contains(policies, action) {
			t.Errorf("SchedulerFunction may not %s", action)
		}
	}
	for name, fn := range fns {
		if name != "SchedulerFunction" && strings.Contains(fmt.Sprint(fn.Properties.Policies), "ecs:") {
			t.Errorf("%s may call ECS", name)
		}
	}
	task := resources(t)["AgentTaskDefinition"]
	if task.Type != "AWS::ECS::TaskDefinition" {
		t.Fatalf("AgentTaskDefinition is %q", task.Type)
	}
	if task.Properties["TaskRoleArn"] != nil {
		t.Error("agent tasks have a task role: a run's terraform could use its credentials")
	}
	names := func(list any) []string {
		var out []string
		items, _ := list.([]any)
		for _, it := range items {
			m, _ := it.(map[string]any)
			out = append(out, fmt.Sprint(m["Name"]))
		}
		return out
	}
	containers, _ := task.Properties["ContainerDefinitions"].([]any)
	if len(containers) != 1 {
		t.Fatalf("agent task containers: %v", containers)
	}
	agent, _ := containers[0].(map[string]any)
	if !slices.Contains(names(agent["Secrets"]), "RUNPLANE_AGENT_TOKEN") || slices.Contains(names(agent["Environment"]), "RUNPLANE_AGENT_TOKEN") {
		t.Errorf("the agent token does not reach the task as a secret only: secrets %v, environment %v", names(agent["Secrets"]), names(agent["Environment"]))
	}
	if !slices.Contains(names(agent["Environment"]), "RUNPLANE_URL") {
		t.Error("agent tasks are not told the API's URL")
	}
}

// Every function's failures raise an alarm, as do the events queue's dead
// letters, when an operator names a topic; none exist without one.
func TestFailuresRaiseAlarms(t *testing.T) {
	t.Parallel()
	res := resources(t)
	alarmed := map[string]bool{}
	deadLetters := false
	for name, r := range res {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		if r.Condition != "HasAlarms" {
			t.Errorf("%s is created without an alarm topic", name)
		}
		dims := fmt.Sprint(r.Properties["Dimensions"])
		for fn := range functions(t) {
			if r.Properties["MetricName"] == "Errors" && strings.Contains(dims, "Value:"+fn+"]") {
				alarmed[fn] = true
			}
		}
		deadLetters = deadLetters || strings.Contains(dims, "EventsDeadLetterQueue")
	}
	for fn := range functions(t) {
		if !alarmed[fn] {
			t.Errorf("%s has no Errors alarm", fn)
		}
	}
	if !deadLetters {
		t.Error("the events queue's dead letters raise no alarm")
	}
}

// The template as CloudFormation will run it: translated by the SAM
// translator (infra/samcheck/translate.py), every function has its role
// carrying the inline statements the other tests check, VPC access when
// placed in one, and the tick's schedule its per-stack name.
func TestSAMTranslation(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is not on PATH: the deploy check translates template.yaml with the SAM translator (Python package aws-sam-translator, which cfn-lint brings)")
	}
	out, err := exec.Command(python, "samcheck/translate.py", "../template.yaml", "{}").Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("SAM translation failed: %v\n%s", err, exit.Stderr)
		}
		t.Fatalf("SAM translation: %v", err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string         `json:"Type"`
			Properties map[string]any `json:"Properties"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(out, &tpl); err != nil {
		t.Fatal(err)
	}
	for name := range functions(t) {
		fn, role := tpl.Resources[name], tpl.Resources[name+"Role"]
		if fn.Type != "AWS::Lambda::Function" || role.Type != "AWS::IAM::Role" {
			t.Errorf("%s translates to %q with role %q", name, fn.Type, role.Type)
			continue
		}
		policies := fmt.Sprint(role.Properties["Policies"])
		if !strings.Contains(policies, "secretsmanager:GetSecretValue") {
			t.Errorf("%s's role lost its inline statements: %s", name, policies)
		}
		if fn.Properties["VpcConfig"] != nil && !strings.Contains(fmt.Sprint(role.Properties["ManagedPolicyArns"]), "AWSLambdaVPCAccessExecutionRole") {
			t.Errorf("%s may be placed in a VPC but its role cannot create network interfaces", name)
		}
	}
	schedules := 0
	for _, r := range tpl.Resources {
		if r.Type == "AWS::Scheduler::Schedule" {
			schedules++
			if !strings.Contains(fmt.Sprint(r.Properties["Name"]), "${AWS::StackName}") {
				t.Errorf("the translated schedule is named %v", r.Properties["Name"])
			}
		}
	}
	if schedules != 1 {
		t.Errorf("%d schedules, want the tick's", schedules)
	}
}

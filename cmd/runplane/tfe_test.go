package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"
)

// go-tfe drives whole runs against runplane server with its real agents
// and terraform: an upload that queues its run, a confirmed apply whose
// plan and apply logs read live, the state versions and outputs it made
// (a sensitive one on request only), refresh-only and targeted runs, a
// discard and a force-cancel.
func TestGoTFEDrivesRuns(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	ctx := context.Background()
	c, err := tfe.NewClient(&tfe.Config{Address: s.base, Token: s.token, RetryServerErrors: false})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("net")})
	if err != nil {
		t.Fatal(err)
	}
	wait := func(id string, want ...tfe.RunStatus) *tfe.Run {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			r, err := c.Runs.Read(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range want {
				if r.Status == w {
					return r
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s is %s, want %v\n%s", id, r.Status, want, s.log)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	upload := func(auto bool, main string) *tfe.ConfigurationVersion {
		t.Helper()
		cv, err := c.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(auto)})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "main.tf"), main)
		if err := c.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir); err != nil {
			t.Fatal(err)
		}
		return cv
	}
	readAll := func(r io.Reader, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	// Uploading with auto-queue-runs queues the workspace's run.
	upload(true, `
resource "terraform_data" "a" { input = "one" }
resource "terraform_data" "b" { input = "two" }
output "a" { value = terraform_data.a.output }
output "token" {
  value     = "t0ken"
  sensitive = true
}
`)
	var first *tfe.Run
	for deadline := time.Now().Add(30 * time.Second); first == nil; {
		list, err := c.Runs.List(ctx, ws.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) == 1 {
			first = list.Items[0]
		} else if time.Now().After(deadline) {
			t.Fatal("the upload queued no run")
		}
	}
	// The plan's log streams until the plan ends, framed as go-tfe expects.
	planLog := readAll(c.Plans.Logs(ctx, first.Plan.ID))
	if !strings.Contains(planLog, "Plan: 2 to add, 0 to change, 0 to destroy.") || strings.ContainsAny(planLog, "\x02\x03") {
		t.Fatalf("plan log:\n%q", planLog)
	}
	r := wait(first.ID, tfe.RunPlanned)
	if !r.Actions.IsConfirmable || !r.HasChanges || r.Plan.ResourceAdditions != 2 {
		t.Fatalf("planned run: %+v %+v", r.Actions, r.Plan)
	}
	if planJSON, err := c.Plans.ReadJSONOutput(ctx, r.Plan.ID); err != nil || !strings.Contains(string(planJSON), `"terraform_data.a"`) {
		t.Fatalf("plan JSON: %.200s, %v", planJSON, err)
	}
	// It holds sensitive values in clear: a writer may not read it.
	writer, err := tfe.NewClient(&tfe.Config{Address: s.base, RetryServerErrors: false,
		Token: s.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"dev","role":"write"}`, 201)["token"].(string)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Plans.ReadJSONOutput(ctx, r.Plan.ID); err == nil {
		t.Fatal("a write token read the plan JSON")
	}
	if err := c.Runs.Apply(ctx, r.ID, tfe.RunApplyOptions{Comment: tfe.String("ship it")}); err != nil {
		t.Fatal(err)
	}
	applyLog := readAll(c.Applies.Logs(ctx, r.Apply.ID))
	if !strings.Contains(applyLog, "Apply complete! Resources: 2 added") {
		t.Fatalf("apply log:\n%s", applyLog)
	}
	r = wait(r.ID, tfe.RunApplied)
	if a, err := c.Applies.Read(ctx, r.Apply.ID); err != nil || a.Status != tfe.ApplyFinished || a.ResourceAdditions != 2 {
		t.Fatalf("apply: %+v, %v", a, err)
	}

	sv, err := c.StateVersions.ReadCurrent(ctx, ws.ID)
	if err != nil || sv.Serial < 1 {
		t.Fatalf("current state version: %+v, %v", sv, err)
	}
	raw, err := c.StateVersions.Download(ctx, sv.DownloadURL)
	if err != nil || !strings.Contains(string(raw), `"terraform_data"`) {
		t.Fatalf("download: %.200s, %v", raw, err)
	}
	if list, err := c.StateVersions.List(ctx, &tfe.StateVersionListOptions{Organization: "acme", Workspace: "net"}); err != nil || len(list.Items) != 1 || list.Items[0].ID != sv.ID {
		t.Fatalf("state versions: %+v, %v", list, err)
	}
	outs, err := c.StateVersionOutputs.ReadCurrent(ctx, ws.ID)
	if err != nil || len(outs.Items) != 2 {
		t.Fatalf("outputs: %+v, %v", outs, err)
	}
	for _, o := range outs.Items {
		switch o.Name {
		case "a":
			if o.Value != "one" || o.Sensitive || o.DetailedType != "string" {
				t.Fatalf("output a: %+v", o)
			}
		case "token":
			if o.Value != nil || !o.Sensitive {
				t.Fatalf("a sensitive output in a list: %+v", o)
			}
			if one, err := c.StateVersionOutputs.Read(ctx, o.ID); err != nil || one.Value != "t0ken" {
				t.Fatalf("the sensitive output on request: %+v, %v", one, err)
			}
		}
	}

	// A targeted run plans only its target; a refresh-only run changes no resource.
	cv := upload(false, `
resource "terraform_data" "a" { input = "uno" }
resource "terraform_data" "b" { input = "dos" }
`)
	targeted, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, ConfigurationVersion: cv, TargetAddrs: []string{"terraform_data.a"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := wait(targeted.ID, tfe.RunPlanned); r.Plan.ResourceChanges != 1 {
		t.Fatalf("a targeted plan changes %d resources, want 1", r.Plan.ResourceChanges)
	}
	if err := c.Runs.Discard(ctx, targeted.ID, tfe.RunDiscardOptions{}); err != nil {
		t.Fatal(err)
	}
	wait(targeted.ID, tfe.RunDiscarded)
	refresh, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, ConfigurationVersion: cv, RefreshOnly: tfe.Bool(true), AutoApply: tfe.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if r := wait(refresh.ID, tfe.RunApplied, tfe.RunPlannedAndFinished, tfe.RunErrored); r.Status == tfe.RunErrored || r.Plan.ResourceChanges != 0 || !r.RefreshOnly {
		t.Fatalf("refresh-only run: %s, %+v\n%s", r.Status, r.Plan, readAll(c.Plans.Logs(ctx, r.Plan.ID)))
	}
	if log := readAll(c.Plans.Logs(ctx, refresh.ID)); !strings.Contains(log, "-refresh-only") {
		t.Fatalf("the refresh-only plan's command line:\n%s", log)
	}

	// A run that sleeps is canceled: terraform is interrupted. Force-cancel
	// is for a run whose cancel did not end it; this one's has.
	slow := upload(false, `
resource "terraform_data" "sleep" {
  provisioner "local-exec" { command = "sleep 60" }
}
`)
	sleeper, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, ConfigurationVersion: slow, AutoApply: tfe.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	wait(sleeper.ID, tfe.RunApplying)
	if err := c.Runs.Cancel(ctx, sleeper.ID, tfe.RunCancelOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := wait(sleeper.ID, tfe.RunCanceled); r.Actions.IsForceCancelable || r.Actions.IsCancelable {
		t.Fatalf("actions of a canceled run: %+v", r.Actions)
	}
	if err := c.Runs.ForceCancel(ctx, sleeper.ID, tfe.RunForceCancelOptions{}); err == nil || !strings.Contains(err.Error(), "transition not allowed") {
		t.Fatalf("force-cancel of a canceled run: %v", err)
	}
}

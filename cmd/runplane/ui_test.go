package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser is a headless Chromium signed out, on a fresh profile.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	// shots is where screenshots go: RUNPLANE_SCREENSHOTS (docs/screenshots
	// to refresh the README's) or the test's temporary folder.
	shots string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not on PATH: the browser tests drive Debian's chromium (make setup installs it: apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	shots := t.TempDir()
	if dir := os.Getenv("RUNPLANE_SCREENSHOTS"); dir != "" {
		shots = dir
	}
	// The first run starts the browser, which lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, base: base, shots: shots}
}

// run performs steps within a minute, failing the test on an error.
func (b *browser) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(what, err)
	}
}

func (b *browser) fail(what string, err error) {
	b.t.Helper()
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	body, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("main")))
	b.t.Fatalf("%s: %v (at %s: %.400s)", what, err, loc, body)
}

// value runs one action that answers a value.
func value[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(what, err)
	}
	return v
}

// until waits for a JavaScript condition across a navigation, which
// interrupts an evaluation under way.
func (b *browser) until(what, condition string) {
	b.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](condition))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.fail(what, fmt.Errorf("%q never held (last error: %v)", condition, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signIn signs in with token on the sign-in page.
func (b *browser) signIn(token string) {
	b.t.Helper()
	b.run("sign in",
		chromedp.Navigate(b.base+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS("form.signout")),
	)
}

// shot saves the page as name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	png := value(b, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// The main path through the pages in a real browser: sign in, create a
// workspace, upload its configuration and start a run, watch the plan log
// arrive, confirm, see it applied without reloading, see the downstream run
// it triggered on the graph, roll the state back; then a read-only user
// sees no button and a forged confirm is refused.
func TestPagesInABrowser(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	owner := s.do("POST", "/api/v1/organizations/acme/users", `{"username":"olga"}`, 201)["token"].(map[string]any)["token"].(string)
	s.do("PUT", "/api/v1/organizations/acme/teams/owners/members/olga", "", 204)
	archive := filepath.Join(t.TempDir(), "network.tar.gz")
	if err := os.WriteFile(archive, tarGz(t, map[string]string{"main.tf": networkTF}), 0o644); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, s.base)
	b.signIn(owner)
	if loc := value(b, "location", chromedp.Location()); !strings.HasSuffix(loc, "/app/orgs/acme") {
		t.Fatalf("signed in at %s, want the organization's page", loc)
	}
	b.run("create a workspace",
		chromedp.SendKeys(chromedp.ID("name"), "network"),
		chromedp.Submit(chromedp.ID("name")),
		chromedp.WaitVisible(chromedp.ID("archive")),
		chromedp.SetUploadFiles(chromedp.ID("archive"), []string{archive}),
		chromedp.Submit(chromedp.ID("archive")),
		chromedp.WaitVisible(chromedp.ID("message")),
	)
	loc := value(b, "location", chromedp.Location())
	network := loc[strings.LastIndex(loc, "/")+1:]
	// A downstream workspace, triggered by network's applies.
	app := s.workspace("app", true, map[string]string{"main.tf": `resource "terraform_data" "app" {}`})
	s.do("POST", "/api/v1/workspaces/"+app+"/triggers", `{"upstream_workspace_id":"`+network+`"}`, 201)

	b.run("start a run",
		chromedp.SendKeys(chromedp.ID("message"), "first from the browser"),
		chromedp.Submit(chromedp.ID("message")),
		chromedp.WaitVisible(chromedp.ID("log-plan")),
	)
	mark := func() { value(b, "mark the page", chromedp.Evaluate[bool](`window.sameDocument = true`)) }
	same := func(what string) {
		if !value(b, "no reload", chromedp.Evaluate[bool](`window.sameDocument === true`)) {
			t.Fatalf("the page reloaded to show %s", what)
		}
	}
	mark()
	value(b, "the plan log arrives live", chromedp.Poll[bool](`document.getElementById("log-plan").textContent.includes("Plan: 1 to add")`, chromedp.WithPollingTimeout(50*time.Second)))
	b.run("the confirm button appears", chromedp.WaitVisible(chromedp.CSS(".btn-confirm")))
	same("the plan")
	if planLog := value(b, "plan log", chromedp.Text(chromedp.ID("log-plan"))); !strings.Contains(planLog, "terraform_data.net will be created") {
		t.Fatalf("plan log: %s", planLog)
	}
	if changes := value(b, "resource changes", chromedp.Text(chromedp.CSS(".changes"))); !strings.Contains(changes, "terraform_data.net create") {
		t.Fatalf("resource changes: %s", changes)
	}
	b.shot("run-planned")
	// The confirm is a form: its answer is the run's page, loaded anew.
	b.run("confirm", chromedp.Click(chromedp.CSS(".btn-confirm")))
	b.until("the page after the confirm", `window.sameDocument === undefined && document.readyState === "complete" && !!document.getElementById("log-apply")`)
	mark()
	b.run("applied", chromedp.WaitVisible(chromedp.CSS(`#summary[data-status="applied"]`)))
	value(b, "the apply log", chromedp.Poll[bool](`document.getElementById("log-apply").textContent.includes("Apply complete!")`, chromedp.WithPollingTimeout(20*time.Second)))
	same("the apply")
	b.shot("run-applied")
	runID := value(b, "location", chromedp.Location())
	runID = runID[strings.LastIndex(runID, "/")+1:]
	// A reconnecting stream resumes after its last event's id: from the
	// start, every line once; from the end, nothing again.
	stream := func(lastID string) string {
		req, _ := http.NewRequest("GET", s.base+"/app/runs/"+runID+"/stream", nil)
		req.AddCookie(&http.Cookie{Name: "runplane_session", Value: owner})
		req.Header.Set("Last-Event-ID", lastID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return string(raw)
	}
	all := stream("0,0")
	if strings.Count(all, "Plan: 1 to add") != 1 || strings.Count(all, "Apply complete!") != 1 || !strings.Contains(all, "event: end") {
		t.Fatalf("the stream from the start:\n%s", all)
	}
	ids := regexp.MustCompile(`id: (\d+,\d+)`).FindAllStringSubmatch(all, -1)
	if rest := stream(ids[len(ids)-1][1]); strings.Contains(rest, "event: log") || !strings.Contains(rest, "event: end") {
		t.Fatalf("the stream from its last id sent again:\n%s", rest)
	}

	// The triggered run shows on the graph.
	for deadline := time.Now().Add(time.Minute); len(s.do("GET", "/api/v1/workspaces/"+app+"/runs", "", 200)["items"].([]any)) == 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("network's apply triggered no run in app")
		}
	}
	b.run("the trigger graph", chromedp.Navigate(s.base+"/app/orgs/acme/graph"), chromedp.WaitVisible(chromedp.CSS("svg")))
	graph := value(b, "the graph", chromedp.OuterHTML(chromedp.CSS("svg")))
	appNode := graph[strings.Index(graph, `href="/app/workspaces/`+app+`"`):]
	if strings.Count(graph, `class="edge"`) != 1 || strings.Contains(appNode[:strings.Index(appNode, "</a>")], "no runs") {
		t.Fatalf("graph without app's triggered run: %s", graph)
	}
	b.shot("trigger-graph")

	// A second version of network's state, then a rollback to the first.
	var st map[string]any
	if err := json.Unmarshal(s.request("GET", "/api/v1/workspaces/"+network+"/state", nil, 200), &st); err != nil {
		t.Fatal(err)
	}
	st["serial"] = st["serial"].(float64) + 1
	st["outputs"] = map[string]any{"cidr": map[string]any{"value": "10.1.0.0/16", "type": "string"}}
	next, _ := json.Marshal(st)
	s.do("LOCK", "/api/v1/workspaces/"+network+"/state", `{"ID":"ui-test"}`, 200)
	s.request("POST", "/api/v1/workspaces/"+network+"/state?ID=ui-test", strings.NewReader(string(next)), 200)
	s.do("UNLOCK", "/api/v1/workspaces/"+network+"/state", `{"ID":"ui-test"}`, 200)
	b.run("state versions", chromedp.Navigate(s.base+"/app/workspaces/"+network+"/state"), chromedp.WaitVisible(chromedp.CSS("table")))
	if versions := value(b, "versions", chromedp.Text(chromedp.CSS("table"))); !strings.Contains(versions, `changed cidr: "10.0.0.0/16" → "10.1.0.0/16"`) {
		t.Fatalf("state page without the outputs' change: %s", versions)
	}
	b.shot("state-versions")
	b.run("roll back to serial 1", chromedp.Click(chromedp.CSS(`form[action$="/rollback"] button`)))
	b.until("the rollback's version", `!!document.querySelector("tbody tr td") && document.querySelector("tbody tr td").textContent.includes("rollback")`)
	if outs := s.do("GET", "/api/v1/workspaces/"+network+"/outputs", "", 200)["items"].([]any); outs[0].(map[string]any)["value"] != "10.0.0.0/16" {
		t.Fatalf("outputs after the rollback: %v", outs)
	}
	b.run("the workspaces", chromedp.Navigate(s.base+"/app/orgs/acme"), chromedp.WaitVisible(chromedp.CSS("table")))
	b.shot("workspaces")
	// At a phone's width nothing runs off the side.
	b.run("a phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(s.base+"/app/workspaces/"+network), chromedp.WaitVisible(chromedp.ID("message")))
	if wide := value(b, "page width", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); wide {
		t.Error("the workspace page is wider than a phone")
	}
	b.shot("workspace-phone")
	if unlabeled := value(b, "labels", chromedp.Evaluate[int](`[...document.querySelectorAll("input:not([type=hidden]), button")].filter(e => e.tagName === "BUTTON" ? !e.textContent.trim() : e.labels.length === 0).length`)); unlabeled != 0 {
		t.Errorf("%d inputs or buttons without a label", unlabeled)
	}
	b.run("a laptop", chromedp.EmulateViewport(1280, 900))

	// A read-only user: sees the planned run, no button; a forged confirm,
	// with or without the session's CSRF token, changes nothing.
	s.do("POST", "/api/v1/organizations/acme/teams", `{"name":"viewers"}`, 201)
	s.do("PUT", "/api/v1/workspaces/"+network+"/team-access/viewers", `{"access":"read"}`, 200)
	reader := s.do("POST", "/api/v1/organizations/acme/users", `{"username":"rita"}`, 201)["token"].(map[string]any)["token"].(string)
	s.do("PUT", "/api/v1/organizations/acme/teams/viewers/members/rita", "", 204)
	second := s.run(network, `{"message":"for review","is_destroy":true}`)
	s.wait(second, time.Minute, "planned")
	r := newBrowser(t, s.base)
	r.signIn(reader)
	r.run("a reader's view of a planned run", chromedp.Navigate(s.base+"/app/runs/"+second), chromedp.WaitVisible(chromedp.CSS(`#summary[data-status="planned"]`)))
	if n := value(r, "buttons", chromedp.Evaluate[int](`document.querySelectorAll(".actions button").length`)); n != 0 {
		t.Fatalf("a read-only user sees %d buttons", n)
	}
	forged := value(r, "forged confirms", chromedp.Evaluate[string](fmt.Sprintf(`(async () => {
		const field = document.querySelector("input[name=csrf]");
		const post = (body) => fetch("/app/runs/%s/confirm", {method: "POST", body: body, headers: {"Content-Type": "application/x-www-form-urlencoded"}, redirect: "manual"}).then(r => r.status);
		return [await post("csrf=" + encodeURIComponent(field ? field.value : "")), await post("")].join(",");
	})()`, second), chromedp.EvalAwaitPromise))
	if forged != "403,403" {
		t.Fatalf("forged confirms answered %s, want 403,403", forged)
	}
	if got := s.do("GET", "/api/v1/runs/"+second, "", 200)["status"]; got != "planned" {
		t.Fatalf("after forged confirms the run is %v", got)
	}
	r.shot("run-read-only")

	// Pages stay small (none over 100 KB before logs) and quick.
	for _, path := range []string{"/app/orgs/acme", "/app/workspaces/" + network, "/app/workspaces/" + network + "/state", "/app/orgs/acme/graph", "/app/orgs/acme/settings", "/app/runs/" + second} {
		req, _ := http.NewRequest("GET", s.base+path, nil)
		req.AddCookie(&http.Cookie{Name: "runplane_session", Value: owner})
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		firstByte := time.Since(start)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("GET %s: %d bytes, first byte after %v", path, len(body), firstByte.Round(100*time.Microsecond))
		if resp.StatusCode != 200 || len(body) > 100<<10 {
			t.Errorf("GET %s: %d, %d bytes", path, resp.StatusCode, len(body))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
}

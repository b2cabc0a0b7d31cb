package tfeapi_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"
)

// uploaded creates a configuration version of ws through go-tfe and
// uploads dir to it, as terraform's cloud backend does.
func uploaded(t *testing.T, c *tfe.Client, ws string, opts tfe.ConfigurationVersionCreateOptions, files map[string]string) *tfe.ConfigurationVersion {
	t.Helper()
	ctx := context.Background()
	cv, err := c.ConfigurationVersions.Create(ctx, ws, opts)
	if err != nil {
		t.Fatal(err)
	}
	if cv.Status != tfe.ConfigurationPending || cv.UploadURL == "" {
		t.Fatalf("a new configuration version: status %q, upload URL %q", cv.Status, cv.UploadURL)
	}
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir); err != nil {
		t.Fatalf("upload: %v", err)
	}
	got, err := c.ConfigurationVersions.Read(ctx, cv.ID)
	if err != nil || got.Status != tfe.ConfigurationUploaded {
		t.Fatalf("after the upload: %+v, %v", got, err)
	}
	return cv
}

// Configuration versions are created, uploaded to the URL they name,
// read, listed and downloaded through go-tfe. The upload URL is a
// capability: it works without the token, once, and not when altered;
// the archive is checked as the native upload checks it.
func TestGoTFEConfigurationVersions(t *testing.T) {
	t.Parallel()
	c := setupOrg(t)
	ctx := context.Background()
	ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("net")})
	if err != nil {
		t.Fatal(err)
	}
	cv := uploaded(t, c, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)}, map[string]string{"main.tf": `output "x" { value = 1 }`})
	list, err := c.ConfigurationVersions.List(ctx, ws.ID, nil)
	if err != nil || len(list.Items) != 1 || list.Items[0].ID != cv.ID {
		t.Fatalf("list: %+v, %v", list, err)
	}
	archive, err := c.ConfigurationVersions.Download(ctx, cv.ID)
	if err != nil || !strings.Contains(untar(t, archive)["main.tf"], `output "x"`) {
		t.Fatalf("download: %v", err)
	}
	// Once uploaded, a version is immutable.
	if err := c.ConfigurationVersions.UploadTarGzip(ctx, cv.UploadURL, bytes.NewReader(tarGz(t, map[string]string{"main.tf": ""}))); err == nil {
		t.Fatal("a second upload to the same version was accepted")
	}
	// A run on a workspace without auto-queue stays unqueued.
	if runs, err := c.Runs.List(ctx, ws.ID, nil); err != nil || len(runs.Items) != 0 {
		t.Fatalf("runs after an upload without auto-queue: %+v, %v", runs, err)
	}

	fresh, err := c.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	good := tarGz(t, map[string]string{"main.tf": ""})
	slash := strings.LastIndex(fresh.UploadURL, "/")
	for name, url := range map[string]string{
		"an altered signature": fresh.UploadURL[:len(fresh.UploadURL)-3] + "AAA",
		"another version's":    strings.Replace(fresh.UploadURL, fresh.ID, cv.ID, 1),
		"a later expiry":       fresh.UploadURL[:slash+1] + "9" + fresh.UploadURL[slash+1:],
	} {
		if status := put(t, url, good); status != http.StatusNotFound {
			t.Errorf("upload to %s URL: %d, want 404", name, status)
		}
	}
	evil := tarGzEntries(t, []tar.Header{{Name: "../escape.tf", Mode: 0o644, Typeflag: tar.TypeReg}})
	if status := put(t, fresh.UploadURL, evil); status != http.StatusUnprocessableEntity {
		t.Errorf("an archive with ../: %d, want 422", status)
	}
	if status := put(t, fresh.UploadURL, []byte("not gzip")); status != http.StatusUnprocessableEntity {
		t.Errorf("garbage: %d, want 422", status)
	}
	if got, err := c.ConfigurationVersions.Read(ctx, fresh.ID); err != nil || got.Status != tfe.ConfigurationPending {
		t.Fatalf("a refused upload changed the version: %+v, %v", got, err)
	}
	if status := put(t, fresh.UploadURL, good); status != http.StatusOK {
		t.Fatalf("the good archive after refused ones: %d", status)
	}
}

// A run created through go-tfe on an uploaded configuration is queued
// with the options terraform's cloud backend sends; its plan and apply
// are read by their ids, its actions follow the lifecycle, and what
// Runplane cannot do is refused with a clear 422 that creates nothing.
func TestGoTFERuns(t *testing.T) {
	t.Parallel()
	c := setupOrg(t)
	ctx := context.Background()
	ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	cv := uploaded(t, c, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)}, map[string]string{"main.tf": ""})
	r, err := c.Runs.Create(ctx, tfe.RunCreateOptions{
		Workspace: ws, ConfigurationVersion: cv, Message: tfe.String("from go-tfe"), AutoApply: tfe.Bool(true),
		Refresh: tfe.Bool(false), TargetAddrs: []string{"terraform_data.a"}, ReplaceAddrs: []string{"terraform_data.b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != tfe.RunPlanQueued || r.Message != "from go-tfe" || !r.AutoApply || r.Refresh || r.PlanOnly ||
		len(r.TargetAddrs) != 1 || r.ReplaceAddrs[0] != "terraform_data.b" || r.Workspace.ID != ws.ID || r.Plan == nil || r.Apply == nil {
		t.Fatalf("created run: %+v", r)
	}
	if !r.Actions.IsCancelable || r.Actions.IsConfirmable || !r.Permissions.CanApply {
		t.Fatalf("actions of a queued run: %+v %+v", r.Actions, r.Permissions)
	}
	plan, err := c.Plans.Read(ctx, r.Plan.ID)
	if err != nil || plan.Status != tfe.PlanQueued || plan.LogReadURL == "" {
		t.Fatalf("plan: %+v, %v", plan, err)
	}
	apply, err := c.Applies.Read(ctx, r.Apply.ID)
	if err != nil || apply.Status != tfe.ApplyPending {
		t.Fatalf("apply: %+v, %v", apply, err)
	}
	// A queued plan's log is empty and not finished: the reader waits.
	if body := get(t, plan.LogReadURL+"?offset=0&limit=100"); body != "" {
		t.Fatalf("the log of a plan not started: %q", body)
	}
	if err := c.Runs.Apply(ctx, r.ID, tfe.RunApplyOptions{}); err == nil {
		t.Fatal("a queued run was confirmed")
	}
	if err := c.Runs.Cancel(ctx, r.ID, tfe.RunCancelOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err = c.Runs.Read(ctx, r.ID)
	if err != nil || r.Status != tfe.RunCanceled {
		t.Fatalf("after cancel: %+v, %v", r, err)
	}
	// Its log is now complete and empty: STX, ETX.
	if body := get(t, plan.LogReadURL+"?offset=0&limit=100"); body != "\x02\x03" {
		t.Fatalf("the log of a canceled plan: %q", body)
	}
	logs, err := c.Plans.Logs(ctx, r.Plan.ID)
	if err != nil {
		t.Fatal(err)
	}
	if text, err := io.ReadAll(logs); err != nil || len(text) != 0 {
		t.Fatalf("reading a canceled plan's log: %q, %v", text, err)
	}

	// A speculative configuration makes a plan-only run.
	spec := uploaded(t, c, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false), Speculative: tfe.Bool(true)}, map[string]string{"main.tf": ""})
	sr, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, ConfigurationVersion: spec})
	if err != nil || !sr.PlanOnly || sr.AutoApply {
		t.Fatalf("a run of a speculative configuration: %+v, %v", sr, err)
	}
	list, err := c.Runs.List(ctx, ws.ID, &tfe.RunListOptions{ListOptions: tfe.ListOptions{PageSize: 1}})
	if err != nil || len(list.Items) != 1 || list.Items[0].ID != sr.ID || list.TotalCount != 2 || list.TotalPages != 2 {
		t.Fatalf("runs, newest first, one a page: %+v, %v", list, err)
	}
	second, err := c.Runs.List(ctx, ws.ID, &tfe.RunListOptions{ListOptions: tfe.ListOptions{PageSize: 1, PageNumber: 2}})
	if err != nil || len(second.Items) != 1 || second.Items[0].ID != r.ID || second.NextPage != 0 {
		t.Fatalf("the second page: %+v, %v", second, err)
	}
	if _, err := c.Runs.List(ctx, ws.ID, &tfe.RunListOptions{ListOptions: tfe.ListOptions{PageSize: 100, PageNumber: 1000}}); err == nil {
		t.Fatal("a page 100,000 runs in was served")
	}

	for want, opts := range map[string]tfe.RunCreateOptions{
		"run variables":               {Workspace: ws, Variables: []*tfe.RunVariable{{Key: "a", Value: `"b"`}}},
		"saved plans":                 {Workspace: ws, SavePlan: tfe.Bool(true)},
		"both refresh-only and destr": {Workspace: ws, RefreshOnly: tfe.Bool(true), IsDestroy: tfe.Bool(true)},
		"is not a resource address":   {Workspace: ws, TargetAddrs: []string{"-destroy"}},
	} {
		if _, err := c.Runs.Create(ctx, opts); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a run with %s: %v", want, err)
		}
	}
	if after, err := c.Runs.List(ctx, ws.ID, nil); err != nil || after.TotalCount != 2 {
		t.Fatalf("refused runs were created: %+v, %v", after, err)
	}
	other := setupOrg(t)
	if _, err := other.Runs.Read(ctx, r.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Fatalf("another server's organization read the run: %v", err)
	}
}

// What terraform's cloud backend reads before it runs anything.
func TestGoTFEEntitlementsAndWorkspaceUpdate(t *testing.T) {
	t.Parallel()
	c := setupOrg(t)
	ctx := context.Background()
	e, err := c.Organizations.ReadEntitlements(ctx, "acme")
	if err != nil || !e.Operations || !e.StateStorage {
		t.Fatalf("entitlements: %+v, %v", e, err)
	}
	ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("net")})
	if err != nil {
		t.Fatal(err)
	}
	ws, err = c.Workspaces.UpdateByID(ctx, ws.ID, tfe.WorkspaceUpdateOptions{AutoApply: tfe.Bool(true)})
	if err != nil || !ws.AutoApply {
		t.Fatalf("update: %+v, %v", ws, err)
	}
	// The cloud backend asks for its own terraform version and warns when refused.
	if _, err := c.Workspaces.Update(ctx, "acme", "net", tfe.WorkspaceUpdateOptions{TerraformVersion: tfe.String("1.11.4")}); err == nil {
		t.Fatal("a pinned terraform version was accepted")
	}
	if got, err := c.Workspaces.ReadByID(ctx, ws.ID); err != nil || !got.AutoApply || got.TerraformVersion != "latest" {
		t.Fatalf("after a refused update: %+v, %v", got, err)
	}
}

func put(t *testing.T, url string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest("PUT", url, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var hdrs []tar.Header
	var bodies []string
	for name, content := range files {
		hdrs = append(hdrs, tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
		bodies = append(bodies, content)
	}
	return tarGzEntries(t, hdrs, bodies...)
}

func tarGzEntries(t *testing.T, hdrs []tar.Header, bodies ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for i := range hdrs {
		h := hdrs[i]
		h.ModTime = time.Now()
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if i < len(bodies) {
			if _, err := tw.Write([]byte(bodies[i])); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func untar(t *testing.T, archive []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[strings.TrimPrefix(h.Name, "./")] = string(b)
	}
}

// State versions written through go-tfe, as terraform's cloud backend
// writes them (terraform state rm, state push): by the holder of the
// workspace's lock, uploaded to a signed URL or inline, checked against
// the md5, serial and lineage given, and read back.
func TestGoTFEStateVersionWrites(t *testing.T) {
	t.Parallel()
	c, base, token := setupOrgToken(t)
	ctx := context.Background()
	ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("net")})
	if err != nil {
		t.Fatal(err)
	}
	stateOf := func(serial int64, output string) []byte {
		return []byte(fmt.Sprintf(`{"version":4,"terraform_version":"1.11.4","serial":%d,"lineage":"l1","outputs":{"cidr":{"value":%q,"type":"string"}},"resources":[]}`, serial, output))
	}
	upload := func(serial int64, raw []byte) (*tfe.StateVersion, error) {
		return c.StateVersions.Upload(ctx, ws.ID, tfe.StateVersionUploadOptions{
			StateVersionCreateOptions: tfe.StateVersionCreateOptions{
				Serial: tfe.Int64(serial), Lineage: tfe.String("l1"), MD5: tfe.String(fmt.Sprintf("%x", md5.Sum(raw))),
			},
			RawState: raw, RawJSONState: []byte(`{}`),
		})
	}
	if _, err := upload(1, stateOf(1, "a")); err == nil || !strings.Contains(err.Error(), "lock the workspace") {
		t.Fatalf("a write without the workspace lock: %v", err)
	}
	if _, err := c.Workspaces.Lock(ctx, ws.ID, tfe.WorkspaceLockOptions{}); err != nil {
		t.Fatal(err)
	}
	sv, err := upload(1, stateOf(1, "a"))
	if err != nil || sv.Serial != 1 {
		t.Fatalf("upload: %+v, %v", sv, err)
	}
	cur, err := c.StateVersions.ReadCurrent(ctx, ws.ID)
	if err != nil || cur.ID != sv.ID {
		t.Fatalf("current after the upload: %+v, %v", cur, err)
	}
	// Inline, as older Terraform Enterprise took it.
	raw := stateOf(2, "b")
	sv2, err := c.StateVersions.Create(ctx, ws.ID, tfe.StateVersionCreateOptions{
		Serial: tfe.Int64(2), Lineage: tfe.String("l1"), MD5: tfe.String(fmt.Sprintf("%x", md5.Sum(raw))),
		State: tfe.String(base64.StdEncoding.EncodeToString(raw)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.StateVersions.Download(ctx, sv2.DownloadURL); err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("download: %s, %v", got, err)
	}
	for want, opts := range map[string]tfe.StateVersionCreateOptions{
		"md5":             {Serial: tfe.Int64(3), MD5: tfe.String(strings.Repeat("0", 32)), State: tfe.String(base64.StdEncoding.EncodeToString(stateOf(3, "c")))},
		"not above":       {Serial: tfe.Int64(2), MD5: tfe.String(fmt.Sprintf("%x", md5.Sum(stateOf(2, "c")))), State: tfe.String(base64.StdEncoding.EncodeToString(stateOf(2, "c")))},
		"not the ones":    {Serial: tfe.Int64(9), MD5: tfe.String(fmt.Sprintf("%x", md5.Sum(stateOf(3, "c")))), State: tfe.String(base64.StdEncoding.EncodeToString(stateOf(3, "c")))},
		"force pushes":    {Serial: tfe.Int64(3), MD5: tfe.String(fmt.Sprintf("%x", md5.Sum(stateOf(3, "c")))), Force: tfe.Bool(true), State: tfe.String(base64.StdEncoding.EncodeToString(stateOf(3, "c")))},
		"is not base64":   {Serial: tfe.Int64(3), MD5: tfe.String(strings.Repeat("0", 32)), State: tfe.String("%%%")},
		"md5 (32 hexadec": {Serial: tfe.Int64(3), MD5: tfe.String("nope"), State: tfe.String("e30=")},
	} {
		if _, err := c.StateVersions.Create(ctx, ws.ID, opts); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a state version whose %s: %v", want, err)
		}
	}
	// An upload URL works only as signed.
	pending, err := c.StateVersions.Create(ctx, ws.ID, tfe.StateVersionCreateOptions{
		Serial: tfe.Int64(3), Lineage: tfe.String("l1"), MD5: tfe.String(fmt.Sprintf("%x", md5.Sum(stateOf(3, "c")))),
	})
	if err != nil || pending.Status != tfe.StateVersionPending || pending.UploadURL == "" {
		t.Fatalf("a version created without its state: %+v, %v", pending, err)
	}
	if status := put(t, strings.Replace(pending.UploadURL, "/state/", "/json/", 1), stateOf(3, "c")); status != http.StatusNotFound {
		t.Errorf("the state's URL turned into the JSON one: %d", status)
	}
	if status := put(t, pending.UploadURL, stateOf(3, "other")); status != http.StatusUnprocessableEntity {
		t.Errorf("other bytes than the md5 named: %d", status)
	}
	if list, err := c.StateVersions.List(ctx, &tfe.StateVersionListOptions{Organization: "acme", Workspace: "net"}); err != nil || len(list.Items) != 2 {
		t.Fatalf("versions after refused writes: %+v, %v", list, err)
	}
	if status := put(t, pending.UploadURL, stateOf(3, "c")); status != http.StatusOK {
		t.Fatalf("the upload: %d", status)
	}
	if outs, err := c.StateVersionOutputs.ReadCurrent(ctx, ws.ID); err != nil || len(outs.Items) != 1 || outs.Items[0].Value != "c" {
		t.Fatalf("outputs of the uploaded state: %+v, %v", outs, err)
	}

	// While someone holds the state lock (terraform's http backend), the
	// workspace's locker waits for it like everyone else.
	req, _ := http.NewRequest("LOCK", base+"/api/v1/workspaces/"+ws.ID+"/state", strings.NewReader(`{"ID":"held","Operation":"OperationTypeApply"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("state lock: %v %v", resp, err)
	}
	resp.Body.Close()
	raw = stateOf(4, "d")
	_, err = c.StateVersions.Create(ctx, ws.ID, tfe.StateVersionCreateOptions{
		Serial: tfe.Int64(4), Lineage: tfe.String("l1"), MD5: tfe.String(fmt.Sprintf("%x", md5.Sum(raw))),
		State: tfe.String(base64.StdEncoding.EncodeToString(raw)),
	})
	if err == nil || !strings.Contains(err.Error(), "state is locked") {
		t.Fatalf("a write under someone's state lock: %v", err)
	}
}

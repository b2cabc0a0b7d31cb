package tfeapi

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/identity"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/state"
	"github.com/runplane/runplane/internal/validate"
	"github.com/runplane/runplane/internal/workspace"
)

type stateVersion struct {
	ID          string    `jsonapi:"primary,state-versions"`
	CreatedAt   time.Time `jsonapi:"attr,created-at,iso8601"`
	DownloadURL string    `jsonapi:"attr,hosted-state-download-url,omitempty"`
	// The upload URLs of a version created without its state: signed
	// capabilities, as go-tfe uploads without the token.
	UploadURL     string         `jsonapi:"attr,hosted-state-upload-url,omitempty"`
	JSONUploadURL string         `jsonapi:"attr,hosted-json-state-upload-url,omitempty"`
	Status        string         `jsonapi:"attr,status"`
	Serial        int64          `jsonapi:"attr,serial"`
	Size          int64          `jsonapi:"attr,size"`
	Processed     bool           `jsonapi:"attr,resources-processed"`
	Outputs       []*stateOutput `jsonapi:"relation,outputs"`
}

// A state version output's id is "<state version id>.<output name>".
type stateOutput struct {
	ID           string          `jsonapi:"primary,state-version-outputs"`
	Name         string          `jsonapi:"attr,name"`
	Sensitive    bool            `jsonapi:"attr,sensitive"`
	Type         string          `jsonapi:"attr,type"`
	Value        any             `jsonapi:"attr,value"`
	DetailedType json.RawMessage `jsonapi:"attr,detailed-type"`
}

// The download URL needs the API token, as go-tfe sends it.
func stateVersionView(r *http.Request, v state.Version) *stateVersion {
	return &stateVersion{
		ID: v.ID.String(), CreatedAt: v.CreatedAt, Status: "finalized", Serial: v.Serial, Size: v.Size, Processed: true,
		DownloadURL: fmt.Sprintf("%s/api/v2/state-versions/%s/download", identity.BaseURL(r), v.ID),
		Outputs:     []*stateOutput{},
	}
}

func outputView(versionID uuid.UUID, o state.NamedOutput) *stateOutput {
	out := &stateOutput{ID: versionID.String() + "." + o.Name, Name: o.Name, Sensitive: o.Sensitive, DetailedType: o.Type}
	// type is the value's JSON kind, as Terraform Cloud reports it.
	out.Type = "string"
	var t any
	if json.Unmarshal(o.Type, &t) == nil {
		switch tt := t.(type) {
		case string:
			out.Type = tt
		case []any:
			if len(tt) > 0 && (tt[0] == "list" || tt[0] == "tuple" || tt[0] == "set") {
				out.Type = "array"
			} else {
				out.Type = "object"
			}
		}
	}
	if o.Value != nil {
		out.Value = o.Value
	}
	return out
}

// currentVersionID is the workspace's current state version.
func (a *api) currentVersionID(r *http.Request, p org.Principal) (uuid.UUID, error) {
	id, err := pathUUID(r, "id")
	if err != nil {
		return id, err
	}
	ws, err := a.Workspaces.Get(r.Context(), p.OrgID, id)
	if err != nil {
		return id, err
	}
	if ws.CurrentStateVersionID == nil {
		return id, state.ErrNoState
	}
	return *ws.CurrentStateVersionID, nil
}

func (a *api) currentStateVersion(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := a.currentVersionID(r, p)
	if err != nil {
		return err
	}
	return a.writeStateVersion(w, r, p, id)
}

func (a *api) getStateVersion(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	return a.writeStateVersion(w, r, p, id)
}

func (a *api) writeStateVersion(w http.ResponseWriter, r *http.Request, p org.Principal, id uuid.UUID) error {
	v, outputs, err := a.State.VersionOutputs(r.Context(), p.OrgID, id, false)
	if err != nil {
		return err
	}
	out := stateVersionView(r, v)
	for _, o := range outputs {
		out.Outputs = append(out.Outputs, outputView(id, o))
	}
	return write(w, http.StatusOK, out)
}

func (a *api) downloadStateVersion(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	_, data, err := a.State.Download(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(data)
	return err
}

// listStateVersions answers go-tfe's StateVersions.List: the versions of
// the workspace named by filter[organization][name] and
// filter[workspace][name], newest first.
// filteredWorkspace is the workspace a state version list filters on.
func (a *api) filteredWorkspace(r *http.Request, p org.Principal) (workspace.Workspace, error) {
	q := r.URL.Query()
	orgName, wsName := q.Get("filter[organization][name]"), q.Get("filter[workspace][name]")
	if orgName == "" || wsName == "" {
		return workspace.Workspace{}, validate.Errorf("filter[organization][name] and filter[workspace][name] are required")
	}
	o, err := a.Orgs.Resolve(r.Context(), p, orgName)
	if err != nil {
		return workspace.Workspace{}, err
	}
	return a.Workspaces.GetByName(r.Context(), o.ID, wsName)
}

func (a *api) listStateVersions(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	number, size, err := pageParams(r)
	if err != nil {
		return err
	}
	ws, err := a.filteredWorkspace(r, p)
	if err != nil {
		return err
	}
	list, err := a.State.List(r.Context(), p.OrgID, ws.ID, 1<<63-1, number*size)
	if err != nil {
		return err
	}
	total, err := a.State.Count(r.Context(), p.OrgID, ws.ID)
	if err != nil {
		return err
	}
	items := []any{}
	for _, v := range pageOf(list, number, size) {
		items = append(items, stateVersionView(r, v))
	}
	return writeMany(w, items, number, size, int(total))
}

func (a *api) currentStateVersionOutputs(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := a.currentVersionID(r, p)
	if err != nil {
		return err
	}
	return a.writeOutputs(w, r, p, id)
}

func (a *api) stateVersionOutputs(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	return a.writeOutputs(w, r, p, id)
}

// writeOutputs lists a version's outputs, sensitive values withheld.
func (a *api) writeOutputs(w http.ResponseWriter, r *http.Request, p org.Principal, id uuid.UUID) error {
	_, outputs, err := a.State.VersionOutputs(r.Context(), p.OrgID, id, false)
	if err != nil {
		return err
	}
	items := make([]any, 0, len(outputs))
	for _, o := range outputs {
		items = append(items, outputView(id, o))
	}
	return writeMany(w, items, 1, max(1, len(items)), len(items))
}

// getStateVersionOutput reads one output with its value, sensitive or
// not, as terraform output does: whoever may download the state may.
func (a *api) getStateVersionOutput(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	versionText, name, _ := strings.Cut(r.PathValue("id"), ".")
	id, err := uuid.Parse(versionText)
	if err != nil {
		return fmt.Errorf("%w: no output %q", errNotFound, r.PathValue("id"))
	}
	// One output is read with its value, as terraform output needs, by
	// those who may read raw state; read tokens get it masked.
	_, outputs, err := a.State.VersionOutputs(r.Context(), p.OrgID, id, p.Level >= org.LevelWrite)
	if err != nil {
		return err
	}
	for _, o := range outputs {
		if o.Name == name {
			return write(w, http.StatusOK, outputView(id, o))
		}
	}
	return fmt.Errorf("%w: no output %q", errNotFound, r.PathValue("id"))
}

// createStateVersion is a state write through the Terraform Cloud API, by
// the holder of the workspace's lock: the state inline (base64), or, when
// absent, at the upload URL the answer names, as go-tfe's Upload does.
func (a *api) createStateVersion(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	wsID, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		ID      string `jsonapi:"primary,state-versions"`
		Serial  *int64 `jsonapi:"attr,serial"`
		MD5     string `jsonapi:"attr,md5"`
		Lineage string `jsonapi:"attr,lineage"`
		State   string `jsonapi:"attr,state"`
		Force   bool   `jsonapi:"attr,force"`
	}
	if err := decodeLimit(r, &in, maxStateDocument); err != nil {
		return err
	}
	switch {
	case in.Force:
		return validate.Errorf("force pushes are not supported: a state version must follow the current one; roll back to an old version instead")
	case in.Serial == nil || !md5Hex.MatchString(in.MD5):
		return validate.Errorf("serial and md5 (32 hexadecimal digits) are required")
	}
	if in.State == "" {
		// Refused now rather than at the upload, whose errors go-tfe does not read.
		if err := a.State.CheckLocker(r.Context(), p, wsID); err != nil {
			return err
		}
		id := uuid.New()
		out := &stateVersion{ID: id.String(), Status: "pending", Serial: *in.Serial, Outputs: []*stateOutput{}}
		for kind, dst := range map[string]*string{"state": &out.UploadURL, "json": &out.JSONUploadURL} {
			subject := fmt.Sprintf("%s/%s/%s/%s/%s/%s", kind, p.OrgID, wsID, p.TokenID, id, strings.ToLower(in.MD5))
			*dst = fmt.Sprintf("%s/api/v2/state-uploads/%s/%s", identity.BaseURL(r), subject, a.urls.sign("state-upload", subject, uploadTTL))
		}
		return write(w, http.StatusCreated, out)
	}
	data, err := base64.StdEncoding.DecodeString(in.State)
	if err != nil {
		return validate.Errorf("state is not base64: %v", err)
	}
	v, err := a.writeState(r, p, wsID, uuid.New(), in.MD5, in.Serial, in.Lineage, data)
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, stateVersionView(r, v))
}

// maxStateDocument bounds a create document: a 50 MB state in base64.
const maxStateDocument = state.MaxSize/3*4 + 1<<20

var md5Hex = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

// writeState checks what the client said of the state against it, then
// writes it as the workspace's locker.
func (a *api) writeState(r *http.Request, p org.Principal, wsID, id uuid.UUID, sum string, serial *int64, lineage string, data []byte) (state.Version, error) {
	if got := md5.Sum(data); !strings.EqualFold(hex.EncodeToString(got[:]), sum) {
		return state.Version{}, validate.Errorf("the state's md5 is %x, not %s", got, sum)
	}
	file, err := state.Parse(data)
	if err != nil {
		return state.Version{}, err
	}
	if (serial != nil && file.Serial != *serial) || (lineage != "" && file.Lineage != lineage) {
		return state.Version{}, validate.Errorf("the state's serial and lineage (%d, %q) are not the ones given", file.Serial, file.Lineage)
	}
	return a.State.WriteAsLocker(r.Context(), p, wsID, id, data)
}

// uploadState receives the state of a version created without it. The
// JSON rendering terraform sends beside it is not kept: Runplane reads
// outputs from the state itself.
func (a *api) uploadState(w http.ResponseWriter, r *http.Request) error {
	kind := r.PathValue("kind")
	orgID, e1 := uuid.Parse(r.PathValue("org"))
	wsID, e2 := uuid.Parse(r.PathValue("ws"))
	tokenID, e3 := uuid.Parse(r.PathValue("by"))
	id, e4 := uuid.Parse(r.PathValue("id"))
	sum := r.PathValue("md5")
	if errors.Join(e1, e2, e3, e4) != nil || (kind != "state" && kind != "json") {
		return fmt.Errorf("%w: no such upload URL", errNotFound)
	}
	subject := fmt.Sprintf("%s/%s/%s/%s/%s/%s", kind, orgID, wsID, tokenID, id, sum)
	if err := a.urls.verify("state-upload", subject, r.PathValue("token")); err != nil {
		return err
	}
	data, err := readBody(r, state.MaxSize, state.ErrTooLarge, "the state")
	if err != nil {
		return err
	}
	if kind == "state" {
		// The capability carries the authority of the token that created it.
		writer := org.Principal{OrgID: orgID, TokenID: tokenID, Role: org.RoleWrite}
		if _, err := a.writeState(r, writer, wsID, id, sum, nil, "", data); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

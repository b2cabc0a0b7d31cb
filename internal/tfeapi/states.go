package tfeapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/state"
	"github.com/runplane/runplane/internal/validate"
)

type stateVersion struct {
	ID          string         `jsonapi:"primary,state-versions"`
	CreatedAt   time.Time      `jsonapi:"attr,created-at,iso8601"`
	DownloadURL string         `jsonapi:"attr,hosted-state-download-url"`
	Status      string         `jsonapi:"attr,status"`
	Serial      int64          `jsonapi:"attr,serial"`
	Size        int64          `jsonapi:"attr,size"`
	Processed   bool           `jsonapi:"attr,resources-processed"`
	Outputs     []*stateOutput `jsonapi:"relation,outputs"`
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
		DownloadURL: fmt.Sprintf("%s/api/v2/state-versions/%s/download", baseURL(r), v.ID),
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
	if err := p.Require(org.RoleRead); err != nil {
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
	if err := p.Require(org.RoleRead); err != nil {
		return err
	}
	return a.writeStateVersion(w, r, p, id)
}

func (a *api) writeStateVersion(w http.ResponseWriter, r *http.Request, p org.Principal, id uuid.UUID) error {
	v, err := a.State.Get(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	outputs, err := a.State.VersionOutputs(r.Context(), p.OrgID, id, false)
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
	if err := p.Require(org.RoleRead); err != nil {
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
func (a *api) listStateVersions(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	if err := p.Require(org.RoleRead); err != nil {
		return err
	}
	q := r.URL.Query()
	orgName, wsName := q.Get("filter[organization][name]"), q.Get("filter[workspace][name]")
	if orgName == "" || wsName == "" {
		return validate.Errorf("filter[organization][name] and filter[workspace][name] are required")
	}
	number, size, err := pageParams(r)
	if err != nil {
		return err
	}
	o, err := a.Orgs.Resolve(r.Context(), p, orgName)
	if err != nil {
		return err
	}
	ws, err := a.Workspaces.GetByName(r.Context(), o.ID, wsName)
	if err != nil {
		return err
	}
	list, err := a.State.List(r.Context(), o.ID, ws.ID, 1<<63-1, number*size+1)
	if err != nil {
		return err
	}
	items := []any{}
	for _, v := range pageOf(list, number, size) {
		items = append(items, stateVersionView(r, v))
	}
	return writeMany(w, items, number, size, len(list))
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
	if err := p.Require(org.RoleRead); err != nil {
		return err
	}
	return a.writeOutputs(w, r, p, id)
}

// writeOutputs lists a version's outputs, sensitive values withheld.
func (a *api) writeOutputs(w http.ResponseWriter, r *http.Request, p org.Principal, id uuid.UUID) error {
	outputs, err := a.State.VersionOutputs(r.Context(), p.OrgID, id, false)
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
	if err := p.Require(org.RoleRead); err != nil {
		return err
	}
	outputs, err := a.State.VersionOutputs(r.Context(), p.OrgID, id, true)
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

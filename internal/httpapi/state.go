package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/agentapi"
	"github.com/runplane/runplane/internal/audit"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/state"
)

// The Terraform HTTP state backend: GET, POST ?ID=, LOCK, UNLOCK at
// /api/v1/workspaces/{id}/state, with the token as the basic-auth password.

// backend authenticates like the rest of the API but also takes basic auth
// (Terraform's TF_HTTP_PASSWORD) and job credentials.
// A job credential's reach (its workspace, and read where it is a
// consumer) is the state service's to check.
func (a *api) backend(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret := bearer(r)
		if _, pw, basic := r.BasicAuth(); basic {
			secret = strings.TrimSpace(pw)
		}
		p, err := a.Orgs.Authenticate(r.Context(), secret)
		if err == nil && !p.Scoped() {
			p, err = a.Orgs.Authorize(r.Context(), p, rt.need, func() (uuid.UUID, error) { return rt.on(a, r, p) })
		}
		if err == nil {
			err = rt.h(w, r.WithContext(audit.WithActor(r.Context(), p.Actor(r.RemoteAddr))), p)
		}
		var locked *state.LockedError
		if errors.As(err, &locked) {
			// Terraform reads the holder's lock info from the body.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusLocked)
			_, _ = w.Write(locked.Info)
			return
		}
		if err != nil {
			writeError(w, r, err)
		}
	})
}

func (a *api) stateGet(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, data, grant, err := a.State.CurrentDirect(r.Context(), p, id, acceptsObjectDownload(r))
	if errors.Is(err, state.ErrNoState) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	if grant != nil {
		writeObjectDownload(w, *grant)
		return nil
	}
	writeState(w, v, data)
	return nil
}

// acceptsObjectDownload: the client fetches large objects itself.
func acceptsObjectDownload(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), agentapi.ObjectDownloadType)
}

// writeObjectDownload answers with a grant to fetch an object instead of
// its bytes; the grant holds a data key, so no cache may keep it.
func writeObjectDownload(w http.ResponseWriter, grant agentapi.ObjectDownload) {
	w.Header().Set("Content-Type", agentapi.ObjectDownloadType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(grant)
}

// stateGrantUpload hands a writer a grant to put a large state straight
// into storage.
func (a *api) stateGrantUpload(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req agentapi.ObjectUploadRequest
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	grant, err := a.State.GrantUpload(r.Context(), p, id, req.Size)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, grant)
	return nil
}

// stateCommitObject makes a state uploaded under a grant the new version,
// as a POST of its bytes would (?ID= is the state lock's ID).
func (a *api) stateCommitObject(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	object, err := pathID(r, "object")
	if err != nil {
		return err
	}
	var c agentapi.ObjectCommit
	if err := decode(w, r, &c, false); err != nil {
		return err
	}
	v, err := a.State.WriteObject(r.Context(), p, id, r.URL.Query().Get("ID"), object, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, versionView(v))
	return nil
}

func writeState(w http.ResponseWriter, v state.Version, data []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("ETag", `"`+v.SHA256+`"`)
	h.Set("X-Runplane-State-Version", v.ID.String())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

func (a *api) statePost(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	data, err := readBody(w, r, state.MaxSize)
	if err != nil {
		return err
	}
	v, err := a.State.Write(r.Context(), p, id, r.URL.Query().Get("ID"), data)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, versionView(v))
	return nil
}

func (a *api) stateLock(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	info, err := readBody(w, r, 64<<10)
	if err != nil {
		return err
	}
	if err := a.State.Lock(r.Context(), p, id, info); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "locked"})
	return nil
}

// stateUnlock releases the lock; an empty body is Terraform's force-unlock,
// which needs admin on the workspace.
func (a *api) stateUnlock(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	info, err := readBody(w, r, 64<<10)
	if err != nil {
		return err
	}
	if len(info) == 0 {
		if p.Scoped() || p.Level < org.LevelAdmin {
			return errorf(http.StatusForbidden, "forbidden", "force-unlock needs admin access to the workspace")
		}
		err = a.State.ForceUnlock(r.Context(), p, id)
	} else {
		err = a.State.Unlock(r.Context(), p, id, info)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "unlocked"})
	return nil
}

// readBody reads a whole body of at most limit bytes, refusing a larger one
// before reading it when Content-Length tells. Memory grows with the bytes
// that arrive, never with the length a client declares: a declared 50 MB
// followed by one byte costs one byte.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	tooLarge := errorf(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body is larger than %d bytes", limit))
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge
	case err != nil:
		return nil, errorf(http.StatusBadRequest, "invalid_request", "reading the request body: "+err.Error())
	}
	return data, nil
}

type versionJSON struct {
	ID          uuid.UUID  `json:"id"`
	WorkspaceID uuid.UUID  `json:"workspace_id"`
	Serial      int64      `json:"serial"`
	Lineage     string     `json:"lineage"`
	SHA256      string     `json:"sha256"`
	Size        int64      `json:"size"`
	RunID       *uuid.UUID `json:"run_id"`
	CreatedBy   *uuid.UUID `json:"created_by"`
	RollbackOf  *uuid.UUID `json:"rollback_of,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

func versionView(v state.Version) versionJSON {
	return versionJSON{
		ID: v.ID, WorkspaceID: v.WorkspaceID, Serial: v.Serial, Lineage: v.Lineage, SHA256: v.SHA256, Size: v.Size,
		RunID: v.RunID, CreatedBy: v.CreatedBy, RollbackOf: v.RollbackOf, CreatedAt: v.CreatedAt,
	}
}

func (a *api) listStateVersions(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	before := int64(1<<63 - 1)
	if cursor != "" {
		if before, err = strconv.ParseInt(cursor, 10, 64); err != nil {
			return errorf(http.StatusBadRequest, "invalid_request", "cursor must be a next_cursor from an earlier page")
		}
	}
	if _, err := a.Workspaces.Get(r.Context(), p.OrgID, id); err != nil {
		return err
	}
	list, err := a.State.List(r.Context(), p.OrgID, id, before, limit+1)
	if err != nil {
		return err
	}
	writePage(w, list, limit, func(v state.Version) string { return strconv.FormatInt(v.Serial, 10) }, versionView)
	return nil
}

func (a *api) currentStateVersion(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ws, err := a.Workspaces.Get(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	if ws.CurrentStateVersionID == nil {
		return state.ErrNoState
	}
	v, err := a.State.Get(r.Context(), p.OrgID, *ws.CurrentStateVersionID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, versionView(v))
	return nil
}

func (a *api) getStateVersion(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := a.State.Get(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, versionView(v))
	return nil
}

func (a *api) downloadStateVersion(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, data, err := a.State.Download(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	writeState(w, v, data)
	return nil
}

func (a *api) rollbackState(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	sv, err := pathID(r, "sv")
	if err != nil {
		return err
	}
	if err := decode(w, r, &struct{}{}, true); err != nil {
		return err
	}
	v, err := a.State.Rollback(r.Context(), p, id, sv)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, versionView(v))
	return nil
}

type outputJSON struct {
	Name      string `json:"name"`
	Type      any    `json:"type"`
	Value     any    `json:"value"`
	Sensitive bool   `json:"sensitive"`
}

func (a *api) outputs(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	list, err := a.State.Outputs(r.Context(), p, id)
	if err != nil {
		return err
	}
	items := make([]outputJSON, 0, len(list))
	for _, o := range list {
		j := outputJSON{Name: o.Name, Sensitive: o.Sensitive}
		if o.Type != nil {
			j.Type = o.Type
		}
		if o.Value != nil {
			j.Value = o.Value
		}
		items = append(items, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

package tfeapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/configversion"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/identity"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/validate"
)

type configurationVersion struct {
	ID            string `jsonapi:"primary,configuration-versions"`
	AutoQueueRuns bool   `jsonapi:"attr,auto-queue-runs"`
	Source        string `jsonapi:"attr,source"`
	Speculative   bool   `jsonapi:"attr,speculative"`
	Provisional   bool   `jsonapi:"attr,provisional"`
	Status        string `jsonapi:"attr,status"`
	// UploadURL is a capability: go-tfe uploads without the API token.
	UploadURL        string            `jsonapi:"attr,upload-url,omitempty"`
	StatusTimestamps map[string]string `jsonapi:"attr,status-timestamps"`
}

// uploadTTL bounds how long a configuration's upload URL works.
const uploadTTL = time.Hour

func (a *api) configurationVersionView(r *http.Request, orgID uuid.UUID, v configversion.Version) *configurationVersion {
	out := &configurationVersion{
		ID: v.ID.String(), AutoQueueRuns: v.AutoQueueRuns, Source: "tfe-api", Speculative: v.Speculative, Status: string(v.Status),
		StatusTimestamps: map[string]string{},
	}
	if v.Status == configversion.StatusPending {
		subject := orgID.String() + "/" + v.ID.String()
		out.UploadURL = fmt.Sprintf("%s/api/v2/uploads/%s/%s", identity.BaseURL(r), subject, a.urls.sign("upload", subject, uploadTTL))
	} else {
		out.StatusTimestamps["uploaded-at"] = v.CreatedAt.Format(time.RFC3339)
	}
	return out
}

func (a *api) createConfigurationVersion(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	wsID, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		ID            string `jsonapi:"primary,configuration-versions"`
		AutoQueueRuns *bool  `jsonapi:"attr,auto-queue-runs"`
		Speculative   bool   `jsonapi:"attr,speculative"`
		Provisional   bool   `jsonapi:"attr,provisional"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Provisional {
		return validate.Errorf("provisional configuration versions (terraform plan -out) are not supported; run terraform plan or terraform apply")
	}
	v, err := a.Configs.Create(r.Context(), p.OrgID, wsID, configversion.CreateOptions{
		// Terraform Cloud queues a run on upload unless told not to.
		Speculative: in.Speculative, AutoQueueRuns: in.AutoQueueRuns == nil || *in.AutoQueueRuns, CreatedBy: &p.TokenID,
	})
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, a.configurationVersionView(r, p.OrgID, v))
}

func (a *api) getConfigurationVersion(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	v, err := a.Configs.Get(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, a.configurationVersionView(r, p.OrgID, v))
}

func (a *api) listConfigurationVersions(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	wsID, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	number, size, err := pageParams(r)
	if err != nil {
		return err
	}
	if _, err := a.Workspaces.Get(r.Context(), p.OrgID, wsID); err != nil {
		return err
	}
	list, err := a.Configs.List(r.Context(), p.OrgID, wsID, number*size)
	if err != nil {
		return err
	}
	total, err := a.Configs.Count(r.Context(), p.OrgID, wsID)
	if err != nil {
		return err
	}
	items := []any{}
	for _, v := range pageOf(list, number, size) {
		items = append(items, a.configurationVersionView(r, p.OrgID, v))
	}
	return writeMany(w, items, number, size, int(total))
}

func (a *api) downloadConfigurationVersion(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	data, err := a.Configs.Download(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, err = w.Write(data)
	return err
}

// uploadConfiguration receives a pending version's archive at the URL its
// create answered; with auto-queue-runs it queues the workspace's run.
func (a *api) uploadConfiguration(w http.ResponseWriter, r *http.Request) error {
	orgID, err1 := uuid.Parse(r.PathValue("org"))
	id, err2 := uuid.Parse(r.PathValue("id"))
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("%w: no such upload URL", errNotFound)
	}
	if err := a.urls.verify("upload", orgID.String()+"/"+id.String(), r.PathValue("token")); err != nil {
		return err
	}
	data, err := readBody(r, configversion.MaxSize, errArchiveTooLarge, "the archive")
	if err != nil {
		return err
	}
	v, err := a.Configs.Complete(r.Context(), orgID, id, data)
	if err != nil {
		return err
	}
	if v.AutoQueueRuns {
		if _, err := a.Runs.Create(r.Context(), orgID, v.WorkspaceID, run.CreateOptions{
			ConfigurationVersionID: &v.ID, Message: "Queued by a configuration upload",
		}); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

var (
	errTooLarge        = fault.New(fault.TooLarge, "too_large", "too large")
	errArchiveTooLarge = fmt.Errorf("%w: the archive is larger than %d bytes", errTooLarge, configversion.MaxSize)
)

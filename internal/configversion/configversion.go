package configversion

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/archive"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/sealed"
	"github.com/runplane/runplane/internal/validate"
)

// MaxSize bounds an uploaded (compressed) archive.
const MaxSize = 50 << 20

// ErrNotFound: no such configuration version in the organization.
var ErrNotFound = fault.New(fault.NotFound, "not_found", "configuration version not found")

// ErrUploaded: the version already has its archive; versions are immutable.
var ErrUploaded = fault.New(fault.Conflict, "conflict", "the configuration version already has its archive; create a new one")

// Status says whether a version has its archive yet.
type Status string

const (
	StatusPending  Status = "pending"
	StatusUploaded Status = "uploaded"
)

// Version is a configuration, stored or awaiting its archive.
type Version struct {
	ID          uuid.UUID
	WorkspaceID uuid.UUID
	Status      Status
	// Speculative versions make plan-only runs and are never a
	// workspace's latest configuration.
	Speculative bool
	// AutoQueueRuns: uploading the archive queues a run.
	AutoQueueRuns bool
	SHA256        string
	Size          int64
	CreatedAt     time.Time
}

// DB is what the service needs of the database; *pgxpool.Pool satisfies it.
type DB interface {
	dbtx.Beginner
	dbsqlc.DBTX
}

// Service stores and serves configuration versions.
type Service struct {
	db      DB
	objects *sealed.Store
}

// NewService returns a Service.
func NewService(db DB, objects *sealed.Store) *Service {
	return &Service{db: db, objects: objects}
}

// Upload checks an archive and stores it for the workspace in one step.
func (s *Service) Upload(ctx context.Context, orgID, wsID uuid.UUID, createdBy *uuid.UUID, data []byte) (Version, error) {
	if err := s.workspaceExists(ctx, orgID, wsID); err != nil {
		return Version{}, err
	}
	id := uuid.New()
	obj, err := s.put(ctx, orgID, wsID, id, data)
	if err != nil {
		return Version{}, err
	}
	row, err := dbsqlc.New(s.db).ConfigurationVersionCreate(ctx, createParams(orgID, wsID, obj, createdBy, false))
	if err != nil {
		return Version{}, err
	}
	return view(row), nil
}

// CreateOptions describe a version created before its archive.
type CreateOptions struct {
	Speculative   bool
	AutoQueueRuns bool
	CreatedBy     *uuid.UUID
}

// Create makes a pending version of the workspace that Complete gives
// its archive: the Terraform Cloud API's two steps.
func (s *Service) Create(ctx context.Context, orgID, wsID uuid.UUID, opts CreateOptions) (Version, error) {
	if err := s.workspaceExists(ctx, orgID, wsID); err != nil {
		return Version{}, err
	}
	row, err := dbsqlc.New(s.db).ConfigurationUploadCreate(ctx, dbsqlc.ConfigurationUploadCreateParams{
		OrganizationID: orgID, WorkspaceID: wsID, Speculative: opts.Speculative, AutoQueueRuns: opts.AutoQueueRuns, CreatedBy: opts.CreatedBy,
	})
	if err != nil {
		return Version{}, err
	}
	return pendingView(row), nil
}

// Complete checks and stores a pending version's archive; the version
// keeps its id and options.
func (s *Service) Complete(ctx context.Context, orgID, id uuid.UUID, data []byte) (Version, error) {
	pending, err := dbsqlc.New(s.db).ConfigurationUploadGet(ctx, dbsqlc.ConfigurationUploadGetParams{ID: id, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.Get(ctx, orgID, id); err == nil {
			return Version{}, ErrUploaded
		}
		return Version{}, ErrNotFound
	}
	if err != nil {
		return Version{}, err
	}
	obj, err := s.put(ctx, orgID, pending.WorkspaceID, id, data)
	if err != nil {
		return Version{}, err
	}
	var out Version
	err = dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		taken, err := q.ConfigurationUploadTake(ctx, dbsqlc.ConfigurationUploadTakeParams{ID: id, OrganizationID: orgID})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrUploaded // a concurrent upload of the same version won
		}
		if err != nil {
			return err
		}
		row, err := q.ConfigurationVersionCreate(ctx, createParams(orgID, taken.WorkspaceID, obj, taken.CreatedBy, taken.Speculative))
		out = view(row)
		out.AutoQueueRuns = taken.AutoQueueRuns
		return err
	})
	return out, err
}

// Get returns a version, pending or uploaded.
func (s *Service) Get(ctx context.Context, orgID, id uuid.UUID) (Version, error) {
	q := dbsqlc.New(s.db)
	row, err := q.ConfigurationVersionGet(ctx, dbsqlc.ConfigurationVersionGetParams{ID: id, OrganizationID: orgID})
	if err == nil {
		return view(row), nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Version{}, err
	}
	pending, err := q.ConfigurationUploadGet(ctx, dbsqlc.ConfigurationUploadGetParams{ID: id, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return Version{}, ErrNotFound
	}
	if err != nil {
		return Version{}, err
	}
	return pendingView(pending), nil
}

// List returns a workspace's uploaded versions, newest first.
func (s *Service) List(ctx context.Context, orgID, wsID uuid.UUID, limit int) ([]Version, error) {
	rows, err := dbsqlc.New(s.db).ConfigurationVersionListByWorkspace(ctx, dbsqlc.ConfigurationVersionListByWorkspaceParams{
		WorkspaceID: wsID, OrganizationID: orgID, MaxRows: int32(limit),
	})
	if err != nil {
		return nil, err
	}
	out := make([]Version, len(rows))
	for i, r := range rows {
		out[i] = view(r)
	}
	return out, nil
}

// Count is how many uploaded versions a workspace has.
func (s *Service) Count(ctx context.Context, orgID, wsID uuid.UUID) (int64, error) {
	return dbsqlc.New(s.db).ConfigurationVersionCount(ctx, dbsqlc.ConfigurationVersionCountParams{WorkspaceID: wsID, OrganizationID: orgID})
}

func (s *Service) workspaceExists(ctx context.Context, orgID, wsID uuid.UUID) error {
	_, err := dbsqlc.New(s.db).WorkspaceGet(ctx, dbsqlc.WorkspaceGetParams{ID: wsID, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// put checks an archive and seals it under the version's id.
func (s *Service) put(ctx context.Context, orgID, wsID, id uuid.UUID, data []byte) (sealed.Object, error) {
	if err := archive.Check(bytes.NewReader(data), archive.DefaultLimits); err != nil {
		return sealed.Object{}, validate.Errorf("configuration archive refused: %v", err)
	}
	obj, _, err := s.objects.Put(ctx, id, fmt.Sprintf("config/%s/%s/%s", orgID, wsID, id), envelope.WorkspaceContext(orgID, wsID), data)
	return obj, err
}

func createParams(orgID, wsID uuid.UUID, obj sealed.Object, createdBy *uuid.UUID, speculative bool) dbsqlc.ConfigurationVersionCreateParams {
	return dbsqlc.ConfigurationVersionCreateParams{
		ID: obj.ID, OrganizationID: orgID, WorkspaceID: wsID, Sha256: obj.SHA256, Size: obj.Size,
		BlobKey: obj.BlobKey, KeyID: obj.KeyID, WrappedKey: obj.WrappedKey, CreatedBy: createdBy, Speculative: speculative,
	}
}

// Download returns a configuration version's archive, verified.
func (s *Service) Download(ctx context.Context, orgID, id uuid.UUID) ([]byte, error) {
	row, err := s.get(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	return s.objects.Get(ctx, object(row), envelope.WorkspaceContext(row.OrganizationID, row.WorkspaceID))
}

// Object returns where a version's archive lies sealed, for a caller that
// reads it or grants its direct fetch; it is sealed under its workspace's
// context.
func (s *Service) Object(ctx context.Context, orgID, id uuid.UUID) (sealed.Object, error) {
	row, err := s.get(ctx, orgID, id)
	return object(row), err
}

func (s *Service) get(ctx context.Context, orgID, id uuid.UUID) (dbsqlc.ConfigurationVersion, error) {
	row, err := dbsqlc.New(s.db).ConfigurationVersionGet(ctx, dbsqlc.ConfigurationVersionGetParams{ID: id, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return row, ErrNotFound
	}
	return row, err
}

func object(row dbsqlc.ConfigurationVersion) sealed.Object {
	return sealed.Object{
		ID: row.ID, BlobKey: row.BlobKey, SHA256: row.Sha256, Size: row.Size, KeyID: row.KeyID, WrappedKey: row.WrappedKey,
	}
}

func view(r dbsqlc.ConfigurationVersion) Version {
	return Version{
		ID: r.ID, WorkspaceID: r.WorkspaceID, Status: StatusUploaded, Speculative: r.Speculative,
		SHA256: hex.EncodeToString(r.Sha256), Size: r.Size, CreatedAt: r.CreatedAt.UTC(),
	}
}

func pendingView(r dbsqlc.ConfigurationUpload) Version {
	return Version{
		ID: r.ID, WorkspaceID: r.WorkspaceID, Status: StatusPending, Speculative: r.Speculative,
		AutoQueueRuns: r.AutoQueueRuns, CreatedAt: r.CreatedAt.UTC(),
	}
}

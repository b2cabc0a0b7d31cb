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
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/sealed"
	"github.com/runplane/runplane/internal/validate"
)

// MaxSize bounds an uploaded (compressed) archive.
const MaxSize = 50 << 20

// ErrNotFound: no such configuration version in the organization.
var ErrNotFound = fault.New(fault.NotFound, "not_found", "configuration version not found")

// Version is a stored configuration.
type Version struct {
	ID          uuid.UUID
	WorkspaceID uuid.UUID
	SHA256      string
	Size        int64
	CreatedAt   time.Time
}

// Service stores and serves configuration versions.
type Service struct {
	db      dbsqlc.DBTX
	objects *sealed.Store
}

// NewService returns a Service.
func NewService(db dbsqlc.DBTX, objects *sealed.Store) *Service {
	return &Service{db: db, objects: objects}
}

// Upload checks an archive and stores it for the workspace.
func (s *Service) Upload(ctx context.Context, orgID, wsID uuid.UUID, createdBy *uuid.UUID, data []byte) (Version, error) {
	q := dbsqlc.New(s.db)
	if _, err := q.WorkspaceGet(ctx, dbsqlc.WorkspaceGetParams{ID: wsID, OrganizationID: orgID}); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return Version{}, ErrNotFound
		}
		return Version{}, err
	}
	if err := archive.Check(bytes.NewReader(data), archive.DefaultLimits); err != nil {
		return Version{}, validate.Errorf("configuration archive refused: %v", err)
	}
	id := uuid.New()
	obj, _, err := s.objects.Put(ctx, id, fmt.Sprintf("config/%s/%s/%s", orgID, wsID, id), envelope.WorkspaceContext(orgID, wsID), data)
	if err != nil {
		return Version{}, err
	}
	row, err := q.ConfigurationVersionCreate(ctx, dbsqlc.ConfigurationVersionCreateParams{
		ID: id, OrganizationID: orgID, WorkspaceID: wsID, Sha256: obj.SHA256, Size: obj.Size,
		BlobKey: obj.BlobKey, KeyID: obj.KeyID, WrappedKey: obj.WrappedKey, CreatedBy: createdBy,
	})
	if err != nil {
		return Version{}, err
	}
	return view(row), nil
}

// Download returns a configuration version's archive, verified.
func (s *Service) Download(ctx context.Context, orgID, id uuid.UUID) ([]byte, error) {
	row, err := dbsqlc.New(s.db).ConfigurationVersionGet(ctx, dbsqlc.ConfigurationVersionGetParams{ID: id, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return s.objects.Get(ctx, sealed.Object{
		ID: row.ID, BlobKey: row.BlobKey, SHA256: row.Sha256, Size: row.Size, KeyID: row.KeyID, WrappedKey: row.WrappedKey,
	}, envelope.WorkspaceContext(row.OrganizationID, row.WorkspaceID))
}

func view(r dbsqlc.ConfigurationVersion) Version {
	return Version{ID: r.ID, WorkspaceID: r.WorkspaceID, SHA256: hex.EncodeToString(r.Sha256), Size: r.Size, CreatedAt: r.CreatedAt.UTC()}
}

package state

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/agentapi"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/sealed"
)

var (
	// ErrNotFound: no such workspace or version, or the caller may not read it.
	ErrNotFound = fault.New(fault.NotFound, "not_found", "no such workspace or state version")
	// ErrNoState: the workspace has no state yet.
	ErrNoState = fault.New(fault.NotFound, "no_state", "workspace has no state yet")
	// ErrLocked: someone else holds the state lock or the workspace; see *LockedError.
	ErrLocked = fault.New(fault.Locked, "state_locked", "state is locked")
	// ErrWorkspaceLockRequired: a Terraform Cloud API write came from
	// someone not holding the workspace's lock.
	ErrWorkspaceLockRequired = fault.New(fault.Conflict, "lock_required", "state versions are created by whoever holds the workspace's lock; lock the workspace first")
	// ErrLockRequired: a write came without holding the state lock.
	ErrLockRequired = fault.New(fault.Conflict, "lock_required", "state writes need the state lock; lock first (Terraform: set TF_HTTP_LOCK_ADDRESS and TF_HTTP_UNLOCK_ADDRESS)")
	// ErrNotLocked: an unlock found no lock to release.
	ErrNotLocked = fault.New(fault.Conflict, "state_not_locked", "state is not locked")
	// ErrStaleSerial: the write's serial is not above the current version's.
	ErrStaleSerial = fault.New(fault.Conflict, "stale_serial", "stale serial")
	// ErrLineage: the write's lineage differs from the workspace's.
	ErrLineage = fault.New(fault.Conflict, "lineage_mismatch", "lineage mismatch")
	// ErrTooLarge: the state is larger than MaxSize.
	ErrTooLarge = fault.New(fault.TooLarge, "state_too_large", "state too large")
	// ErrReadOnly: a job credential tried to change another workspace's state.
	ErrReadOnly = fault.New(fault.Forbidden, "read_only", "this credential may only read this workspace's state")
	// ErrNotShared: a run read a workspace of its organization whose
	// remote_state_consumers do not list the run's workspace.
	ErrNotShared = fault.New(fault.Forbidden, "not_shared", "this workspace's state is not shared with the reading workspace: add the reader to its remote_state_consumers")
	// ErrCorrupt: a stored version failed its integrity checks.
	ErrCorrupt = sealed.ErrCorrupt
)

// LockedError carries the lock-info JSON of whoever holds the state, which
// Terraform shows to the user who was refused.
type LockedError struct {
	Info []byte
	ID   string
}

func (e *LockedError) Error() string        { return fmt.Sprintf("state is locked (lock ID %s)", e.ID) }
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Version is a state version as callers see it.
type Version struct {
	ID          uuid.UUID
	WorkspaceID uuid.UUID
	Serial      int64
	Lineage     string
	SHA256      string
	Size        int64
	CreatedBy   *uuid.UUID
	RunID       *uuid.UUID
	RollbackOf  *uuid.UUID
	CreatedAt   time.Time
}

// NamedOutput is one output of the current state; Value is nil when sensitive.
type NamedOutput struct {
	Name      string
	Type      json.RawMessage
	Value     json.RawMessage
	Sensitive bool
}

// DB is what the service needs of the database; *pgxpool.Pool satisfies it.
type DB interface {
	dbtx.Beginner
	dbsqlc.DBTX
}

// Service stores and serves state.
type Service struct {
	db      DB
	objects *sealed.Store
	now     func() time.Time
}

// NewService returns a Service keeping sealed state in store.
func NewService(db DB, store *sealed.Store) *Service {
	return &Service{db: db, objects: store, now: time.Now}
}

func object(v dbsqlc.StateVersion) sealed.Object {
	return sealed.Object{ID: v.ID, BlobKey: v.BlobKey, SHA256: v.Sha256, Size: v.Size, KeyID: v.KeyID, WrappedKey: v.WrappedKey}
}

func outputsAAD(id uuid.UUID) []byte { return append(id[:], "/outputs"...) }

// Current returns the workspace's current state and its version.
func (s *Service) Current(ctx context.Context, p org.Principal, wsID uuid.UUID) (Version, []byte, error) {
	v, data, _, err := s.CurrentDirect(ctx, p, wsID, false)
	return v, data, err
}

// Download returns one version's state. Only organization tokens list and
// download old versions; job credentials read the current state.
func (s *Service) Download(ctx context.Context, orgID, versionID uuid.UUID) (Version, []byte, error) {
	return s.read(ctx, orgID, versionID)
}

// Get returns one version's metadata.
func (s *Service) Get(ctx context.Context, orgID, versionID uuid.UUID) (Version, error) {
	v, err := dbsqlc.New(s.db).StateVersionGet(ctx, dbsqlc.StateVersionGetParams{ID: versionID, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return Version{}, ErrNotFound
	}
	if err != nil {
		return Version{}, err
	}
	return view(v), nil
}

// List returns a workspace's versions, newest first, below beforeSerial.
func (s *Service) List(ctx context.Context, orgID, wsID uuid.UUID, beforeSerial int64, limit int) ([]Version, error) {
	rows, err := dbsqlc.New(s.db).StateVersionList(ctx, dbsqlc.StateVersionListParams{
		WorkspaceID: wsID, OrganizationID: orgID, BeforeSerial: beforeSerial, MaxRows: int32(limit),
	})
	if err != nil {
		return nil, err
	}
	out := make([]Version, 0, len(rows))
	for _, r := range rows {
		out = append(out, view(r))
	}
	return out, nil
}

// Count is how many versions a workspace has.
func (s *Service) Count(ctx context.Context, orgID, wsID uuid.UUID) (int64, error) {
	return dbsqlc.New(s.db).StateVersionCount(ctx, dbsqlc.StateVersionCountParams{WorkspaceID: wsID, OrganizationID: orgID})
}

// Outputs returns the current state's outputs, sensitive values withheld.
func (s *Service) Outputs(ctx context.Context, p org.Principal, wsID uuid.UUID) ([]NamedOutput, error) {
	w, err := s.workspace(ctx, dbsqlc.New(s.db), p, wsID)
	if err != nil {
		return nil, err
	}
	if w.CurrentStateVersionID == nil {
		return []NamedOutput{}, nil
	}
	_, outputs, err := s.VersionOutputs(ctx, p.OrgID, *w.CurrentStateVersionID, false)
	return outputs, err
}

// VersionOutputs returns one version with its outputs in name order,
// sensitive values only when asked: whoever may download the version may
// read them.
func (s *Service) VersionOutputs(ctx context.Context, orgID, versionID uuid.UUID, withSensitive bool) (Version, []NamedOutput, error) {
	v, err := dbsqlc.New(s.db).StateVersionGet(ctx, dbsqlc.StateVersionGetParams{ID: versionID, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return Version{}, nil, ErrNotFound
	}
	if err != nil {
		return Version{}, nil, err
	}
	outputs, err := s.outputsOf(ctx, v)
	if err != nil {
		return Version{}, nil, err
	}
	list := make([]NamedOutput, 0, len(outputs))
	for name, o := range outputs {
		n := NamedOutput{Name: name, Type: o.Type, Sensitive: o.Sensitive}
		if !o.Sensitive || withSensitive {
			n.Value = o.Value
		}
		list = append(list, n)
	}
	sortOutputs(list)
	return view(v), list, nil
}

// outputsOf opens a version's sealed outputs.
func (s *Service) outputsOf(ctx context.Context, v dbsqlc.StateVersion) (map[string]Output, error) {
	key, err := s.objects.DataKey(ctx, object(v), envelope.WorkspaceContext(v.OrganizationID, v.WorkspaceID))
	if err != nil {
		return nil, err
	}
	plain, err := envelope.Open(key, outputsAAD(v.ID), bytes.Clone(v.OutputsSealed))
	if err != nil {
		slog.ErrorContext(ctx, "state outputs failed their integrity check", "state_version", v.ID, "workspace", v.WorkspaceID, "err", err)
		return nil, fmt.Errorf("%w: outputs of version %s", ErrCorrupt, v.ID)
	}
	var outputs map[string]Output
	if err := json.Unmarshal(plain, &outputs); err != nil {
		return nil, fmt.Errorf("%w: outputs of version %s", ErrCorrupt, v.ID)
	}
	return outputs, nil
}

// OutputsChanged reports whether a version's outputs differ from those of
// the version before it (a first version's outputs are new; no version, no change).
func (s *Service) OutputsChanged(ctx context.Context, orgID, wsID uuid.UUID, versionID *uuid.UUID) (bool, error) {
	if versionID == nil {
		return false, nil
	}
	q := dbsqlc.New(s.db)
	v, err := q.StateVersionGet(ctx, dbsqlc.StateVersionGetParams{ID: *versionID, OrganizationID: orgID})
	if err != nil {
		return false, err
	}
	prev, err := q.StateVersionPrevious(ctx, dbsqlc.StateVersionPreviousParams{WorkspaceID: wsID, OrganizationID: orgID, Serial: v.Serial})
	if errors.Is(err, pgx.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	now, err := s.outputsOf(ctx, v)
	if err != nil {
		return false, err
	}
	before, err := s.outputsOf(ctx, prev)
	if err != nil {
		return false, err
	}
	return !sameOutputs(now, before), nil
}

func sameOutputs(a, b map[string]Output) bool {
	if len(a) != len(b) {
		return false
	}
	for name, x := range a {
		y, ok := b[name]
		if !ok || x.Sensitive != y.Sensitive || !jsonEqual(x.Value, y.Value) {
			return false
		}
	}
	return true
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// workspace loads what a state operation needs and checks the caller may read.
func (s *Service) workspace(ctx context.Context, q *dbsqlc.Queries, p org.Principal, wsID uuid.UUID) (dbsqlc.StateWorkspaceGetRow, error) {
	w, err := q.StateWorkspaceGet(ctx, dbsqlc.StateWorkspaceGetParams{
		WorkspaceID: wsID, OrganizationID: p.OrgID, Reader: p.WorkspaceID,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return w, ErrNotFound
	}
	if err == nil && !w.Readable {
		// Refused, not missing: terraform would otherwise read "no state"
		// and carry on without the outputs it asked for.
		return w, ErrNotShared
	}
	return w, err
}

// read fetches, unwraps, opens and verifies one version.
func (s *Service) read(ctx context.Context, orgID, versionID uuid.UUID) (Version, []byte, error) {
	v, err := s.version(ctx, orgID, versionID)
	if err != nil {
		return Version{}, nil, err
	}
	plain, err := s.objects.Get(ctx, object(v), envelope.WorkspaceContext(v.OrganizationID, v.WorkspaceID))
	if err != nil {
		return Version{}, nil, err
	}
	return view(v), plain, nil
}

func (s *Service) version(ctx context.Context, orgID, versionID uuid.UUID) (dbsqlc.StateVersion, error) {
	v, err := dbsqlc.New(s.db).StateVersionGet(ctx, dbsqlc.StateVersionGetParams{ID: versionID, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return v, ErrNotFound
	}
	return v, err
}

// CurrentDirect is Current for a client that may fetch large objects
// itself (direct, the agent's state proxy): a large state in storage that
// signs requests then comes back as a grant to fetch and open it, with no
// bytes.
func (s *Service) CurrentDirect(ctx context.Context, p org.Principal, wsID uuid.UUID, direct bool) (Version, []byte, *agentapi.ObjectDownload, error) {
	w, err := s.workspace(ctx, dbsqlc.New(s.db), p, wsID)
	if err != nil {
		return Version{}, nil, nil, err
	}
	if w.CurrentStateVersionID == nil {
		return Version{}, nil, nil, ErrNoState
	}
	v, err := s.version(ctx, p.OrgID, *w.CurrentStateVersionID)
	if err != nil {
		return Version{}, nil, nil, err
	}
	data, grant, err := s.objects.Fetch(ctx, object(v), envelope.WorkspaceContext(v.OrganizationID, v.WorkspaceID), direct)
	return view(v), data, grant, err
}

func view(v dbsqlc.StateVersion) Version {
	return Version{
		ID: v.ID, WorkspaceID: v.WorkspaceID, Serial: v.Serial, Lineage: v.Lineage,
		SHA256: hex.EncodeToString(v.Sha256), Size: v.Size, CreatedBy: v.CreatedBy, RunID: v.RunID,
		RollbackOf: v.RollbackOf, CreatedAt: v.CreatedAt.UTC(),
	}
}

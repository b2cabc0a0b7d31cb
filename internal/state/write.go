package state

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/agentapi"
	"github.com/runplane/runplane/internal/audit"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/sealed"
	"github.com/runplane/runplane/internal/validate"
)

// lockInfo is the part of Terraform's lock-info JSON the service reads.
type lockInfo struct {
	ID string `json:"ID"`
}

func parseLockInfo(info []byte) (lockInfo, error) {
	var li lockInfo
	if len(info) > 64<<10 {
		return li, validate.Errorf("lock info is larger than 64 KiB")
	}
	if err := json.Unmarshal(info, &li); err != nil {
		return li, validate.Errorf("lock info is not a JSON object: %s", describe(err))
	}
	var all map[string]any
	if err := json.Unmarshal(info, &all); err != nil {
		return li, validate.Errorf("lock info is not a JSON object: %s", describe(err))
	}
	if err := validate.Text(all); err != nil {
		return li, err
	}
	if li.ID == "" || len(li.ID) > 200 {
		return li, validate.Errorf("lock info needs an \"ID\" of 1 to 200 characters")
	}
	return li, nil
}

// Lock takes the state lock with Terraform's lock info. The same lock ID
// locking again succeeds, so a retried request is harmless.
func (s *Service) Lock(ctx context.Context, p org.Principal, wsID uuid.UUID, info []byte) error {
	li, err := parseLockInfo(info)
	if err != nil {
		return err
	}
	return dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		if _, err := s.writable(ctx, q, p, wsID); err != nil {
			return err
		}
		n, err := q.StateLockCreate(ctx, dbsqlc.StateLockCreateParams{
			WorkspaceID: wsID, OrganizationID: p.OrgID, LockID: li.ID, Info: info, TokenID: &p.TokenID, RunID: p.RunID,
		})
		if err != nil {
			return err
		}
		if n == 1 {
			return record(ctx, q, p.OrgID, wsID, "state.locked", map[string]any{"lock_id": li.ID})
		}
		held, err := q.StateLockGet(ctx, dbsqlc.StateLockGetParams{WorkspaceID: wsID, OrganizationID: p.OrgID})
		if err != nil {
			return err
		}
		if held.LockID == li.ID {
			return nil
		}
		return &LockedError{Info: held.Info, ID: held.LockID}
	})
}

// Unlock releases the lock with Terraform's lock info. Releasing a lock that
// is already gone succeeds, so a retried request is harmless; another
// holder's lock is refused with that holder's info.
func (s *Service) Unlock(ctx context.Context, p org.Principal, wsID uuid.UUID, info []byte) error {
	li, err := parseLockInfo(info)
	if err != nil {
		return err
	}
	return dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		if _, err := s.writable(ctx, q, p, wsID); err != nil {
			return err
		}
		n, err := q.StateLockDelete(ctx, dbsqlc.StateLockDeleteParams{WorkspaceID: wsID, OrganizationID: p.OrgID, LockID: li.ID})
		if err != nil {
			return err
		}
		if n == 1 {
			if err := record(ctx, q, p.OrgID, wsID, "state.unlocked", map[string]any{"lock_id": li.ID}); err != nil {
				return err
			}
			return admitWaiting(ctx, q, p.OrgID, wsID)
		}
		held, err := q.StateLockGet(ctx, dbsqlc.StateLockGetParams{WorkspaceID: wsID, OrganizationID: p.OrgID})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return &LockedError{Info: held.Info, ID: held.LockID}
	})
}

// ForceUnlock releases whatever lock is held (terraform force-unlock). The
// caller checks the role; a run's hold on the workspace is not a state lock
// and is not released here.
func (s *Service) ForceUnlock(ctx context.Context, p org.Principal, wsID uuid.UUID) error {
	if _, err := s.workspace(ctx, dbsqlc.New(s.db), p, wsID); err != nil {
		return err
	}
	return dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		n, err := q.StateLockForceDelete(ctx, dbsqlc.StateLockForceDeleteParams{WorkspaceID: wsID, OrganizationID: p.OrgID})
		if err == nil && n == 0 {
			return ErrNotLocked
		}
		if err != nil {
			return err
		}
		if err := record(ctx, q, p.OrgID, wsID, "state.force_unlocked", nil); err != nil {
			return err
		}
		return admitWaiting(ctx, q, p.OrgID, wsID)
	})
}

// record adds a change of workspace wsID's state to the audit trail.
func record(ctx context.Context, q *dbsqlc.Queries, orgID, wsID uuid.UUID, action string, detail map[string]any) error {
	return audit.Record(ctx, q, orgID, audit.Change{Action: action, ObjectKind: "workspace", ObjectID: &wsID, Detail: detail})
}

// admitWaiting admits the run that waited for the state lock just
// released, in the releasing transaction: it starts within the agents'
// claim, not at the next tick.
func admitWaiting(ctx context.Context, q *dbsqlc.Queries, orgID, wsID uuid.UUID) error {
	_, err := run.AdmitNext(ctx, q, orgID, wsID, time.Now().UTC())
	return err
}

// Write stores data as the workspace's new current version. lockID is the
// ID of the state lock the writer holds (the backend's ?ID=). Writing the
// current version's bytes again returns it unchanged, so a retried upload
// after a lost answer succeeds instead of failing on its own serial.
func (s *Service) Write(ctx context.Context, p org.Principal, wsID uuid.UUID, lockID string, data []byte) (Version, error) {
	return s.write(ctx, p, wsID, newVersion{id: uuid.New(), data: data}, s.lockHolder(p, wsID, lockID))
}

// GrantUpload lets p, who may write wsID's state now, upload a state of
// size bytes straight to storage (sealed under the data key it hands out);
// WriteObject then commits it. The grant is for one object of that size.
func (s *Service) GrantUpload(ctx context.Context, p org.Principal, wsID uuid.UUID, size int64) (agentapi.ObjectUpload, error) {
	if size > MaxSize {
		return agentapi.ObjectUpload{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, size, MaxSize)
	}
	if size <= 0 {
		return agentapi.ObjectUpload{}, validate.Errorf("size must be a positive number of bytes")
	}
	if _, err := s.writable(ctx, dbsqlc.New(s.db), p, wsID); err != nil {
		return agentapi.ObjectUpload{}, err
	}
	id := uuid.New()
	return s.objects.GrantPut(ctx, id, blobKey(p.OrgID, wsID, id), envelope.WorkspaceContext(p.OrgID, wsID), size)
}

// WriteObject is Write for a state uploaded under GrantUpload as object
// id: the object is opened and checked against c, then Write's checks
// apply to its content and it becomes the new version as it lies.
func (s *Service) WriteObject(ctx context.Context, p org.Principal, wsID uuid.UUID, lockID string, id uuid.UUID, c agentapi.ObjectCommit) (Version, error) {
	if c.Size > MaxSize {
		return Version{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, c.Size, MaxSize)
	}
	may := s.lockHolder(p, wsID, lockID)
	if _, err := may(ctx, dbsqlc.New(s.db)); err != nil {
		return Version{}, err
	}
	obj, data, key, err := s.objects.Adopt(ctx, id, blobKey(p.OrgID, wsID, id), envelope.WorkspaceContext(p.OrgID, wsID), c)
	if err != nil {
		return Version{}, err
	}
	return s.write(ctx, p, wsID, newVersion{id: id, data: data, stored: &obj, key: key}, may)
}

// lockHolder says p may write while holding the state lock lockID.
func (s *Service) lockHolder(p org.Principal, wsID uuid.UUID, lockID string) func(context.Context, *dbsqlc.Queries) (dbsqlc.StateWorkspaceGetRow, error) {
	return func(ctx context.Context, q *dbsqlc.Queries) (dbsqlc.StateWorkspaceGetRow, error) {
		w, err := s.writable(ctx, q, p, wsID)
		if err != nil {
			return w, err
		}
		held, err := q.StateLockGet(ctx, dbsqlc.StateLockGetParams{WorkspaceID: wsID, OrganizationID: p.OrgID})
		if errors.Is(err, pgx.ErrNoRows) {
			return w, ErrLockRequired
		}
		if err != nil {
			return w, err
		}
		if held.LockID != lockID {
			return w, &LockedError{Info: held.Info, ID: held.LockID}
		}
		return w, nil
	}
}

func blobKey(orgID, wsID, id uuid.UUID) string { return fmt.Sprintf("state/%s/%s/%s", orgID, wsID, id) }

// WriteAsLocker stores a state version from the holder of the workspace's
// lock, the Terraform Cloud API's rule (its clients lock the workspace,
// not the state): Write's checks, with the workspace lock in place of the
// state lock, which nobody may hold meanwhile. id names the new version;
// writing the current version's bytes again returns it unchanged.
func (s *Service) WriteAsLocker(ctx context.Context, p org.Principal, wsID, id uuid.UUID, data []byte) (Version, error) {
	return s.write(ctx, p, wsID, newVersion{id: id, data: data}, func(ctx context.Context, q *dbsqlc.Queries) (dbsqlc.StateWorkspaceGetRow, error) {
		return s.locker(ctx, q, p, wsID)
	})
}

// write checks and stores nv once may, run before the upload and again in
// the storing transaction, says p may write now.
func (s *Service) write(ctx context.Context, p org.Principal, wsID uuid.UUID, nv newVersion,
	may func(context.Context, *dbsqlc.Queries) (dbsqlc.StateWorkspaceGetRow, error)) (Version, error) {
	if len(nv.data) > MaxSize {
		return Version{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(nv.data), MaxSize)
	}
	file, err := Parse(nv.data)
	if err != nil {
		return Version{}, err
	}
	nv.file = file
	sum := sha256.Sum256(nv.data)
	check := func(ctx context.Context, q *dbsqlc.Queries) (*dbsqlc.StateVersion, error) {
		w, err := may(ctx, q)
		if err != nil {
			return nil, err
		}
		return successor(ctx, q, p.OrgID, w, file, sum)
	}
	return s.store(ctx, p, wsID, nv, check)
}

// newVersion is a state about to become a version.
type newVersion struct {
	id         uuid.UUID
	data       []byte
	file       File
	rollbackOf *uuid.UUID
	// stored and key are set when the client sealed and uploaded the
	// object itself (WriteObject): it is recorded as it lies.
	stored *sealed.Object
	key    []byte
}

// CheckLocker tells, before any bytes arrive, whether WriteAsLocker would
// take p's write for its lock.
func (s *Service) CheckLocker(ctx context.Context, p org.Principal, wsID uuid.UUID) error {
	_, err := s.locker(ctx, dbsqlc.New(s.db), p, wsID)
	return err
}

// locker checks that p holds the workspace's lock and nobody its state lock.
func (s *Service) locker(ctx context.Context, q *dbsqlc.Queries, p org.Principal, wsID uuid.UUID) (dbsqlc.StateWorkspaceGetRow, error) {
	w, err := s.writable(ctx, q, p, wsID)
	if err != nil {
		return w, err
	}
	if !w.Locked || w.LockedBy == nil || *w.LockedBy != p.TokenID {
		return w, ErrWorkspaceLockRequired
	}
	held, err := q.StateLockGet(ctx, dbsqlc.StateLockGetParams{WorkspaceID: wsID, OrganizationID: p.OrgID})
	if err == nil {
		return w, &LockedError{Info: held.Info, ID: held.LockID}
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return w, err
	}
	return w, nil
}

// successor checks that file may follow the workspace's current version:
// the same lineage and a higher serial, or the current version itself
// (returned, so that a retried write succeeds).
func successor(ctx context.Context, q *dbsqlc.Queries, orgID uuid.UUID, w dbsqlc.StateWorkspaceGetRow, file File, sum [32]byte) (*dbsqlc.StateVersion, error) {
	if w.CurrentStateVersionID == nil {
		if file.Serial > MaxSerialStep {
			return nil, fmt.Errorf("%w: the first version's serial %d is above %d", ErrInvalid, file.Serial, int64(MaxSerialStep))
		}
		return nil, nil
	}
	cur, err := q.StateVersionGet(ctx, dbsqlc.StateVersionGetParams{ID: *w.CurrentStateVersionID, OrganizationID: orgID})
	if err != nil {
		return nil, err
	}
	switch {
	case file.Serial > cur.Serial && file.Serial-cur.Serial > MaxSerialStep:
		return nil, fmt.Errorf("%w: the upload's serial %d is more than %d above the current serial %d", ErrInvalid, file.Serial, int64(MaxSerialStep), cur.Serial)
	case cur.Lineage != file.Lineage:
		return nil, fmt.Errorf("%w: the workspace's lineage is %q, the upload's is %q", ErrLineage, cur.Lineage, file.Lineage)
	case cur.Serial == file.Serial && bytes.Equal(cur.Sha256, sum[:]):
		return &cur, nil
	case file.Serial <= cur.Serial:
		return nil, fmt.Errorf("%w: the upload's serial %d is not above the current serial %d", ErrStaleSerial, file.Serial, cur.Serial)
	}
	return nil, nil
}

// Rollback makes a new current version whose content is an old version's,
// with its serial moved above the current one. Nothing is rewritten: the old
// version and everything after it stay in the history.
func (s *Service) Rollback(ctx context.Context, p org.Principal, wsID, versionID uuid.UUID) (Version, error) {
	old, data, err := s.read(ctx, p.OrgID, versionID)
	if err != nil {
		return Version{}, err
	}
	if old.WorkspaceID != wsID {
		return Version{}, ErrNotFound
	}
	w, err := s.workspace(ctx, dbsqlc.New(s.db), p, wsID)
	if err != nil {
		return Version{}, err
	}
	if w.CurrentStateVersionID == nil {
		return Version{}, ErrNoState
	}
	cur, err := dbsqlc.New(s.db).StateVersionGet(ctx, dbsqlc.StateVersionGetParams{ID: *w.CurrentStateVersionID, OrganizationID: p.OrgID})
	if err != nil {
		return Version{}, err
	}
	if cur.Serial >= MaxSerial {
		return Version{}, fmt.Errorf("%w: the current serial %d is at the limit; no version can follow it", ErrInvalid, cur.Serial)
	}
	if data, err = withSerial(data, cur.Serial+1); err != nil {
		return Version{}, err
	}
	file, err := Parse(data)
	if err != nil {
		return Version{}, err
	}
	check := func(ctx context.Context, q *dbsqlc.Queries) (*dbsqlc.StateVersion, error) {
		w, err := s.writable(ctx, q, p, wsID)
		if err != nil {
			return nil, err
		}
		held, err := q.StateLockGet(ctx, dbsqlc.StateLockGetParams{WorkspaceID: wsID, OrganizationID: p.OrgID})
		if err == nil {
			return nil, &LockedError{Info: held.Info, ID: held.LockID}
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		if *w.CurrentStateVersionID != cur.ID {
			return nil, fmt.Errorf("%w: the state changed while rolling back; try again", ErrStaleSerial)
		}
		return nil, nil
	}
	return s.store(ctx, p, wsID, newVersion{id: uuid.New(), data: data, file: file, rollbackOf: &versionID}, check)
}

// writable loads the workspace and refuses writers other than its own
// credential, and anyone but the holding run while a run holds it.
func (s *Service) writable(ctx context.Context, q *dbsqlc.Queries, p org.Principal, wsID uuid.UUID) (dbsqlc.StateWorkspaceGetRow, error) {
	w, err := s.workspace(ctx, q, p, wsID)
	if err != nil {
		return w, err
	}
	if p.WorkspaceID != nil && *p.WorkspaceID != wsID {
		return w, ErrReadOnly
	}
	if w.ActiveRunID != nil && (p.RunID == nil || *p.RunID != *w.ActiveRunID) {
		return w, runHolds(*w.ActiveRunID, s.now())
	}
	// A locked workspace takes state only from whoever locked it: the token
	// that took a manual lock, or the interrupted apply the lock was taken
	// for. The run holding the workspace carries on whatever the lock.
	if w.ActiveRunID == nil && w.Locked &&
		!(w.LockedBy != nil && *w.LockedBy == p.TokenID) &&
		!(w.LockedForRunID != nil && p.RunID != nil && *w.LockedForRunID == *p.RunID) {
		return w, workspaceLocked(w.LockReason, s.now())
	}
	return w, nil
}

// workspaceLocked answers, in Terraform's lock-info shape, that the
// workspace is locked by someone else.
func workspaceLocked(reason string, now time.Time) *LockedError {
	info, _ := json.Marshal(map[string]string{
		"ID":        "workspace-lock",
		"Operation": "lock",
		"Who":       "runplane workspace lock",
		"Info":      "the workspace is locked (" + reason + "); only its locker may lock or write its state",
		"Created":   now.UTC().Format(time.RFC3339),
	})
	return &LockedError{Info: info, ID: "workspace-lock"}
}

// runHolds answers, in Terraform's lock-info shape, that a run holds the workspace.
func runHolds(runID uuid.UUID, now time.Time) *LockedError {
	info, _ := json.Marshal(map[string]string{
		"ID":        runID.String(),
		"Operation": "run",
		"Who":       "runplane run " + runID.String(),
		"Info":      "the workspace is held by run " + runID.String() + "; only that run may lock or write its state",
		"Created":   now.UTC().Format(time.RFC3339),
	})
	return &LockedError{Info: info, ID: runID.String()}
}

// writeCheck validates a write against the database; it returns the
// current version when the write repeats it exactly.
type writeCheck func(ctx context.Context, q *dbsqlc.Queries) (*dbsqlc.StateVersion, error)

// store seals and uploads nv (unless its client did), then records the
// version and moves the current pointer in one transaction. check runs
// before the upload, to refuse cheaply, and again inside the transaction,
// where it decides.
func (s *Service) store(ctx context.Context, p org.Principal, wsID uuid.UUID, nv newVersion, check writeCheck) (Version, error) {
	if same, err := check(ctx, dbsqlc.New(s.db)); err != nil || same != nil {
		return viewOrZero(same), err
	}
	id, file := nv.id, nv.file
	obj, dataKey := nv.stored, nv.key
	if obj == nil {
		put, key, err := s.objects.Put(ctx, id, blobKey(p.OrgID, wsID, id), envelope.WorkspaceContext(p.OrgID, wsID), nv.data)
		if err != nil {
			return Version{}, err
		}
		obj, dataKey = &put, key
	}
	outputs, err := json.Marshal(file.Outputs)
	if err != nil {
		return Version{}, err
	}
	sealedOutputs, err := envelope.Seal(nil, dataKey, outputsAAD(id), outputs)
	if err != nil {
		return Version{}, err
	}
	var out Version
	err = dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		same, err := check(ctx, q)
		if err != nil || same != nil {
			out = viewOrZero(same)
			return err
		}
		v, err := q.StateVersionCreate(ctx, dbsqlc.StateVersionCreateParams{
			ID: id, OrganizationID: p.OrgID, WorkspaceID: wsID, Serial: file.Serial, Lineage: file.Lineage,
			Sha256: obj.SHA256, Size: obj.Size, BlobKey: obj.BlobKey, KeyID: obj.KeyID, WrappedKey: obj.WrappedKey,
			OutputsSealed: sealedOutputs, CreatedBy: &p.TokenID, RunID: p.RunID, RollbackOf: nv.rollbackOf,
		})
		if err != nil {
			return err
		}
		out = view(v)
		action, detail := "state.written", map[string]any{"version_id": id, "serial": v.Serial, "size": v.Size}
		if nv.rollbackOf != nil {
			action, detail["rollback_of"] = "state.rolled_back", *nv.rollbackOf
		}
		if err := record(ctx, q, p.OrgID, wsID, action, detail); err != nil {
			return err
		}
		return q.WorkspaceSetCurrentState(ctx, dbsqlc.WorkspaceSetCurrentStateParams{StateVersionID: &id, ID: wsID, OrganizationID: p.OrgID})
	})
	return out, err
}

func viewOrZero(v *dbsqlc.StateVersion) Version {
	if v == nil {
		return Version{}
	}
	return view(*v)
}

func sortOutputs(list []NamedOutput) {
	slices.SortFunc(list, func(a, b NamedOutput) int { return cmp.Compare(a.Name, b.Name) })
}

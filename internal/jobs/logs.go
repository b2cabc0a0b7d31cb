package jobs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/agentapi"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/sealed"
)

// maxLogSlack is what the agent's truncation line may add past
// agentapi.MaxLog; the server refuses anything longer.
const maxLogSlack = 1 << 10

// AppendLog stores a chunk of the job's log at offset, sealed with the
// job's data key. A chunk the log already holds is accepted without
// change, so a retried append is harmless.
func (s *Service) AppendLog(ctx context.Context, jobID, lease uuid.UUID, offset int64, data []byte) (int64, error) {
	key, err := s.chunkKey(ctx, jobID, lease, offset, data, agentapi.MaxLogChunk)
	if err != nil {
		return 0, err
	}
	var size int64
	err = dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		j, err := s.live(ctx, q, jobID, lease)
		if err != nil {
			return err
		}
		size, err = appendChunk(ctx, q, j, key, offset, data)
		return err
	})
	return size, err
}

// chunkKey checks a chunk of at most max bytes at offset and returns the
// job's log key to seal it with, before the transaction that stores it:
// making or unwrapping the key may call KMS.
func (s *Service) chunkKey(ctx context.Context, jobID, lease uuid.UUID, offset int64, data []byte, max int) ([]byte, error) {
	if offset < 0 || len(data) > max {
		return nil, fmt.Errorf("%w: offset must be ≥ 0 and a chunk at most %d bytes", ErrInvalid, max)
	}
	if offset+int64(len(data)) > agentapi.MaxLog+maxLogSlack {
		return nil, fmt.Errorf("%w: a phase's log is kept up to %d bytes; end it with a truncation line", ErrInvalid, agentapi.MaxLog)
	}
	j, err := s.live(ctx, dbsqlc.New(s.db), jobID, lease)
	if err != nil {
		return nil, err
	}
	return s.logKey(ctx, j)
}

// appendChunk stores what the log does not hold yet of a chunk at offset,
// in the caller's transaction, and returns the log's new size.
func appendChunk(ctx context.Context, q *dbsqlc.Queries, j dbsqlc.Job, key []byte, offset int64, data []byte) (int64, error) {
	end := offset + int64(len(data))
	switch {
	case offset > j.LogSize:
		return j.LogSize, fmt.Errorf("%w: the log holds %d bytes, the chunk starts at %d", ErrLogGap, j.LogSize, offset)
	case end <= j.LogSize:
		return j.LogSize, nil
	}
	sealedChunk, err := envelope.Seal(nil, key, chunkAAD(j.ID, j.LogSize), data[j.LogSize-offset:])
	if err != nil {
		return j.LogSize, err
	}
	if err := q.JobLogChunkAdd(ctx, dbsqlc.JobLogChunkAddParams{
		JobID: j.ID, OrganizationID: j.OrganizationID, ByteOffset: j.LogSize, Data: sealedChunk,
	}); err != nil {
		return j.LogSize, err
	}
	return end, q.JobSetLogSize(ctx, dbsqlc.JobSetLogSizeParams{LogSize: end, ID: j.ID})
}

// chunkAAD binds a sealed chunk to its job and place in the log, so chunks
// cannot be moved between logs or reordered.
func chunkAAD(jobID uuid.UUID, offset int64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte("log-chunk:"), jobID[:]...), uint64(offset))
}

// logKey is the job's log data key, made at its first chunk.
func (s *Service) logKey(ctx context.Context, j dbsqlc.Job) ([]byte, error) {
	ec := envelope.WorkspaceContext(j.OrganizationID, j.WorkspaceID)
	if j.LogWrappedKey == nil {
		dk, err := s.objects.NewKey(ctx, ec)
		if err != nil {
			return nil, err
		}
		_, err = dbsqlc.New(s.db).JobSetLogKey(ctx, dbsqlc.JobSetLogKeyParams{LogKeyID: dk.ID, LogWrappedKey: dk.Wrapped, ID: j.ID})
		if err == nil {
			return dk.Plaintext, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		// Another append set it first.
		if j, err = dbsqlc.New(s.db).JobGet(ctx, j.ID); err != nil {
			return nil, err
		}
	}
	return s.objects.UnwrapKey(ctx, j.LogKeyID, j.LogWrappedKey, ec)
}

// ArchiveLog moves an ended job's log from its chunks to one sealed object
// in blob storage. It is called after a job ends; a failure leaves the
// sealed chunks, which read the same.
func (s *Service) ArchiveLog(ctx context.Context, orgID, jobID uuid.UUID) error {
	q := dbsqlc.New(s.db)
	j, err := q.JobGet(ctx, jobID)
	if err != nil {
		return err
	}
	if j.Status == "running" || j.OrganizationID != orgID {
		return nil
	}
	if _, err := q.JobLogGet(ctx, dbsqlc.JobLogGetParams{JobID: j.ID, OrganizationID: orgID}); err == nil {
		return nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	chunks, err := q.JobLogChunkList(ctx, dbsqlc.JobLogChunkListParams{JobID: j.ID, OrganizationID: orgID})
	if err != nil || len(chunks) == 0 {
		// A phase that printed nothing reads as an empty log without an object.
		return err
	}
	var log []byte
	if err := s.writeChunks(ctx, j, chunks, writerFunc(func(p []byte) (int, error) { log = append(log, p...); return len(p), nil })); err != nil {
		return err
	}
	id := uuid.New()
	obj, _, err := s.objects.Put(ctx, id, fmt.Sprintf("logs/%s/%s/%s", orgID, j.RunID, id), envelope.WorkspaceContext(orgID, j.WorkspaceID), log)
	if err != nil {
		return err
	}
	return dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		if err := q.JobLogPut(ctx, dbsqlc.JobLogPutParams{
			JobID: j.ID, OrganizationID: orgID, ID: id, Sha256: obj.SHA256, Size: obj.Size,
			BlobKey: obj.BlobKey, KeyID: obj.KeyID, WrappedKey: obj.WrappedKey,
		}); err != nil {
			return err
		}
		return q.JobLogChunksDelete(ctx, dbsqlc.JobLogChunksDeleteParams{JobID: j.ID, OrganizationID: orgID})
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Logs writes the log of a run's latest job of a phase to w, a chunk at a
// time while the phase runs, from its sealed object once it ended.
func (s *Service) Logs(ctx context.Context, orgID, runID uuid.UUID, phase Phase, w io.Writer) error {
	q := dbsqlc.New(s.db)
	j, err := q.JobLatestByRunPhase(ctx, dbsqlc.JobLatestByRunPhaseParams{RunID: runID, OrganizationID: orgID, Phase: string(phase)})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	// Chunks first, then the archived object: archiving inserts the object
	// and deletes the chunks in one transaction, so a log whose chunks are
	// gone by the time they are read has its object by then.
	chunks, err := q.JobLogChunkList(ctx, dbsqlc.JobLogChunkListParams{JobID: j.ID, OrganizationID: orgID})
	if err != nil {
		return err
	}
	if len(chunks) > 0 {
		if j.LogWrappedKey == nil {
			// The job was read before its first chunk set the log key.
			if j, err = q.JobGet(ctx, j.ID); err != nil {
				return err
			}
		}
		return s.writeChunks(ctx, j, chunks, w)
	}
	a, err := q.JobLogGet(ctx, dbsqlc.JobLogGetParams{JobID: j.ID, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // nothing logged yet
	}
	if err != nil {
		return err
	}
	log, err := s.objects.Get(ctx, sealed.Object{
		ID: a.ID, BlobKey: a.BlobKey, SHA256: a.Sha256, Size: a.Size, KeyID: a.KeyID, WrappedKey: a.WrappedKey,
	}, envelope.WorkspaceContext(orgID, j.WorkspaceID))
	if err != nil {
		return expired(err)
	}
	_, err = w.Write(log)
	return err
}

// writeChunks opens a job's sealed chunks and writes them to w in order.
func (s *Service) writeChunks(ctx context.Context, j dbsqlc.Job, chunks []dbsqlc.JobLogChunkListRow, w io.Writer) error {
	var key []byte
	var err error
	if j.LogWrappedKey != nil {
		if key, err = s.objects.UnwrapKey(ctx, j.LogKeyID, j.LogWrappedKey, envelope.WorkspaceContext(j.OrganizationID, j.WorkspaceID)); err != nil {
			return err
		}
	}
	for _, c := range chunks {
		data := c.Data
		if key != nil {
			if data, err = envelope.Open(key, chunkAAD(j.ID, c.ByteOffset), c.Data); err != nil {
				slog.ErrorContext(ctx, "a sealed log chunk failed its check", "job", j.ID, "offset", c.ByteOffset, "err", err)
				return fmt.Errorf("log chunk at %d of job %s: %w", c.ByteOffset, j.ID, sealed.ErrCorrupt)
			}
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}

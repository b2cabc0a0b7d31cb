package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
)

// Actor is who makes a change.
type Actor struct {
	// Kind is "token" (an organization's token), "user" or "team" (their
	// tokens), "site_admin", "job" (a run's job credential: terraform in an
	// agent), "agent" or "system".
	Kind string `json:"kind"`
	// TokenID names the token, for "token", "user", "team" and "job".
	TokenID *uuid.UUID `json:"token_id,omitempty"`
	// HolderID names the user or the team.
	HolderID *uuid.UUID `json:"holder_id,omitempty"`
	// Source is where the request came from (its client address).
	Source string `json:"source,omitempty"`
}

type actorKey struct{}

// WithActor puts the actor of a request on its context.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// TokenOf is the token acting in ctx, if a token is.
func TokenOf(ctx context.Context) *uuid.UUID { return actor(ctx).TokenID }

func actor(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{Kind: "system"}
}

// Entry is one audited change: its stored body, with the number and hash
// sealing gave it.
type Entry struct {
	Seq int64 `json:"seq"`
	body
	Hash string `json:"hash"`
}

// body is what is stored and hashed of an entry.
type body struct {
	OrganizationID uuid.UUID      `json:"organization_id"`
	At             time.Time      `json:"at"`
	Actor          Actor          `json:"actor"`
	Action         string         `json:"action"`
	ObjectKind     string         `json:"object_kind"`
	ObjectID       *uuid.UUID     `json:"object_id,omitempty"`
	Outcome        string         `json:"outcome"`
	Detail         map[string]any `json:"detail,omitempty"`
}

// Change describes what a service changed.
type Change struct {
	Action     string
	ObjectKind string
	ObjectID   *uuid.UUID
	Detail     map[string]any
}

// Record adds c to the organization's trail in the caller's transaction,
// with the context's actor. It takes no lock: the entry is numbered and
// chained when the trail is sealed (Seal).
func Record(ctx context.Context, q *dbsqlc.Queries, orgID uuid.UUID, c Change) error {
	b := body{
		OrganizationID: orgID, At: time.Now().UTC(), Actor: actor(ctx), Action: c.Action,
		ObjectKind: c.ObjectKind, ObjectID: c.ObjectID, Outcome: "succeeded", Detail: c.Detail,
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if err := q.AuditEventAdd(ctx, dbsqlc.AuditEventAddParams{
		OrganizationID: orgID, At: b.At, Action: b.Action, ObjectID: b.ObjectID, Body: string(raw),
	}); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// chain is an entry's hash: the previous hash, the entry's number, its body.
func chain(prev []byte, seq int64, body string) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write([]byte(strconv.FormatInt(seq, 10) + "\n"))
	h.Write([]byte(body))
	return h.Sum(nil)
}

// Service seals and reads the trail.
type Service struct{ db DB }

// DB is what the service needs of the database; *pgxpool.Pool satisfies it.
type DB interface {
	dbtx.Beginner
	dbsqlc.DBTX
}

// NewService returns a Service on db.
func NewService(db DB) *Service { return &Service{db: db} }

// sealBatch bounds the entries one seal numbers.
const sealBatch = 1000

// Seal numbers and chains the organization's entries not sealed yet, in
// the order the changes happened, under the organization's head row.
func (s *Service) Seal(ctx context.Context, orgID uuid.UUID) error {
	for {
		n := 0
		err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
			head, err := q.AuditHeadTake(ctx, orgID)
			if err != nil {
				return err
			}
			rows, err := q.AuditUnsealedList(ctx, dbsqlc.AuditUnsealedListParams{OrganizationID: orgID, MaxRows: sealBatch})
			if err != nil {
				return err
			}
			seq, hash := head.Seq, head.Hash
			for _, r := range rows {
				seq++
				hash = chain(hash, seq, r.Body)
				if err := q.AuditEventSeal(ctx, dbsqlc.AuditEventSealParams{Seq: seq, Hash: hash, ID: r.ID}); err != nil {
					return err
				}
			}
			n = len(rows)
			if n == 0 {
				return nil
			}
			return q.AuditHeadMove(ctx, dbsqlc.AuditHeadMoveParams{Seq: seq, Hash: hash, OrganizationID: orgID})
		})
		if err != nil || n < sealBatch {
			return err
		}
	}
}

// SealAll seals the trails of up to max organizations with entries
// waiting (the tick), and says how many entries' organizations it sealed.
func (s *Service) SealAll(ctx context.Context, max int) (int, error) {
	orgs, err := dbsqlc.New(s.db).AuditUnsealedOrganizations(ctx, int32(max))
	if err != nil {
		return 0, err
	}
	for _, o := range orgs {
		if err := s.Seal(ctx, o); err != nil {
			return 0, fmt.Errorf("seal the audit trail of %s: %w", o, err)
		}
	}
	return len(orgs), nil
}

// Filter narrows a read of the trail.
type Filter struct {
	// After is the last number already read (0: from the start).
	After    int64
	Action   string
	ObjectID *uuid.UUID
	Limit    int
}

// List seals the organization's trail and reads it in order.
func (s *Service) List(ctx context.Context, orgID uuid.UUID, f Filter) ([]Entry, error) {
	if err := s.Seal(ctx, orgID); err != nil {
		return nil, err
	}
	rows, err := dbsqlc.New(s.db).AuditEventList(ctx, dbsqlc.AuditEventListParams{
		OrganizationID: orgID, AfterSeq: f.After, Action: pgtype.Text{String: f.Action, Valid: f.Action != ""},
		ObjectID: f.ObjectID, MaxRows: int32(f.Limit),
	})
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(rows))
	for _, r := range rows {
		var b body
		if err := json.Unmarshal([]byte(r.Body), &b); err != nil {
			return nil, fmt.Errorf("audit entry %d: %w", r.Seq, err)
		}
		out = append(out, Entry{Seq: r.Seq, body: b, Hash: hex.EncodeToString(r.Hash)})
	}
	return out, nil
}

// Verification is what Verify found.
type Verification struct {
	Entries int64 `json:"entries"`
	OK      bool  `json:"ok"`
	// BrokenAt is the first entry whose number, hash or organization does
	// not follow from the entries before it.
	BrokenAt int64  `json:"broken_at,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Verify seals the organization's trail and recomputes its whole chain.
func (s *Service) Verify(ctx context.Context, orgID uuid.UUID) (Verification, error) {
	if err := s.Seal(ctx, orgID); err != nil {
		return Verification{}, err
	}
	q := dbsqlc.New(s.db)
	var prev []byte
	var v Verification
	for after := int64(0); ; {
		rows, err := q.AuditEventList(ctx, dbsqlc.AuditEventListParams{OrganizationID: orgID, AfterSeq: after, MaxRows: sealBatch})
		if err != nil {
			return v, err
		}
		for _, r := range rows {
			var b body
			reason := ""
			switch {
			case r.Seq != v.Entries+1:
				reason = fmt.Sprintf("entry %d follows %d", r.Seq, v.Entries)
			case !bytes.Equal(chain(prev, r.Seq, r.Body), r.Hash):
				reason = "its hash does not cover its body, its number and the previous hash"
			case json.Unmarshal([]byte(r.Body), &b) != nil || b.OrganizationID != orgID:
				reason = "its body names another organization"
			}
			if reason != "" {
				return Verification{Entries: v.Entries, BrokenAt: r.Seq, Reason: reason}, nil
			}
			prev, v.Entries, after = r.Hash, r.Seq, r.Seq
		}
		if len(rows) < sealBatch {
			v.OK = true
			return v, nil
		}
	}
}

package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/runplane/runplane/internal/dbsqlc"
)

// Actor is who makes a change.
type Actor struct {
	// Kind is "token" (an organization's token), "site_admin", "job" (a
	// run's job credential: terraform in an agent), "agent" or "system".
	Kind string `json:"kind"`
	// TokenID names the token, for "token" and "job".
	TokenID *uuid.UUID `json:"token_id,omitempty"`
	// Source is where the request came from (its client address).
	Source string `json:"source,omitempty"`
}

type actorKey struct{}

// WithActor puts the actor of a request on its context.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

func actor(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{Kind: "system"}
}

// Entry is one audited change as stored and shown.
type Entry struct {
	Seq            int64          `json:"seq"`
	OrganizationID uuid.UUID      `json:"organization_id"`
	At             time.Time      `json:"at"`
	Actor          Actor          `json:"actor"`
	Action         string         `json:"action"`
	ObjectKind     string         `json:"object_kind"`
	ObjectID       *uuid.UUID     `json:"object_id,omitempty"`
	Outcome        string         `json:"outcome"`
	Detail         map[string]any `json:"detail,omitempty"`
	// Hash is the chain's hash after this entry (hex); not part of the body.
	Hash string `json:"hash"`
}

// Change describes what a service changed.
type Change struct {
	Action     string
	ObjectKind string
	ObjectID   *uuid.UUID
	Detail     map[string]any
}

// Record appends c to the organization's trail in the caller's
// transaction, with the context's actor.
func Record(ctx context.Context, q *dbsqlc.Queries, orgID uuid.UUID, c Change) error {
	head, err := q.AuditHeadTake(ctx, orgID)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	e := Entry{
		Seq: head.Seq + 1, OrganizationID: orgID, At: time.Now().UTC(), Actor: actor(ctx),
		Action: c.Action, ObjectKind: c.ObjectKind, ObjectID: c.ObjectID, Outcome: "succeeded", Detail: c.Detail,
	}
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	hash := chain(head.Hash, body)
	if err := q.AuditEventAdd(ctx, dbsqlc.AuditEventAddParams{
		OrganizationID: orgID, Seq: e.Seq, At: e.At, Action: e.Action, ObjectID: e.ObjectID, Body: string(body), Hash: hash,
	}); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return q.AuditHeadMove(ctx, dbsqlc.AuditHeadMoveParams{Seq: e.Seq, Hash: hash, OrganizationID: orgID})
}

func chain(prev, body []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(body)
	return h.Sum(nil)
}

// Filter narrows a read of the trail.
type Filter struct {
	// After is the last sequence number already read (0: from the start).
	After    int64
	Action   string
	ObjectID *uuid.UUID
	Limit    int
}

// Service reads the trail.
type Service struct{ db dbsqlc.DBTX }

// NewService returns a Service on db.
func NewService(db dbsqlc.DBTX) *Service { return &Service{db: db} }

// List reads the organization's trail in order.
func (s *Service) List(ctx context.Context, orgID uuid.UUID, f Filter) ([]Entry, error) {
	rows, err := dbsqlc.New(s.db).AuditEventList(ctx, dbsqlc.AuditEventListParams{
		OrganizationID: orgID, AfterSeq: f.After, Action: pgtype.Text{String: f.Action, Valid: f.Action != ""},
		ObjectID: f.ObjectID, MaxRows: int32(f.Limit),
	})
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(rows))
	for _, r := range rows {
		var e Entry
		if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
			return nil, fmt.Errorf("audit entry %d: %w", r.Seq, err)
		}
		e.Hash = hex.EncodeToString(r.Hash)
		out = append(out, e)
	}
	return out, nil
}

// Verification is what Verify found.
type Verification struct {
	Entries int64 `json:"entries"`
	OK      bool  `json:"ok"`
	// BrokenAt is the first entry whose body, hash, number or organization
	// does not follow from the ones before it.
	BrokenAt int64  `json:"broken_at,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Verify recomputes the organization's whole chain.
func (s *Service) Verify(ctx context.Context, orgID uuid.UUID) (Verification, error) {
	q := dbsqlc.New(s.db)
	var prev []byte
	var v Verification
	for after := int64(0); ; {
		rows, err := q.AuditEventList(ctx, dbsqlc.AuditEventListParams{OrganizationID: orgID, AfterSeq: after, MaxRows: 1000})
		if err != nil {
			return v, err
		}
		for _, r := range rows {
			var e Entry
			reason := ""
			switch {
			case r.Seq != v.Entries+1:
				reason = fmt.Sprintf("entry %d follows %d", r.Seq, v.Entries)
			case !bytes.Equal(chain(prev, []byte(r.Body)), r.Hash):
				reason = "its hash does not cover its body and the previous hash"
			case json.Unmarshal([]byte(r.Body), &e) != nil || e.Seq != r.Seq || e.OrganizationID != orgID:
				reason = "its body names another entry"
			}
			if reason != "" {
				return Verification{Entries: v.Entries, BrokenAt: r.Seq, Reason: reason}, nil
			}
			prev, v.Entries, after = r.Hash, r.Seq, r.Seq
		}
		if len(rows) < 1000 {
			v.OK = true
			return v, nil
		}
	}
}

package org

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/fault"
)

// ErrTokenNotFound: no such token in the organization (job credentials,
// which live and die with their jobs, are not listed or revoked here).
var ErrTokenNotFound = fault.New(fault.NotFound, "not_found", "token not found")

// maxTokens bounds a token list.
const maxTokens = 1000

// Tokens lists the organization's live tokens, oldest first, without
// their secrets.
func (s *Service) Tokens(ctx context.Context, orgID uuid.UUID) ([]Token, error) {
	rows, err := dbsqlc.New(s.db).TokenList(ctx, dbsqlc.TokenListParams{OrganizationID: orgID, MaxRows: maxTokens})
	if err != nil {
		return nil, err
	}
	out := make([]Token, 0, len(rows))
	for _, r := range rows {
		out = append(out, tokenView(dbsqlc.TokenGetRow(r)))
	}
	return out, nil
}

// Token describes one live token of the organization.
func (s *Service) Token(ctx context.Context, orgID, id uuid.UUID) (Token, error) {
	r, err := dbsqlc.New(s.db).TokenGet(ctx, dbsqlc.TokenGetParams{ID: id, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, ErrTokenNotFound
	}
	if err != nil {
		return Token{}, err
	}
	return tokenView(r), nil
}

func tokenView(r dbsqlc.TokenGetRow) Token {
	return Token{ID: r.ID, Description: r.Description, Role: Role(r.Role.String), UserID: r.UserID, TeamID: r.TeamID,
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: utc(r.ExpiresAt), CreatedBy: r.CreatedBy}
}

// RevokeToken stops a token at once: the next request with it is 401.
func (s *Service) RevokeToken(ctx context.Context, orgID, id uuid.UUID) error {
	return dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		n, err := q.TokenRevoke(ctx, dbsqlc.TokenRevokeParams{ID: id, OrganizationID: orgID})
		if err == nil && n == 0 {
			return ErrTokenNotFound
		}
		if err != nil {
			return err
		}
		return recordToken(ctx, q, orgID, "token.revoked", id, nil)
	})
}

// RevokeOtherTokens revokes the organization's live tokens with this
// description except keep: a regenerated token replaces the earlier ones.
func (s *Service) RevokeOtherTokens(ctx context.Context, orgID uuid.UUID, description string, keep uuid.UUID) error {
	return dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		revoked, err := q.TokenRevokeByDescription(ctx, dbsqlc.TokenRevokeByDescriptionParams{OrganizationID: orgID, Description: description, Keep: keep})
		for _, id := range revoked {
			if err == nil {
				err = recordToken(ctx, q, orgID, "token.revoked", id, map[string]any{"description": description})
			}
		}
		return err
	})
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

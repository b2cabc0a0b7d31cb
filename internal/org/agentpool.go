package org

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/audit"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/validate"
)

var (
	// ErrPoolNotFound: no such agent pool in the organization.
	ErrPoolNotFound = fault.New(fault.NotFound, "not_found", "agent pool not found")
	// ErrPoolExists: the organization has a pool of that name.
	ErrPoolExists = fault.New(fault.Conflict, "already_exists", "the organization has an agent pool of that name")
	// ErrPoolInUse: workspaces name the pool or runs wait for it.
	ErrPoolInUse = fault.New(fault.Conflict, "pool_in_use", "workspaces are assigned to this agent pool (deleted ones until they are purged) or runs wait for its agents; move them to another pool first")
)

// AgentPool is an organization's own agents: they claim with the pool's
// token, and only the runs of the workspaces assigned to the pool.
type AgentPool struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	Name           string
	// Token is the pool's agent token, set only when the pool is created.
	Token string
	// Workspaces counts the workspaces assigned to it (in List).
	Workspaces int
	CreatedAt  time.Time
}

// poolTokenPrefix marks agent tokens of pools, as "rp_" marks API tokens.
const poolTokenPrefix = "rpagent_pool_"

// CreateAgentPool makes a pool and its agent token, shown this once.
func (s *Service) CreateAgentPool(ctx context.Context, orgID uuid.UUID, name string) (AgentPool, error) {
	if err := validate.Name(name); err != nil {
		return AgentPool{}, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return AgentPool{}, err
	}
	token := poolTokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	hash := sha256.Sum256([]byte(token))
	var row dbsqlc.AgentPoolCreateRow
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		var err error
		if row, err = q.AgentPoolCreate(ctx, dbsqlc.AgentPoolCreateParams{OrganizationID: orgID, Name: name, TokenHash: hash[:]}); err != nil {
			return err
		}
		return audit.Record(ctx, q, orgID, audit.Change{Action: "agent_pool.created", ObjectKind: "agent_pool", ObjectID: &row.ID, Detail: map[string]any{"name": name}})
	})
	if dbtx.IsUniqueViolation(err) {
		return AgentPool{}, ErrPoolExists
	}
	if err != nil {
		return AgentPool{}, err
	}
	return AgentPool{ID: row.ID, OrganizationID: row.OrganizationID, Name: row.Name, Token: token, CreatedAt: row.CreatedAt.UTC()}, nil
}

// AgentPools lists the organization's pools, tokens withheld.
func (s *Service) AgentPools(ctx context.Context, orgID uuid.UUID) ([]AgentPool, error) {
	rows, err := dbsqlc.New(s.db).AgentPoolList(ctx, orgID)
	if err != nil {
		return nil, err
	}
	out := make([]AgentPool, 0, len(rows))
	for _, r := range rows {
		out = append(out, AgentPool{ID: r.ID, OrganizationID: r.OrganizationID, Name: r.Name, Workspaces: int(r.Workspaces), CreatedAt: r.CreatedAt.UTC()})
	}
	return out, nil
}

// DeleteAgentPool deletes a pool nothing uses; its token stops at once.
func (s *Service) DeleteAgentPool(ctx context.Context, orgID, id uuid.UUID) error {
	var n int64
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		var err error
		if n, err = q.AgentPoolDelete(ctx, dbsqlc.AgentPoolDeleteParams{ID: id, OrganizationID: orgID}); err != nil || n == 0 {
			return err
		}
		return audit.Record(ctx, q, orgID, audit.Change{Action: "agent_pool.deleted", ObjectKind: "agent_pool", ObjectID: &id})
	})
	if err != nil || n == 1 {
		return err
	}
	q := dbsqlc.New(s.db)
	exists, err := q.AgentPoolExists(ctx, dbsqlc.AgentPoolExistsParams{ID: id, OrganizationID: orgID})
	if err != nil {
		return err
	}
	if exists {
		return ErrPoolInUse
	}
	return ErrPoolNotFound
}

// HasAgentPool tells whether id is a pool of the organization.
func (s *Service) HasAgentPool(ctx context.Context, orgID, id uuid.UUID) (bool, error) {
	return dbsqlc.New(s.db).AgentPoolExists(ctx, dbsqlc.AgentPoolExistsParams{ID: id, OrganizationID: orgID})
}

// AgentPoolByToken returns the pool an agent token belongs to;
// ErrUnauthorized when it is no pool's.
func (s *Service) AgentPoolByToken(ctx context.Context, token string) (AgentPool, error) {
	if !strings.HasPrefix(token, poolTokenPrefix) {
		return AgentPool{}, ErrUnauthorized
	}
	hash := sha256.Sum256([]byte(token))
	row, err := dbsqlc.New(s.db).AgentPoolGetByTokenHash(ctx, hash[:])
	if errors.Is(err, pgx.ErrNoRows) {
		return AgentPool{}, ErrUnauthorized
	}
	if err != nil {
		return AgentPool{}, err
	}
	return AgentPool{ID: row.ID, OrganizationID: row.OrganizationID, Name: row.Name, CreatedAt: row.CreatedAt.UTC()}, nil
}

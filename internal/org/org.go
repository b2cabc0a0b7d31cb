package org

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/fairshare"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/validate"
)

var (
	ErrNotFound     = fault.New(fault.NotFound, "not_found", "organization not found")
	ErrExists       = fault.New(fault.Conflict, "already_exists", "organization already exists")
	ErrUnauthorized = fault.New(fault.Unauthorized, "unauthorized", "send a valid token as 'Authorization: Bearer <token>'")
)

// Organization is an organization as callers see it, with its share of
// the agent pool.
type Organization struct {
	ID             uuid.UUID
	Name           string
	MaxConcurrency int
	Weight         int
	Bucket         fairshare.Bucket
	// Running counts jobs executing; Queued, jobs waiting for an agent
	// (counted, not stored: only Get and SetLimits fill it in).
	Running, Queued int
	CreatedAt       time.Time
}

// Limits are an organization's share of the agent pool; nil fields stay.
type Limits struct {
	MaxConcurrency *int
	Weight         *int
	BucketBurst    *int
	BucketRefill   *float64
}

// Token is a token; Secret is set only in the answer to its creation.
type Token struct {
	ID          uuid.UUID
	Description string
	// Role is an organization token's; user and team tokens have none.
	Role Role
	// UserID or TeamID is the token's holder, for user and team tokens.
	UserID, TeamID *uuid.UUID
	Secret         string
	CreatedAt      time.Time
	// ExpiresAt is when it stops working; nil: never.
	ExpiresAt *time.Time
	// CreatedBy is the token that made it; nil: the site admin.
	CreatedBy *uuid.UUID
}

// Service manages organizations and tokens.
type Service struct {
	db        DB
	admin     bool
	adminHash [32]byte
}

// DB is what the service needs of the database; *pgxpool.Pool satisfies it.
type DB interface {
	dbtx.Beginner
	dbsqlc.DBTX
}

// NewService returns a Service; adminToken is the site-admin secret, and
// empty means there is no site admin (a process that serves no admin API).
func NewService(db DB, adminToken string) *Service {
	return &Service{db: db, admin: adminToken != "", adminHash: sha256.Sum256([]byte(adminToken))}
}

// CreateOptions are an organization's settings; zero values take the defaults.
type CreateOptions struct {
	MaxConcurrency int
	Weight         int
}

// Create makes an organization.
func (s *Service) Create(ctx context.Context, name string, opts CreateOptions) (Organization, error) {
	if err := validate.Name(name); err != nil {
		return Organization{}, err
	}
	if opts.MaxConcurrency == 0 {
		opts.MaxConcurrency = 80
	}
	if opts.Weight == 0 {
		opts.Weight = 1
	}
	if opts.MaxConcurrency < 1 || opts.MaxConcurrency > 10000 || opts.Weight < 1 || opts.Weight > 1000 {
		return Organization{}, validate.Errorf("max_concurrency must be 1-10000 and weight 1-1000")
	}
	o, err := dbsqlc.New(s.db).OrganizationCreate(ctx, dbsqlc.OrganizationCreateParams{
		Name: name, MaxConcurrency: int32(opts.MaxConcurrency), Weight: int32(opts.Weight),
	})
	if dbtx.IsUniqueViolation(err) {
		return Organization{}, fmt.Errorf("%w: %s", ErrExists, name)
	}
	if err != nil {
		return Organization{}, err
	}
	return view(dbsqlc.Organization(o)), nil
}

// Resolve finds the organization a principal addresses by name. Another
// organization's name answers ErrNotFound, as a missing one does.
func (s *Service) Resolve(ctx context.Context, p Principal, name string) (Organization, error) {
	if !p.SiteAdmin && p.OrgName != name {
		return Organization{}, ErrNotFound
	}
	o, err := dbsqlc.New(s.db).OrganizationGetByName(ctx, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return Organization{}, ErrNotFound
	}
	if err != nil {
		return Organization{}, err
	}
	return view(o), nil
}

// TokenScope limits a token to one workspace (a job credential), for a run
// and until a time. The zero value is an organization token that never expires.
type TokenScope struct {
	WorkspaceID *uuid.UUID
	RunID       *uuid.UUID
	// JobID ties the token to a job: it works only while the job's lease lives.
	JobID     *uuid.UUID
	ExpiresAt *time.Time
	// CreatedBy records the token that made this one (not a limit).
	CreatedBy *uuid.UUID
	// UserID or TeamID makes a user's or a team's token, which has no role:
	// it reaches what the user's teams or the team reach.
	UserID, TeamID *uuid.UUID
}

// CreateToken makes a token for an organization and returns its secret once.
func (s *Service) CreateToken(ctx context.Context, orgID uuid.UUID, description string, role Role) (Token, error) {
	return s.CreateScopedToken(ctx, orgID, description, role, TokenScope{})
}

// CreateScopedToken makes a token limited by scope.
func (s *Service) CreateScopedToken(ctx context.Context, orgID uuid.UUID, description string, role Role, scope TokenScope) (Token, error) {
	var t Token
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		var err error
		if t, err = CreateTokenTx(ctx, q, orgID, description, role, scope); err != nil {
			return err
		}
		return recordToken(ctx, q, orgID, "token.created", t.ID, map[string]any{"description": description, "role": role, "expires_at": scope.ExpiresAt})
	})
	return t, err
}

// recordToken adds a change of token id to the audit trail.
func recordToken(ctx context.Context, q *dbsqlc.Queries, orgID uuid.UUID, action string, id uuid.UUID, detail map[string]any) error {
	return record(ctx, q, orgID, action, "token", id, detail)
}

// CreateTokenTx makes a token inside the caller's transaction (a job
// credential is created with its job).
func CreateTokenTx(ctx context.Context, q *dbsqlc.Queries, orgID uuid.UUID, description string, role Role, scope TokenScope) (Token, error) {
	holder := scope.UserID != nil || scope.TeamID != nil
	if holder != (role == "") || (!holder && role.level() == LevelNone) {
		return Token{}, validate.Errorf("role must be admin, write or read")
	}
	if len(description) > 500 {
		return Token{}, validate.Errorf("description is longer than 500 characters")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Token{}, err
	}
	secret := "rp_" + base64.RawURLEncoding.EncodeToString(raw)
	hash := sha256.Sum256([]byte(secret))
	row, err := q.TokenCreate(ctx, dbsqlc.TokenCreateParams{
		OrganizationID: orgID, Description: description, Role: pgtype.Text{String: string(role), Valid: !holder}, SecretHash: hash[:],
		WorkspaceID: scope.WorkspaceID, RunID: scope.RunID, ExpiresAt: scope.ExpiresAt, JobID: scope.JobID, CreatedBy: scope.CreatedBy,
		UserID: scope.UserID, TeamID: scope.TeamID,
	})
	if err != nil {
		return Token{}, err
	}
	t := tokenView(dbsqlc.TokenGetRow{ID: row.ID, Description: row.Description, Role: row.Role, CreatedAt: row.CreatedAt,
		ExpiresAt: row.ExpiresAt, CreatedBy: scope.CreatedBy, UserID: row.UserID, TeamID: row.TeamID})
	t.Secret = secret
	return t, nil
}

// Authenticate turns a bearer secret into a Principal.
func (s *Service) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if secret == "" {
		return Principal{}, ErrUnauthorized
	}
	hash := sha256.Sum256([]byte(secret))
	if s.admin && subtle.ConstantTimeCompare(hash[:], s.adminHash[:]) == 1 {
		return Principal{SiteAdmin: true}, nil
	}
	if !strings.HasPrefix(secret, "rp_") {
		return Principal{}, ErrUnauthorized
	}
	row, err := dbsqlc.New(s.db).TokenGetBySecretHash(ctx, hash[:])
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, ErrUnauthorized
	}
	if err != nil {
		return Principal{}, err
	}
	p := Principal{
		OrgID: row.OrganizationID, OrgName: row.OrganizationName, TokenID: row.ID, Role: Role(row.Role.String),
		UserID: row.UserID, TeamID: row.TeamID, WorkspaceID: row.WorkspaceID, RunID: row.RunID,
	}
	p.Owner = p.Role == RoleAdmin && !p.Scoped()
	if p.UserID == nil && p.TeamID == nil {
		return p, nil
	}
	teams, err := dbsqlc.New(s.db).TeamListForToken(ctx, dbsqlc.TeamListForTokenParams{TeamID: p.TeamID, UserID: p.UserID})
	if err != nil {
		return Principal{}, err
	}
	if p.TeamID != nil && len(teams) == 0 {
		return Principal{}, ErrUnauthorized // its team was deleted
	}
	for _, t := range teams {
		p.Teams = append(p.Teams, t.ID)
		p.Owner = p.Owner || t.Owners
	}
	return p, nil
}

func view(o dbsqlc.Organization) Organization {
	return Organization{
		ID: o.ID, Name: o.Name, MaxConcurrency: int(o.MaxConcurrency), Weight: int(o.Weight),
		Bucket:  Bucket(o),
		Running: int(o.Running), CreatedAt: o.CreatedAt.UTC(),
	}
}

// Bucket is the organization's token bucket as stored.
func Bucket(o dbsqlc.Organization) fairshare.Bucket {
	return fairshare.Bucket{Tokens: o.Tokens, At: o.TokensAt, Burst: float64(o.BucketBurst), Refill: o.BucketRefillPerSecond}
}

// Get returns an organization the principal may see, with its current usage.
func (s *Service) Get(ctx context.Context, p Principal, name string) (Organization, error) {
	o, err := s.Resolve(ctx, p, name)
	if err != nil {
		return o, err
	}
	return o, s.countQueued(ctx, &o)
}

// List returns organizations by name after afterName: every one for the
// site admin, only its own for an organization's token.
func (s *Service) List(ctx context.Context, p Principal, afterName string, limit int) ([]Organization, error) {
	if !p.SiteAdmin {
		if p.OrgName <= afterName {
			return []Organization{}, nil
		}
		o, err := s.Get(ctx, p, p.OrgName)
		return []Organization{o}, err
	}
	rows, err := dbsqlc.New(s.db).OrganizationList(ctx, dbsqlc.OrganizationListParams{AfterName: afterName, MaxRows: int32(limit)})
	out := make([]Organization, 0, len(rows))
	for _, r := range rows {
		out = append(out, view(r))
	}
	return out, err
}

func (s *Service) countQueued(ctx context.Context, o *Organization) error {
	n, err := dbsqlc.New(s.db).OrganizationCountQueued(ctx, o.ID)
	o.Queued = int(n)
	return err
}

// SetLimits changes an organization's concurrency cap, weight and token
// bucket (site admin only; the caller checks).
func (s *Service) SetLimits(ctx context.Context, name string, l Limits) (Organization, error) {
	var out Organization
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		o, err := q.OrganizationGetByName(ctx, name)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		p := dbsqlc.OrganizationUpdateLimitsParams{
			MaxConcurrency: o.MaxConcurrency, Weight: o.Weight, BucketBurst: o.BucketBurst,
			BucketRefillPerSecond: o.BucketRefillPerSecond, Name: name,
		}
		for _, f := range []struct {
			v        *int
			dst      *int32
			min, max int
			what     string
		}{
			{l.MaxConcurrency, &p.MaxConcurrency, 1, 10000, "max_concurrency"},
			{l.Weight, &p.Weight, 1, 1000, "weight"},
			{l.BucketBurst, &p.BucketBurst, 1, 100000, "bucket_burst"},
		} {
			if f.v != nil {
				if *f.v < f.min || *f.v > f.max {
					return validate.Errorf("%s must be %d to %d", f.what, f.min, f.max)
				}
				*f.dst = int32(*f.v)
			}
		}
		if l.BucketRefill != nil {
			if !(*l.BucketRefill > 0 && *l.BucketRefill <= 100000) {
				return validate.Errorf("bucket_refill_per_second must be above 0 and at most 100000")
			}
			p.BucketRefillPerSecond = *l.BucketRefill
		}
		row, err := q.OrganizationUpdateLimits(ctx, p)
		out = view(dbsqlc.Organization(row))
		return err
	})
	if err != nil {
		return out, err
	}
	return out, s.countQueued(ctx, &out)
}

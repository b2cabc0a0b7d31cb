package variable

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/validate"
)

var (
	// ErrSetNotFound: no such variable set in the organization.
	ErrSetNotFound = fault.New(fault.NotFound, "not_found", "variable set not found")
	// ErrSetExists: the organization has a variable set of that name.
	ErrSetExists = fault.New(fault.Conflict, "already_exists", "the organization already has a variable set of this name")
)

// Set is a variable set: variables for every workspace of the organization
// (Global) or for the workspaces attached to it.
type Set struct {
	ID          uuid.UUID
	Name        string
	Description string
	Global      bool
	CreatedAt   time.Time
}

// SetInput creates a set, attached to WorkspaceIDs.
type SetInput struct {
	Name, Description string
	Global            bool
	WorkspaceIDs      []uuid.UUID
}

// SetPatch changes a variable set; nil fields stay.
type SetPatch struct {
	Name, Description *string
	Global            *bool
}

func checkSet(name, description string) error {
	if err := validate.Name(name); err != nil {
		return err
	}
	if len(description) > 512 {
		return validate.Errorf("a description is at most 512 bytes")
	}
	return nil
}

// CreateSet adds a variable set to the organization.
func (s *Service) CreateSet(ctx context.Context, orgID uuid.UUID, in SetInput) (Set, error) {
	if err := checkSet(in.Name, in.Description); err != nil {
		return Set{}, err
	}
	// The set and its attachments commit together: a workspace that is not
	// the organization's leaves no set behind.
	var row dbsqlc.VariableSet
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		var err error
		if row, err = q.VariableSetCreate(ctx, dbsqlc.VariableSetCreateParams{
			OrganizationID: orgID, Name: in.Name, Description: in.Description, Global: in.Global,
		}); err != nil {
			return mapSetErr(err)
		}
		for _, ws := range in.WorkspaceIDs {
			if err := attach(ctx, q, orgID, row.ID, ws); err != nil {
				return err
			}
		}
		return nil
	})
	return setView(row), err
}

// GetSet returns one of the organization's variable sets.
func (s *Service) GetSet(ctx context.Context, orgID, id uuid.UUID) (Set, error) {
	row, err := dbsqlc.New(s.db).VariableSetGet(ctx, dbsqlc.VariableSetGetParams{ID: id, OrganizationID: orgID})
	return setView(row), mapSetErr(err)
}

// ListSets returns the organization's variable sets by name.
func (s *Service) ListSets(ctx context.Context, orgID uuid.UUID) ([]Set, error) {
	rows, err := dbsqlc.New(s.db).VariableSetList(ctx, orgID)
	out := make([]Set, 0, len(rows))
	for _, r := range rows {
		out = append(out, setView(r))
	}
	return out, err
}

// UpdateSet changes a variable set's name, description or scope.
func (s *Service) UpdateSet(ctx context.Context, orgID, id uuid.UUID, p SetPatch) (Set, error) {
	cur, err := s.GetSet(ctx, orgID, id)
	if err != nil {
		return Set{}, err
	}
	if p.Name != nil {
		cur.Name = *p.Name
	}
	if p.Description != nil {
		cur.Description = *p.Description
	}
	if p.Global != nil {
		cur.Global = *p.Global
	}
	if err := checkSet(cur.Name, cur.Description); err != nil {
		return Set{}, err
	}
	row, err := dbsqlc.New(s.db).VariableSetUpdate(ctx, dbsqlc.VariableSetUpdateParams{
		ID: id, OrganizationID: orgID, Name: cur.Name, Description: cur.Description, Global: cur.Global,
	})
	return setView(row), mapSetErr(err)
}

// DeleteSet removes a variable set with its variables and attachments.
func (s *Service) DeleteSet(ctx context.Context, orgID, id uuid.UUID) error {
	n, err := dbsqlc.New(s.db).VariableSetDelete(ctx, dbsqlc.VariableSetDeleteParams{ID: id, OrganizationID: orgID})
	if err == nil && n == 0 {
		return ErrSetNotFound
	}
	return err
}

// ListSet returns a variable set's variables by category and key.
func (s *Service) ListSet(ctx context.Context, orgID, setID uuid.UUID) ([]Variable, error) {
	if _, err := s.GetSet(ctx, orgID, setID); err != nil {
		return nil, err
	}
	rows, err := dbsqlc.New(s.db).VariableListBySet(ctx, dbsqlc.VariableListBySetParams{VariableSetID: &setID, OrganizationID: orgID})
	out := make([]Variable, 0, len(rows))
	for _, r := range rows {
		out = append(out, view(r))
	}
	return out, err
}

// Attach applies a variable set to a workspace of the organization; again
// changes nothing.
func (s *Service) Attach(ctx context.Context, orgID, setID, workspaceID uuid.UUID) error {
	if _, err := s.GetSet(ctx, orgID, setID); err != nil {
		return err
	}
	return attach(ctx, dbsqlc.New(s.db), orgID, setID, workspaceID)
}

func attach(ctx context.Context, q *dbsqlc.Queries, orgID, setID, workspaceID uuid.UUID) error {
	if _, err := q.WorkspaceGet(ctx, dbsqlc.WorkspaceGetParams{ID: workspaceID, OrganizationID: orgID}); errors.Is(err, pgx.ErrNoRows) {
		return ErrWorkspaceNotFound
	} else if err != nil {
		return err
	}
	return q.VariableSetAttach(ctx, dbsqlc.VariableSetAttachParams{VariableSetID: setID, WorkspaceID: workspaceID, OrganizationID: orgID})
}

// Detach stops applying a variable set to a workspace.
func (s *Service) Detach(ctx context.Context, orgID, setID, workspaceID uuid.UUID) error {
	n, err := dbsqlc.New(s.db).VariableSetDetach(ctx, dbsqlc.VariableSetDetachParams{VariableSetID: setID, WorkspaceID: workspaceID, OrganizationID: orgID})
	if err == nil && n == 0 {
		return ErrWorkspaceNotFound
	}
	return err
}

// SetWorkspaces lists the workspaces a variable set is attached to.
func (s *Service) SetWorkspaces(ctx context.Context, orgID, setID uuid.UUID) ([]uuid.UUID, error) {
	ids, err := dbsqlc.New(s.db).VariableSetWorkspaces(ctx, dbsqlc.VariableSetWorkspacesParams{VariableSetID: setID, OrganizationID: orgID})
	if ids == nil {
		ids = []uuid.UUID{}
	}
	return ids, err
}

func mapSetErr(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrSetNotFound
	}
	if errors.Is(mapErr(err), ErrExists) {
		return ErrSetExists
	}
	return err
}

func setView(r dbsqlc.VariableSet) Set {
	return Set{ID: r.ID, Name: r.Name, Description: r.Description, Global: r.Global, CreatedAt: r.CreatedAt.UTC()}
}

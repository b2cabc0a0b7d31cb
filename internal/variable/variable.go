package variable

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/runplane/runplane/internal/audit"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/sealed"
	"github.com/runplane/runplane/internal/validate"
)

// Category says how terraform receives a variable.
type Category string

const (
	// Terraform: an input variable (a var.<key> in the configuration).
	Terraform Category = "terraform"
	// Env: an environment variable of every terraform command.
	Env Category = "env"
)

var (
	// ErrNotFound: no such variable in the organization.
	ErrNotFound = fault.New(fault.NotFound, "not_found", "variable not found")
	// ErrWorkspaceNotFound: no such workspace in the organization.
	ErrWorkspaceNotFound = fault.New(fault.NotFound, "not_found", "workspace not found")
	// ErrExists: the workspace has a variable of that key and category.
	ErrExists = fault.New(fault.Conflict, "already_exists", "the workspace already has a variable with this key and category")
)

// MaxValue bounds a value: a provider credential file fits, a state does not.
const MaxValue = 256 << 10

// Variable is a variable as the API shows it: a sensitive one without its
// value.
type Variable struct {
	ID uuid.UUID
	// WorkspaceID or SetID is the variable's owner; the other is nil.
	WorkspaceID *uuid.UUID
	SetID       *uuid.UUID
	Key         string
	// Value is empty for a sensitive variable.
	Value       string
	Category    Category
	HCL         bool
	Sensitive   bool
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Value is a variable as a job's terraform receives it.
type Value struct {
	Key       string
	Value     string
	Category  Category
	HCL       bool
	Sensitive bool
}

// Input creates a variable.
type Input struct {
	Key         string
	Value       string
	Category    Category
	HCL         bool
	Sensitive   bool
	Description string
}

// Patch changes a variable; nil fields stay.
type Patch struct {
	Key         *string
	Value       *string
	HCL         *bool
	Sensitive   *bool
	Description *string
}

// Keys is where sealed values get their data keys (*sealed.Store).
type Keys interface {
	NewKey(ctx context.Context, ec envelope.Context) (sealed.Key, error)
	UnwrapKey(ctx context.Context, keyID string, wrapped []byte, ec envelope.Context) ([]byte, error)
}

// DB is what the service needs of the database; *pgxpool.Pool satisfies it.
type DB interface {
	dbtx.Beginner
	dbsqlc.DBTX
}

// Service manages workspace variables.
type Service struct {
	db   DB
	keys Keys
}

// NewService returns a Service.
func NewService(db DB, keys Keys) *Service { return &Service{db: db, keys: keys} }

var (
	terraformKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,127}$`)
	envKey       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
)

// reservedEnv are the environment variables the agent sets for terraform
// to reach the workspace's state: a variable may not redirect them.
var reservedEnv = regexp.MustCompile(`^(TF_HTTP_.*|TF_CLI_CONFIG_FILE|TF_IN_AUTOMATION|TF_INPUT)$`)

func check(key string, c Category, value, description string) error {
	switch c {
	case Terraform:
		if !terraformKey.MatchString(key) {
			return validate.Errorf("a terraform variable's key must be an identifier (letters, digits, '_' or '-', not starting with a digit), at most 128 characters, not %q", key)
		}
	case Env:
		if !envKey.MatchString(key) {
			return validate.Errorf("an environment variable's key must be letters, digits or '_', not starting with a digit, at most 128 characters, not %q", key)
		}
		if reservedEnv.MatchString(key) {
			return validate.Errorf("%s is set by the agent for terraform's state backend; choose another key", key)
		}
	default:
		return validate.Errorf("category must be terraform or env, not %q", c)
	}
	if len(value) > MaxValue {
		return validate.Errorf("a value is at most %d KiB", MaxValue>>10)
	}
	if !utf8.ValidString(value) || !utf8.ValidString(description) {
		return validate.Errorf("value and description must be UTF-8 text")
	}
	if len(description) > 512 {
		return validate.Errorf("a description is at most 512 bytes")
	}
	return nil
}

// Create adds a variable to a workspace of the organization.
func (s *Service) Create(ctx context.Context, orgID, workspaceID uuid.UUID, in Input) (Variable, error) {
	if err := check(in.Key, in.Category, in.Value, in.Description); err != nil {
		return Variable{}, err
	}
	// The foreign key only knows the workspace exists, not whose it is.
	if _, err := dbsqlc.New(s.db).WorkspaceGet(ctx, dbsqlc.WorkspaceGetParams{ID: workspaceID, OrganizationID: orgID}); errors.Is(err, pgx.ErrNoRows) {
		return Variable{}, ErrWorkspaceNotFound
	} else if err != nil {
		return Variable{}, err
	}
	return s.create(ctx, orgID, dbsqlc.VariableCreateParams{WorkspaceID: &workspaceID}, in)
}

// CreateInSet adds a variable to a variable set of the organization.
func (s *Service) CreateInSet(ctx context.Context, orgID, setID uuid.UUID, in Input) (Variable, error) {
	if err := check(in.Key, in.Category, in.Value, in.Description); err != nil {
		return Variable{}, err
	}
	if _, err := s.GetSet(ctx, orgID, setID); err != nil {
		return Variable{}, err
	}
	return s.create(ctx, orgID, dbsqlc.VariableCreateParams{VariableSetID: &setID}, in)
}

// create inserts a checked variable for the owner p names.
func (s *Service) create(ctx context.Context, orgID uuid.UUID, p dbsqlc.VariableCreateParams, in Input) (Variable, error) {
	p.ID, p.OrganizationID, p.Key, p.Category = uuid.New(), orgID, in.Key, string(in.Category)
	p.Hcl, p.Sensitive, p.Description, p.Value = in.HCL, in.Sensitive, in.Description, in.Value
	if in.Sensitive {
		var err error
		if p.SealedValue, p.KeyID, p.WrappedKey, err = s.seal(ctx, sealContext(orgID, p.WorkspaceID, p.VariableSetID), p.ID, in.Value); err != nil {
			return Variable{}, err
		}
		p.Value = ""
	}
	var row dbsqlc.Variable
	err := s.write(ctx, orgID, "variable.created", p.ID, in.Key, func(q *dbsqlc.Queries) (err error) {
		row, err = q.VariableCreate(ctx, p)
		return err
	})
	return view(row), mapErr(err)
}

// write makes one change of variable id and records it in the audit trail
// (its key, never its value), in one transaction.
func (s *Service) write(ctx context.Context, orgID uuid.UUID, action string, id uuid.UUID, key string, change func(*dbsqlc.Queries) error) error {
	return dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		if err := change(q); err != nil {
			return err
		}
		return audit.Record(ctx, q, orgID, audit.Change{Action: action, ObjectKind: "variable", ObjectID: &id, Detail: map[string]any{"key": key}})
	})
}

// List returns a workspace's variables by category and key.
func (s *Service) List(ctx context.Context, orgID, workspaceID uuid.UUID) ([]Variable, error) {
	rows, err := dbsqlc.New(s.db).VariableListByWorkspace(ctx, dbsqlc.VariableListByWorkspaceParams{WorkspaceID: &workspaceID, OrganizationID: orgID})
	out := make([]Variable, 0, len(rows))
	for _, r := range rows {
		out = append(out, view(r))
	}
	return out, err
}

// Get returns one variable of the organization.
func (s *Service) Get(ctx context.Context, orgID, id uuid.UUID) (Variable, error) {
	row, err := dbsqlc.New(s.db).VariableGet(ctx, dbsqlc.VariableGetParams{ID: id, OrganizationID: orgID})
	return view(row), mapErr(err)
}

// Update changes a variable. A sensitive one keeps its sealed value unless
// a new one is given, and stays sensitive.
func (s *Service) Update(ctx context.Context, orgID, id uuid.UUID, p Patch) (Variable, error) {
	q := dbsqlc.New(s.db)
	cur, err := q.VariableGet(ctx, dbsqlc.VariableGetParams{ID: id, OrganizationID: orgID})
	if err != nil {
		return Variable{}, mapErr(err)
	}
	u := dbsqlc.VariableUpdateParams{
		ID: id, OrganizationID: orgID, Key: cur.Key, Hcl: cur.Hcl, Sensitive: cur.Sensitive, Description: cur.Description,
		Value: cur.Value, SealedValue: cur.SealedValue, KeyID: cur.KeyID, WrappedKey: cur.WrappedKey,
	}
	if p.Key != nil {
		u.Key = *p.Key
	}
	if p.HCL != nil {
		u.Hcl = *p.HCL
	}
	if p.Description != nil {
		u.Description = *p.Description
	}
	if p.Sensitive != nil {
		if cur.Sensitive && !*p.Sensitive {
			return Variable{}, validate.Errorf("a sensitive variable cannot be made non-sensitive: its value would become readable; delete it and create a new one")
		}
		u.Sensitive = *p.Sensitive
	}
	value := cur.Value
	if p.Value != nil {
		value = *p.Value
	}
	if err := check(u.Key, Category(cur.Category), value, u.Description); err != nil {
		return Variable{}, err
	}
	switch {
	case u.Sensitive && (p.Value != nil || !cur.Sensitive):
		if u.SealedValue, u.KeyID, u.WrappedKey, err = s.seal(ctx, sealContext(orgID, cur.WorkspaceID, cur.VariableSetID), id, value); err != nil {
			return Variable{}, err
		}
		u.Value = ""
	case !u.Sensitive:
		u.Value = value
	}
	var row dbsqlc.Variable
	err = s.write(ctx, orgID, "variable.updated", id, u.Key, func(q *dbsqlc.Queries) (err error) {
		row, err = q.VariableUpdate(ctx, u)
		return err
	})
	return view(row), mapErr(err)
}

// Delete removes a variable.
func (s *Service) Delete(ctx context.Context, orgID, id uuid.UUID) error {
	return s.write(ctx, orgID, "variable.deleted", id, "", func(q *dbsqlc.Queries) error {
		n, err := q.VariableDelete(ctx, dbsqlc.VariableDeleteParams{ID: id, OrganizationID: orgID})
		if err == nil && n == 0 {
			return ErrNotFound
		}
		return err
	})
}

// ForJob returns the variables a workspace's runs receive, with their
// values, sensitive ones opened: what a job's terraform gets, and nothing
// else may ask for. Of variables with the same key and category, the
// workspace's own wins, then a set attached to the workspace, then a global
// set; between two sets of the same kind, the one whose name sorts first.
func (s *Service) ForJob(ctx context.Context, orgID, workspaceID uuid.UUID) ([]Value, error) {
	q := dbsqlc.New(s.db)
	own, err := q.VariableListByWorkspace(ctx, dbsqlc.VariableListByWorkspaceParams{WorkspaceID: &workspaceID, OrganizationID: orgID})
	if err != nil {
		return nil, err
	}
	fromSets, err := q.VariableListForWorkspaceSets(ctx, dbsqlc.VariableListForWorkspaceSetsParams{OrganizationID: orgID, WorkspaceID: workspaceID})
	if err != nil {
		return nil, err
	}
	// Candidates in order of precedence; the first of each key is taken.
	ranked := own
	for _, global := range []bool{false, true} {
		for _, r := range fromSets {
			if r.SetGlobal == global {
				ranked = append(ranked, r.Variable)
			}
		}
	}
	seen := map[[2]string]bool{}
	out := make([]Value, 0, len(ranked))
	for _, r := range ranked {
		k := [2]string{r.Category, r.Key}
		if seen[k] {
			continue
		}
		seen[k] = true
		v := Value{Key: r.Key, Value: r.Value, Category: Category(r.Category), HCL: r.Hcl, Sensitive: r.Sensitive}
		if r.Sensitive {
			if v.Value, err = s.open(ctx, r); err != nil {
				return nil, err
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// aad binds a sealed value to its variable: moved to another row, it no
// longer opens.
func aad(id uuid.UUID) []byte { return []byte("runplane:variable:" + id.String()) }

// sealContext binds a sensitive value's data key to its owner: the
// workspace, or the variable set, of its organization.
func sealContext(orgID uuid.UUID, workspaceID, setID *uuid.UUID) envelope.Context {
	if workspaceID != nil {
		return envelope.WorkspaceContext(orgID, *workspaceID)
	}
	return envelope.VariableSetContext(orgID, *setID)
}

func (s *Service) seal(ctx context.Context, ec envelope.Context, id uuid.UUID, value string) ([]byte, string, []byte, error) {
	k, err := s.keys.NewKey(ctx, ec)
	if err != nil {
		return nil, "", nil, fmt.Errorf("sealing a sensitive variable: %w", err)
	}
	// The plaintext key is not wiped here: the key cache shares it.
	out, err := envelope.Seal(nil, k.Plaintext, aad(id), []byte(value))
	return out, k.ID, k.Wrapped, err
}

func (s *Service) open(ctx context.Context, r dbsqlc.Variable) (string, error) {
	key, err := s.keys.UnwrapKey(ctx, r.KeyID, r.WrappedKey, sealContext(r.OrganizationID, r.WorkspaceID, r.VariableSetID))
	if err != nil {
		return "", fmt.Errorf("opening sensitive variable %s: %w", r.ID, err)
	}
	plain, err := envelope.Open(key, aad(r.ID), r.SealedValue)
	if err != nil {
		return "", fmt.Errorf("%w: sensitive variable %s", sealed.ErrCorrupt, r.ID)
	}
	return string(plain), nil
}

func mapErr(err error) error {
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ErrNotFound
	case errors.As(err, &pe) && pe.Code == "23505":
		return ErrExists
	}
	return err
}

func view(r dbsqlc.Variable) Variable {
	return Variable{
		ID: r.ID, WorkspaceID: r.WorkspaceID, SetID: r.VariableSetID, Key: r.Key, Value: r.Value, Category: Category(r.Category), HCL: r.Hcl,
		Sensitive: r.Sensitive, Description: r.Description, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

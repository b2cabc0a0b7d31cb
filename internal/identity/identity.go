package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/sealed"
)

// DefaultAudience is the tokens' audience unless configured: what a cloud
// provider's trust policy names.
const DefaultAudience = "runplane.workload.identity"

// TokenLifetime bounds a token: a phase longer than this must refresh its
// cloud credentials some other way.
const TokenLifetime = 2 * time.Hour

// keyOverlap is how long a replaced key stays published.
const keyOverlap = TokenLifetime + time.Hour

// keyContext binds the signing keys' data keys.
var keyContext = envelope.Context{"runplane:purpose": "workload-identity-signing"}

// Service issues and publishes workload identity tokens.
type Service struct {
	db       dbsqlc.DBTX
	objects  *sealed.Store
	audience string
	now      func() time.Time

	mu  sync.Mutex
	key *signingKey
}

type signingKey struct {
	id      string
	private *ecdsa.PrivateKey
}

// NewService returns a Service; audience "" takes DefaultAudience.
func NewService(db dbsqlc.DBTX, objects *sealed.Store, audience string) *Service {
	if audience == "" {
		audience = DefaultAudience
	}
	return &Service{db: db, objects: objects, audience: audience, now: time.Now}
}

// BaseURL is where the client reached the API: the issuer, and the base of
// every absolute URL the API hands out. Behind a proxy (API Gateway) the
// scheme is the forwarded one.
func BaseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// Job is what a token is issued for.
type Job struct {
	OrganizationID, WorkspaceID, RunID uuid.UUID
	Phase                              string
}

// Claims are a token's claims beyond the registered ones.
type Claims struct {
	jwt.Claims
	OrganizationName string `json:"runplane_organization_name"`
	OrganizationID   string `json:"runplane_organization_id"`
	WorkspaceName    string `json:"runplane_workspace_name"`
	WorkspaceID      string `json:"runplane_workspace_id"`
	RunID            string `json:"runplane_run_id"`
	RunPhase         string `json:"runplane_run_phase"`
}

// Token signs a token for job, issued by issuer.
func (s *Service) Token(ctx context.Context, issuer string, j Job) (string, error) {
	key, err := s.signing(ctx)
	if err != nil {
		return "", err
	}
	names, err := dbsqlc.New(s.db).IdentityJobNames(ctx, dbsqlc.IdentityJobNamesParams{WorkspaceID: j.WorkspaceID, OrganizationID: j.OrganizationID})
	if err != nil {
		return "", fmt.Errorf("identity: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key.private},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", key.id))
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	c := Claims{
		Claims: jwt.Claims{
			Issuer:   issuer,
			Subject:  fmt.Sprintf("organization:%s:workspace:%s:run_phase:%s", names.OrganizationName, names.WorkspaceName, j.Phase),
			Audience: jwt.Audience{s.audience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			Expiry: jwt.NewNumericDate(now.Add(TokenLifetime)), ID: uuid.NewString(),
		},
		OrganizationName: names.OrganizationName, OrganizationID: j.OrganizationID.String(),
		WorkspaceName: names.WorkspaceName, WorkspaceID: j.WorkspaceID.String(),
		RunID: j.RunID.String(), RunPhase: j.Phase,
	}
	return jwt.Signed(signer).Claims(c).Serialize()
}

// signing returns the current signing key, made on first use. Only the
// first use and a key change take the lock: every claim signs a token, and
// claims must not wait on one another's database round trip here.
func (s *Service) signing(ctx context.Context) (*signingKey, error) {
	q := dbsqlc.New(s.db)
	row, err := q.SigningKeyCurrent(ctx, s.objects.KeyID())
	if errors.Is(err, pgx.ErrNoRows) {
		row, err = s.firstKey(ctx, q)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != nil && s.key.id == row.ID {
		return s.key, nil
	}
	dataKey, err := s.objects.UnwrapKey(ctx, row.KeyID, row.WrappedKey, keyContext)
	if err != nil {
		return nil, fmt.Errorf("identity: signing key %s: %w", row.ID, err)
	}
	der, err := envelope.Open(dataKey, []byte(row.ID), row.SealedPrivate)
	if err != nil {
		return nil, fmt.Errorf("identity: signing key %s: %w", row.ID, err)
	}
	private, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("identity: signing key %s: %w", row.ID, err)
	}
	s.key = &signingKey{id: row.ID, private: private}
	return s.key, nil
}

// firstKey makes the first signing key under this server's master key,
// once per process however many claims ask at once.
func (s *Service) firstKey(ctx context.Context, q *dbsqlc.Queries) (dbsqlc.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	row, err := q.SigningKeyCurrent(ctx, s.objects.KeyID())
	if !errors.Is(err, pgx.ErrNoRows) {
		return row, err
	}
	if err := s.addKey(ctx, q); err != nil {
		return row, err
	}
	return q.SigningKeyCurrent(ctx, s.objects.KeyID())
}

// addKey makes a signing key and stores it sealed, its public half as a JWK.
func (s *Service) addKey(ctx context.Context, q *dbsqlc.Queries) error {
	private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	id := uuid.NewString()
	public, err := json.Marshal(jose.JSONWebKey{Key: &private.PublicKey, KeyID: id, Algorithm: string(jose.ES256), Use: "sig"})
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(private)
	if err != nil {
		return err
	}
	dk, err := s.objects.NewKey(ctx, keyContext)
	if err != nil {
		return err
	}
	sealedDER, err := envelope.Seal(nil, dk.Plaintext, []byte(id), der)
	if err != nil {
		return err
	}
	return q.SigningKeyAdd(ctx, dbsqlc.SigningKeyAddParams{ID: id, PublicJwk: string(public), SealedPrivate: sealedDER, KeyID: dk.ID, WrappedKey: dk.Wrapped})
}

// Rotate makes a new signing key; the ones before it stay published for
// keyOverlap, so the tokens they signed keep verifying.
func (s *Service) Rotate(ctx context.Context) error {
	q := dbsqlc.New(s.db)
	if err := s.addKey(ctx, q); err != nil {
		return err
	}
	cur, err := q.SigningKeyCurrent(ctx, s.objects.KeyID())
	if err != nil {
		return err
	}
	retire := s.now().Add(keyOverlap)
	return q.SigningKeyRetireOthers(ctx, dbsqlc.SigningKeyRetireOthersParams{RetireAt: &retire, Keep: cur.ID})
}

// JWKS is the published keys.
func (s *Service) JWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	rows, err := dbsqlc.New(s.db).SigningKeyPublished(ctx)
	if err != nil {
		return set, err
	}
	for _, r := range rows {
		var k jose.JSONWebKey
		if err := json.Unmarshal([]byte(r.PublicJwk), &k); err != nil {
			return set, fmt.Errorf("identity: published key %s: %w", r.ID, err)
		}
		set.Keys = append(set.Keys, k)
	}
	return set, nil
}

// Discovery is the OpenID provider configuration for issuer.
func Discovery(issuer string) map[string]any {
	return map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              issuer + "/.well-known/jwks.json",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{string(jose.ES256)},
		"claims_supported": []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf",
			"runplane_organization_name", "runplane_organization_id", "runplane_workspace_name",
			"runplane_workspace_id", "runplane_run_id", "runplane_run_phase"},
	}
}

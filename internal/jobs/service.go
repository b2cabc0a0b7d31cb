package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/runplane/runplane/internal/agentapi"
	"github.com/runplane/runplane/internal/configversion"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/sealed"
	"github.com/runplane/runplane/internal/validate"
	"github.com/runplane/runplane/internal/variable"
)

var (
	// ErrNoJob: nothing was claimable while the claim waited.
	ErrNoJob = errors.New("no job to claim")
	// ErrLeaseLost: the call's lease is not the job's live lease.
	ErrLeaseLost = fault.New(fault.Conflict, agentapi.CodeLeaseLost, "lease lost: the job was reaped, finished or handed to another agent")
	// ErrLogGap: a log chunk starts after the end of the stored log.
	ErrLogGap = fault.New(fault.Conflict, agentapi.CodeLogGap, "log chunk leaves a gap")
	// ErrNotFound: no such job, run or artifact.
	ErrNotFound = fault.New(fault.NotFound, "not_found", "not found")
	// ErrInvalid: a report the protocol does not allow.
	ErrInvalid = fault.New(fault.Invalid, "invalid_request", "invalid report")
	// ErrExpired: a run's log or plan file is no longer in storage.
	ErrExpired = fault.New(fault.NotFound, "expired", "this log or plan file is no longer kept: on AWS the bucket expires them after RunArtifactRetentionDays days (docs/deploying.md)")
)

// Config holds the protocol's timings.
type Config struct {
	// Lease is how long a job stays an agent's without a heartbeat.
	Lease time.Duration
	// Heartbeat is how often agents are told to heartbeat.
	Heartbeat time.Duration
	// ClaimWait is how long a claim long-polls before answering "no job".
	ClaimWait time.Duration
	// Poll is how often a waiting claim looks at the database when no hint
	// wakes it; on AWS, where no hint crosses Lambda instances, it bounds
	// the claim latency.
	Poll time.Duration
	// Tick is how often the scheduler reaps. A longer gap between two
	// reaps is time the platform was out, credited to every lease.
	Tick time.Duration
}

// DefaultConfig notices a lost agent within Lease plus one tick.
var DefaultConfig = Config{Lease: 20 * time.Second, Heartbeat: 5 * time.Second, ClaimWait: 20 * time.Second, Poll: time.Second, Tick: 5 * time.Second}

// Phase is the part of a run a job executes.
type Phase string

const (
	PhasePlan  Phase = agentapi.PhasePlan
	PhaseApply Phase = agentapi.PhaseApply
)

// Job is a claimed job as the agent receives it.
type Job struct {
	ID             uuid.UUID
	RunID          uuid.UUID
	WorkspaceID    uuid.UUID
	OrganizationID uuid.UUID
	Phase          Phase
	LeaseToken     uuid.UUID
	LeaseExpiresAt time.Time
	// Credential reaches the workspace's state (and allow-listed remote
	// states) for as long as the lease lives.
	Credential             string
	ConfigurationVersionID *uuid.UUID
	PlanOnly               bool
	IsDestroy              bool
	Plan                   run.PlanOptions
	Heartbeat              time.Duration
}

// DB is what the service needs of the database; *pgxpool.Pool satisfies it.
type DB interface {
	dbtx.Beginner
	dbsqlc.DBTX
}

// Service serves the agent protocol.
type Service struct {
	db      DB
	runs    *run.Service
	configs *configversion.Service
	objects *sealed.Store
	hint    *Hint
	cfg     Config
	vars    Variables
	events  Sender
	now     func() time.Time
}

// Variables gives a job its workspace's variables (*variable.Service).
type Variables interface {
	ForJob(ctx context.Context, orgID, workspaceID uuid.UUID) ([]variable.Value, error)
}

// Sender hands a run's new events to the dispatcher once the transaction
// that wrote them committed (*events.Dispatcher).
type Sender interface {
	Send(ctx context.Context, runID uuid.UUID)
}

// NewService returns a Service; hint may be shared with whatever queues runs.
func NewService(db DB, runs *run.Service, configs *configversion.Service, objects *sealed.Store, vars Variables, hint *Hint, events Sender, cfg Config) *Service {
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultConfig.Poll
	}
	if cfg.Tick <= 0 {
		cfg.Tick = DefaultConfig.Tick
	}
	return &Service{db: db, runs: runs, configs: configs, objects: objects, vars: vars, hint: hint, events: events, cfg: cfg, now: time.Now}
}

// Config returns the protocol's timings.
func (s *Service) Config() Config { return s.cfg }

// Claimable counts jobs an agent could claim now, up to max: each
// organization's waiting jobs, as far as its cap and its bucket allow.
func (s *Service) Claimable(ctx context.Context, max int) (int, error) {
	orgs, err := dbsqlc.New(s.db).OrganizationListWaiting(ctx, int32(min(max, math.MaxInt32)))
	if err != nil {
		return 0, err
	}
	now, n := s.now(), 0
	for _, o := range orgs {
		tokens := int(org.Bucket(o.Organization).Refilled(now).Tokens)
		n += min(int(o.Waiting), int(o.Organization.MaxConcurrency-o.Organization.Running), tokens)
		if n >= max {
			return max, nil
		}
	}
	return n, nil
}

// Running counts the jobs agents hold now, of every organization.
func (s *Service) Running(ctx context.Context) (int, error) {
	n, err := dbsqlc.New(s.db).JobCountRunning(ctx)
	return int(n), err
}

// Claim long-polls for the next job: applies before plans before
// speculative plans, oldest first.
func (s *Service) Claim(ctx context.Context, agentName string) (Job, error) {
	return s.poll(ctx, func() (Job, claimOutcome, error) { return s.tryClaim(ctx, agentName) })
}

// ClaimForPool is Claim for an agent of an organization's own pool: the
// next job of the workspaces assigned to the pool, nothing else. The
// platform's fair share does not ration a pool (its agents are the
// organization's own), but its jobs count in the organization's running
// jobs.
func (s *Service) ClaimForPool(ctx context.Context, agentName string, orgID, poolID uuid.UUID) (Job, error) {
	return s.poll(ctx, func() (Job, claimOutcome, error) { return s.tryClaimPool(ctx, agentName, orgID, poolID) })
}

// poll repeats try until it claims, fails or the claim wait passes.
func (s *Service) poll(ctx context.Context, try func() (Job, claimOutcome, error)) (Job, error) {
	deadline := s.now().Add(s.cfg.ClaimWait)
	for {
		job, outcome, err := try()
		if outcome == claimed || err != nil {
			// There may be more, or this claimer gives up on what woke it:
			// let the next waiter look.
			s.hint.Notify()
		}
		if err != nil || outcome == claimed {
			return job, err
		}
		var wait time.Duration
		if outcome == orgBusy && s.now().Before(deadline.Add(busyGrace)) {
			// Work is there but another claim holds its organization for a
			// few milliseconds: look again soon, even a little past the
			// deadline.
			wait = busyRetry/2 + rand.N(busyRetry)
		} else {
			left := deadline.Sub(s.now())
			if left <= 0 {
				return Job{}, ErrNoJob
			}
			// Jittered: claimers that met at one job would otherwise keep
			// polling in step, and a new job wait a whole poll for all of them.
			wait = min(left, s.cfg.Poll/2+rand.N(s.cfg.Poll))
		}
		timer := time.NewTimer(wait)
		select {
		case <-s.hint.Wait():
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return Job{}, ctx.Err()
		}
		timer.Stop()
	}
}

// claimCandidates bounds how many organizations one claim looks at: the
// least loaded ones with waiting jobs and room under their cap.
const claimCandidates = 16

// busyRetry is about one claim transaction: how soon a claimer that found
// its organizations held by other claims looks again. It keeps looking up
// to busyGrace past its deadline: the work it saw is likely still there.
const (
	busyRetry = 2 * time.Millisecond
	busyGrace = time.Second
)

type claimOutcome int

const (
	nothingClaimable claimOutcome = iota
	orgBusy                       // a candidate was held by another claim
	claimed
)

// tryClaim is one claim. Fair share: among organizations with waiting jobs,
// room under their cap and a token in their bucket, the one with the lowest
// running/weight (ties: waiting longest); within it, applies before plans
// before speculative plans, oldest first. Every read goes through a partial
// index, so the cost does not grow with the number of workspaces or queued
// runs, only with the organizations that have jobs waiting (one index
// probe each).
//
// The ranking is read before the transaction: it only orders candidates,
// and read inside it would make every claim conflict with every counter
// update of any organization (the predicate locks of SERIALIZABLE). Cap and
// bucket are checked and spent under the organization's row lock, taken as
// the transaction's first statement and skipped when another claim holds
// it, so claims of one organization follow one another instead of aborting
// one another.
func (s *Service) tryClaim(ctx context.Context, agentName string) (Job, claimOutcome, error) {
	candidates, err := s.claimCandidates(ctx)
	if err != nil || len(candidates) == 0 {
		return Job{}, nothingClaimable, err
	}
	var job Job
	var outcome claimOutcome
	err = dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		outcome = nothingClaimable
		now := s.now().UTC()
		for _, c := range candidates {
			o, err := q.OrganizationLockForClaim(ctx, c.ID)
			if errors.Is(err, pgx.ErrNoRows) {
				outcome = orgBusy
				continue
			}
			if err != nil {
				return err
			}
			bucket, ok := org.Bucket(o).Take(now)
			if !ok || o.Running >= o.MaxConcurrency {
				continue
			}
			r, ok, err := nextRun(ctx, q, o.ID)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if err := q.OrganizationSpendToken(ctx, dbsqlc.OrganizationSpendTokenParams{Tokens: bucket.Tokens, TokensAt: bucket.At, ID: o.ID}); err != nil {
				return err
			}
			if job, err = s.start(ctx, q, r, agentName, now); err != nil {
				return err
			}
			outcome = claimed
			return nil
		}
		return nil
	})
	return job, outcome, err
}

// tryClaimPool is one claim of a pool's agent: under the organization's
// row lock, as every claim and finish of the organization, the pool's next
// job: applies, plans, speculative plans.
func (s *Service) tryClaimPool(ctx context.Context, agentName string, orgID, poolID uuid.UUID) (Job, claimOutcome, error) {
	var job Job
	var outcome claimOutcome
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		outcome = nothingClaimable
		if _, err := q.OrganizationLockForClaim(ctx, orgID); errors.Is(err, pgx.ErrNoRows) {
			outcome = orgBusy
			return nil
		} else if err != nil {
			return err
		}
		r, ok, err := firstRun(ctx, poolID, q.RunClaimPoolApply, q.RunClaimPoolPlan, q.RunClaimPoolSpeculative)
		if err != nil || !ok {
			return err
		}
		if job, err = s.start(ctx, q, r, agentName, s.now().UTC()); err != nil {
			return err
		}
		outcome = claimed
		return nil
	})
	return job, outcome, err
}

// claimCandidates returns the least loaded organizations with waiting jobs,
// room under their cap and a token in their bucket. Organizations whose
// bucket is empty are passed over a page at a time, so however many of them
// rank first, they cannot hide the others.
func (s *Service) claimCandidates(ctx context.Context) ([]dbsqlc.Organization, error) {
	q := dbsqlc.New(s.db)
	now := s.now().UTC()
	// Before every entry: shares are never negative.
	after := dbsqlc.OrganizationClaimCandidatesParams{AfterShare: -1, MaxRows: claimCandidates}
	for {
		page, err := q.OrganizationClaimCandidates(ctx, after)
		if err != nil {
			return nil, err
		}
		var out []dbsqlc.Organization
		for _, c := range page {
			if _, ok := org.Bucket(c.Organization).Take(now); ok {
				out = append(out, c.Organization)
			}
		}
		if len(out) > 0 || len(page) < claimCandidates {
			return out, nil
		}
		last := page[len(page)-1]
		after.AfterShare, after.AfterWaitingSince, after.AfterID = last.Share, last.WaitingSince, last.Organization.ID
	}
}

// nextRun locks an organization's next job: applies, plans, speculative plans.
func nextRun(ctx context.Context, q *dbsqlc.Queries, orgID uuid.UUID) (dbsqlc.Run, bool, error) {
	return firstRun(ctx, orgID, q.RunClaimApply, q.RunClaimPlan, q.RunClaimSpeculative)
}

// firstRun locks the run the first pick that finds one finds.
func firstRun(ctx context.Context, id uuid.UUID, picks ...func(context.Context, uuid.UUID) (dbsqlc.Run, error)) (dbsqlc.Run, bool, error) {
	for _, pick := range picks {
		r, err := pick(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		return r, err == nil, err
	}
	return dbsqlc.Run{}, false, nil
}

// start moves a claimed run to planning or applying and creates its job
// and the job's credential.
func (s *Service) start(ctx context.Context, q *dbsqlc.Queries, r dbsqlc.Run, agentName string, now time.Time) (Job, error) {
	r, err := s.runs.ClaimTx(ctx, q, r)
	if err != nil {
		return Job{}, err
	}
	phase := PhasePlan
	if run.Status(r.Status) == run.StatusApplying {
		phase = PhaseApply
	}
	j, err := q.JobCreate(ctx, dbsqlc.JobCreateParams{
		OrganizationID: r.OrganizationID, WorkspaceID: r.WorkspaceID, RunID: r.ID, Phase: string(phase),
		LeaseToken: uuid.New(), LeaseExpiresAt: now.Add(s.cfg.Lease), Agent: agentName,
	})
	if err != nil {
		return Job{}, err
	}
	cred, err := org.CreateTokenTx(ctx, q, r.OrganizationID, fmt.Sprintf("%s job of run %s", phase, r.ID), org.RoleWrite,
		org.TokenScope{WorkspaceID: &r.WorkspaceID, RunID: &r.ID, JobID: &j.ID})
	if err != nil {
		return Job{}, err
	}
	return Job{
		ID: j.ID, RunID: r.ID, WorkspaceID: r.WorkspaceID, OrganizationID: r.OrganizationID, Phase: phase,
		LeaseToken: j.LeaseToken, LeaseExpiresAt: j.LeaseExpiresAt.UTC(), Credential: cred.Secret,
		ConfigurationVersionID: r.ConfigurationVersionID, PlanOnly: r.PlanOnly, IsDestroy: r.IsDestroy,
		Plan:      run.PlanOptions{RefreshOnly: r.RefreshOnly, SkipRefresh: !r.Refresh, TargetAddrs: r.TargetAddrs, ReplaceAddrs: r.ReplaceAddrs},
		Heartbeat: s.cfg.Heartbeat,
	}, nil
}

// live loads a job for update and checks the caller's lease.
func (s *Service) live(ctx context.Context, q *dbsqlc.Queries, jobID, lease uuid.UUID) (dbsqlc.Job, error) {
	j, err := q.JobGetForUpdate(ctx, jobID)
	if errors.Is(err, pgx.ErrNoRows) {
		return j, ErrNotFound
	}
	if err != nil {
		return j, err
	}
	// A lease passed its expiry is still live until the reaper ends it:
	// until then nobody else holds the job (see CreditOutage).
	if j.Status != "running" || j.LeaseToken != lease {
		return j, ErrLeaseLost
	}
	return j, nil
}

// Beat is a heartbeat's answer.
type Beat struct {
	LeaseExpiresAt time.Time
	// Cancel: interrupt terraform gracefully and report canceled.
	Cancel bool
	// Stop: the run ended without the agent (force-cancel); kill terraform and exit.
	Stop bool
}

// Heartbeat extends a live lease and says whether the run should stop.
func (s *Service) Heartbeat(ctx context.Context, jobID, lease uuid.UUID) (Beat, error) {
	var beat Beat
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		now := s.now().UTC()
		j, err := q.JobExtendLease(ctx, dbsqlc.JobExtendLeaseParams{LeaseExpiresAt: now.Add(s.cfg.Lease), ID: jobID, LeaseToken: lease})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrLeaseLost
		}
		if err != nil {
			return err
		}
		r, err := q.RunGetForUpdate(ctx, dbsqlc.RunGetForUpdateParams{ID: j.RunID, OrganizationID: j.OrganizationID})
		if err != nil {
			return err
		}
		beat = Beat{LeaseExpiresAt: j.LeaseExpiresAt.UTC(), Cancel: r.CancelRequestedAt != nil}
		if st := run.Status(r.Status); st != run.StatusPlanning && st != run.StatusApplying {
			// The run left this phase without the agent: nothing it does counts any more.
			beat.Stop = true
			_, err = q.JobEnd(ctx, dbsqlc.JobEndParams{Status: "finished", Now: now, ID: j.ID})
		}
		return err
	})
	return beat, err
}

// PutArtifact stores a plan job's plan file or plan JSON, sealed like state.
func (s *Service) PutArtifact(ctx context.Context, jobID, lease uuid.UUID, name string, data []byte) error {
	j, err := s.artifactWriter(ctx, jobID, lease, name)
	if err != nil {
		return err
	}
	id := uuid.New()
	obj, _, err := s.objects.Put(ctx, id, artifactKey(j, name, id), envelope.WorkspaceContext(j.OrganizationID, j.WorkspaceID), data)
	if err != nil {
		return err
	}
	return s.recordArtifact(ctx, j, lease, name, obj)
}

// MaxArtifact bounds a plan file or plan JSON.
const MaxArtifact = 200 << 20

// GrantArtifactUpload lets the plan job put an artifact of size bytes
// straight into storage; PutArtifactObject commits it.
func (s *Service) GrantArtifactUpload(ctx context.Context, jobID, lease uuid.UUID, name string, size int64) (agentapi.ObjectUpload, error) {
	if size <= 0 || size > MaxArtifact {
		return agentapi.ObjectUpload{}, fmt.Errorf("%w: an artifact is 1 to %d bytes", ErrInvalid, MaxArtifact)
	}
	j, err := s.artifactWriter(ctx, jobID, lease, name)
	if err != nil {
		return agentapi.ObjectUpload{}, err
	}
	id := uuid.New()
	return s.objects.GrantPut(ctx, id, artifactKey(j, name, id), envelope.WorkspaceContext(j.OrganizationID, j.WorkspaceID), size)
}

// PutArtifactObject records an artifact uploaded under a grant as object
// id, once it opens with its key and matches c.
func (s *Service) PutArtifactObject(ctx context.Context, jobID, lease uuid.UUID, name string, id uuid.UUID, c agentapi.ObjectCommit) error {
	j, err := s.artifactWriter(ctx, jobID, lease, name)
	if err != nil {
		return err
	}
	obj, _, _, err := s.objects.Adopt(ctx, id, artifactKey(j, name, id), envelope.WorkspaceContext(j.OrganizationID, j.WorkspaceID), c)
	if err != nil {
		return err
	}
	return s.recordArtifact(ctx, j, lease, name, obj)
}

// artifactWriter returns the live plan job that may store artifact name.
func (s *Service) artifactWriter(ctx context.Context, jobID, lease uuid.UUID, name string) (dbsqlc.Job, error) {
	if name != agentapi.ArtifactPlanFile && name != agentapi.ArtifactPlanJSON {
		return dbsqlc.Job{}, fmt.Errorf("%w: artifact must be %s or %s", ErrInvalid, agentapi.ArtifactPlanFile, agentapi.ArtifactPlanJSON)
	}
	j, err := s.live(ctx, dbsqlc.New(s.db), jobID, lease)
	if err != nil {
		return j, err
	}
	if Phase(j.Phase) != PhasePlan {
		return j, fmt.Errorf("%w: only a plan job uploads a plan", ErrInvalid)
	}
	return j, nil
}

func artifactKey(j dbsqlc.Job, name string, id uuid.UUID) string {
	return fmt.Sprintf("runs/%s/%s/%s/%s", j.OrganizationID, j.RunID, name, id)
}

func (s *Service) recordArtifact(ctx context.Context, j dbsqlc.Job, lease uuid.UUID, name string, obj sealed.Object) error {
	return dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		if _, err := s.live(ctx, q, j.ID, lease); err != nil {
			return err
		}
		return q.RunArtifactPut(ctx, dbsqlc.RunArtifactPutParams{
			RunID: j.RunID, Name: name, OrganizationID: j.OrganizationID, JobID: j.ID, ID: obj.ID,
			Sha256: obj.SHA256, Size: obj.Size, BlobKey: obj.BlobKey, KeyID: obj.KeyID, WrappedKey: obj.WrappedKey,
		})
	})
}

// ArtifactDirect returns a run artifact to the run's live job (the apply
// job fetches the plan file of the plan phase); for a job that fetches
// large objects itself (direct), a large artifact in storage that signs
// requests comes back as a grant instead of its bytes.
func (s *Service) ArtifactDirect(ctx context.Context, jobID, lease uuid.UUID, name string, direct bool) ([]byte, *agentapi.ObjectDownload, error) {
	j, err := s.live(ctx, dbsqlc.New(s.db), jobID, lease)
	if err != nil {
		return nil, nil, err
	}
	o, err := s.artifactObject(ctx, j.OrganizationID, j.RunID, name)
	if err != nil {
		return nil, nil, err
	}
	return s.fetch(ctx, o, envelope.WorkspaceContext(j.OrganizationID, j.WorkspaceID), direct)
}

// fetch is sealed.Store.Fetch for a log or plan file, which may expire.
func (s *Service) fetch(ctx context.Context, o sealed.Object, ec envelope.Context, direct bool) ([]byte, *agentapi.ObjectDownload, error) {
	data, grant, err := s.objects.Fetch(ctx, o, ec, direct)
	return data, grant, expired(err)
}

// expired turns a log or plan file missing from storage, which the
// bucket's lifecycle expires, into ErrExpired.
func expired(err error) error {
	if errors.Is(err, sealed.ErrMissing) {
		return ErrExpired
	}
	return err
}

// PlanJSON returns a run's plan as `terraform show -json`, as its plan job
// uploaded it, for the checks the platform runs on it; nil if it uploaded
// none. An error is a failure to read, worth trying again.
func (s *Service) PlanJSON(ctx context.Context, orgID, workspaceID, runID uuid.UUID) ([]byte, error) {
	plan, err := s.artifact(ctx, orgID, workspaceID, runID, agentapi.ArtifactPlanJSON)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return plan, err
}

func (s *Service) artifact(ctx context.Context, orgID, workspaceID, runID uuid.UUID, name string) ([]byte, error) {
	o, err := s.artifactObject(ctx, orgID, runID, name)
	if err != nil {
		return nil, err
	}
	data, _, err := s.fetch(ctx, o, envelope.WorkspaceContext(orgID, workspaceID), false)
	return data, err
}

func (s *Service) artifactObject(ctx context.Context, orgID, runID uuid.UUID, name string) (sealed.Object, error) {
	a, err := dbsqlc.New(s.db).RunArtifactGet(ctx, dbsqlc.RunArtifactGetParams{RunID: runID, OrganizationID: orgID, Name: name})
	if errors.Is(err, pgx.ErrNoRows) {
		return sealed.Object{}, fmt.Errorf("%w: the run has no %s", ErrNotFound, name)
	}
	if err != nil {
		return sealed.Object{}, err
	}
	return sealed.Object{
		ID: a.ID, BlobKey: a.BlobKey, SHA256: a.Sha256, Size: a.Size, KeyID: a.KeyID, WrappedKey: a.WrappedKey,
	}, nil
}

// Configuration returns the job's configuration archive, or, for a job
// that fetches large objects itself (direct), a grant when it is large.
func (s *Service) Configuration(ctx context.Context, jobID, lease uuid.UUID, direct bool) ([]byte, *agentapi.ObjectDownload, error) {
	q := dbsqlc.New(s.db)
	j, err := s.live(ctx, q, jobID, lease)
	if err != nil {
		return nil, nil, err
	}
	r, err := q.RunGetForUpdate(ctx, dbsqlc.RunGetForUpdateParams{ID: j.RunID, OrganizationID: j.OrganizationID})
	if err != nil {
		return nil, nil, err
	}
	if r.ConfigurationVersionID == nil {
		return nil, nil, fmt.Errorf("%w: the run has no configuration version; upload one to the workspace", ErrNotFound)
	}
	o, err := s.configs.Object(ctx, j.OrganizationID, *r.ConfigurationVersionID)
	if err != nil {
		return nil, nil, err
	}
	return s.fetch(ctx, o, envelope.WorkspaceContext(j.OrganizationID, j.WorkspaceID), direct)
}

// Variables returns the variables of the job's workspace, sensitive values
// opened: for the job's terraform, under the job's live lease only.
func (s *Service) Variables(ctx context.Context, jobID, lease uuid.UUID) ([]variable.Value, error) {
	j, err := s.live(ctx, dbsqlc.New(s.db), jobID, lease)
	if err != nil {
		return nil, err
	}
	return s.vars.ForJob(ctx, j.OrganizationID, j.WorkspaceID)
}

// Outcome is what an agent reports when its job ends.
type Outcome struct {
	// Result is succeeded, failed or canceled.
	Result string
	Plan   run.PlanSummary
	Error  string
	// TerraformTime is how long the job's terraform commands ran, as the
	// agent timed them.
	TerraformTime time.Duration
	// Log is the phase's log from LogOffset on, at most agentapi.MaxFinishLog bytes.
	Log       []byte
	LogOffset int64
}

// Finish ends a job and moves its run on, in one transaction.
func (s *Service) Finish(ctx context.Context, jobID, lease uuid.UUID, out Outcome) error {
	if len(out.Error) > 4000 {
		out.Error = out.Error[:4000]
	}
	// Cut anywhere and written by terraform: make it storable text.
	out.Error = validate.Clean(out.Error)
	if out.Plan.Add < 0 || out.Plan.Change < 0 || out.Plan.Destroy < 0 {
		return fmt.Errorf("%w: plan counts must not be negative", ErrInvalid)
	}
	if out.TerraformTime < 0 {
		return fmt.Errorf("%w: terraform time must not be negative", ErrInvalid)
	}
	var logKey []byte
	if len(out.Log) > 0 {
		var err error
		if logKey, err = s.chunkKey(ctx, jobID, lease, out.LogOffset, out.Log, agentapi.MaxFinishLog); err != nil {
			return err
		}
	}
	var orgID, runID uuid.UUID
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		// The finish lowers its organization's running count, a row the
		// organization's claims write all the time. Taken first, while it is
		// held claims skip the organization instead of committing under this
		// transaction, which would abort it after all its work.
		if err := q.OrganizationLockForJob(ctx, jobID); err != nil {
			return err
		}
		j, err := s.live(ctx, q, jobID, lease)
		if err != nil {
			return err
		}
		if logKey != nil {
			if _, err := appendChunk(ctx, q, j, logKey, out.LogOffset, out.Log); err != nil {
				return err
			}
		}
		orgID, runID = j.OrganizationID, j.RunID
		now := s.now().UTC()
		// Terraform cannot have run longer than the job lived.
		tfTime := min(out.TerraformTime, now.Sub(j.CreatedAt))
		if _, err := q.JobEnd(ctx, dbsqlc.JobEndParams{Status: "finished", Now: now, TerraformMs: tfTime.Milliseconds(), ID: j.ID}); err != nil {
			return err
		}
		var e run.Event
		in := run.Input{}
		switch {
		case out.Result == agentapi.ResultSucceeded && Phase(j.Phase) == PhasePlan:
			e, in.HasChanges = run.EventPlanFinished, out.Plan.HasChanges
			if err := s.requirePlanFile(ctx, q, j, out); err != nil {
				return err
			}
			if in.PoliciesExist, err = q.PolicyExists(ctx, j.OrganizationID); err != nil {
				return err
			}
			in.Plan = &out.Plan
		case out.Result == agentapi.ResultSucceeded:
			e = run.EventApplyFinished
		case out.Result == agentapi.ResultFailed:
			e, in.Error = run.EventFail, out.Error
		case out.Result == agentapi.ResultCanceled:
			e = run.EventAgentCanceled
		default:
			return fmt.Errorf("%w: result must be succeeded, failed or canceled", ErrInvalid)
		}
		err = s.runs.FireTx(ctx, q, j.OrganizationID, j.WorkspaceID, j.RunID, e, in)
		return err
	})
	if err == nil {
		s.runs.Queued()
		// What the run's new status asks for next — a plan's policy check,
		// an apply's trigger fan-out — was written to the event log in the
		// transaction above; hand it to the dispatcher now.
		s.events.Send(ctx, runID)
		s.archiveLog(ctx, orgID, jobID)
	}
	return err
}

// archiveLog moves an ended job's log to blob storage; on failure the
// sealed chunks stay and read the same.
func (s *Service) archiveLog(ctx context.Context, orgID, jobID uuid.UUID) {
	if err := s.ArchiveLog(ctx, orgID, jobID); err != nil {
		slog.WarnContext(ctx, "archiving a job's log failed; its sealed chunks stay in the database", "job", jobID, "err", err)
	}
}

// requirePlanFile: a plan that an apply may follow must have left its plan file.
func (s *Service) requirePlanFile(ctx context.Context, q *dbsqlc.Queries, j dbsqlc.Job, out Outcome) error {
	r, err := q.RunGetForUpdate(ctx, dbsqlc.RunGetForUpdateParams{ID: j.RunID, OrganizationID: j.OrganizationID})
	if err != nil || r.PlanOnly || !out.Plan.HasChanges {
		return err
	}
	a, err := q.RunArtifactGet(ctx, dbsqlc.RunArtifactGetParams{RunID: j.RunID, OrganizationID: j.OrganizationID, Name: agentapi.ArtifactPlanFile})
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && a.JobID != j.ID) {
		return fmt.Errorf("%w: upload this job's plan file before reporting a plan with changes", ErrInvalid)
	}
	return err
}

// Reap ends jobs whose lease expired and moves their runs on: a plan goes
// back to the queue (or errors after its attempts), an apply errors and
// locks the workspace. It returns how many jobs it reaped.
func (s *Service) Reap(ctx context.Context) (int, error) {
	if err := s.CreditOutage(ctx); err != nil {
		return 0, fmt.Errorf("crediting an outage: %w", err)
	}
	now := s.now().UTC()
	ids, err := dbsqlc.New(s.db).JobListExpired(ctx, dbsqlc.JobListExpiredParams{Now: now, MaxRows: 500})
	if err != nil {
		return 0, err
	}
	reaped := 0
	for _, id := range ids {
		var orgID uuid.UUID
		err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
			j, err := q.JobGetForUpdate(ctx, id)
			if err != nil {
				return err
			}
			orgID = j.OrganizationID
			if j.Status != "running" || j.LeaseExpiresAt.After(now) {
				return nil
			}
			if _, err := q.JobEnd(ctx, dbsqlc.JobEndParams{Status: "lost", Now: now, ID: j.ID}); err != nil {
				return err
			}
			e := run.EventPlanLeaseExpired
			if Phase(j.Phase) == PhaseApply {
				e = run.EventApplyLeaseExpired
			}
			// The error is recorded if the run errors (an apply, or a plan
			// out of attempts); a plan that is queued again keeps none.
			err = s.runs.FireTx(ctx, q, j.OrganizationID, j.WorkspaceID, j.RunID, e, run.Input{
				Error: fmt.Sprintf("the %s agent stopped heartbeating; its lease expired at %s", j.Phase, j.LeaseExpiresAt.UTC().Format(time.RFC3339)),
			})
			if errors.Is(err, run.ErrTransition) {
				// The run already moved on (canceled, force-canceled): only the job ends.
				return nil
			}
			if err != nil {
				return err
			}
			reaped++
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return reaped, ctx.Err()
			}
			// One job's failure must not stop the others' reaping.
			slog.ErrorContext(ctx, "reaping a job failed; the next tick tries again", "job", id, "err", err)
			continue
		}
		s.archiveLog(ctx, orgID, id)
	}
	if reaped > 0 {
		s.runs.Queued()
	}
	return reaped, nil
}

// CreditOutage records this reap's time and, when the last one is much
// longer ago than the tick interval, credits every running lease with the
// gap: time the database (or the scheduler) was out does not count against
// agents, which could not heartbeat meanwhile. Concurrent reapers take
// turns on the clock's row, so a gap is credited once.
func (s *Service) CreditOutage(ctx context.Context) error {
	return dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		now := s.now().UTC()
		last, err := q.SchedulerClockGet(ctx)
		first := errors.Is(err, pgx.ErrNoRows)
		if err != nil && !first {
			return err
		}
		if err := q.SchedulerClockSet(ctx, now); err != nil {
			return err
		}
		gap := now.Sub(last)
		if first || gap <= 2*s.cfg.Tick {
			return nil
		}
		credit := gap - s.cfg.Tick
		n, err := q.JobLeasesCredit(ctx, pgtype.Interval{Microseconds: credit.Microseconds(), Valid: true})
		if n > 0 {
			slog.WarnContext(ctx, "the scheduler did not run for a while (database or scheduler outage); leases credited", "gap", gap.Round(time.Millisecond), "jobs", n)
		}
		return err
	})
}

// Attempt is one job of a run as the agent ran it: when it was claimed and
// ended, and how long its terraform commands took.
type Attempt struct {
	Phase Phase
	// Agent is the name the agent claimed with.
	Agent         string
	Status        string
	ClaimedAt     time.Time
	FinishedAt    *time.Time
	TerraformTime time.Duration
}

// Attempts lists a run's jobs, oldest first.
func (s *Service) Attempts(ctx context.Context, orgID, runID uuid.UUID) ([]Attempt, error) {
	jobs, err := dbsqlc.New(s.db).JobListByRun(ctx, dbsqlc.JobListByRunParams{RunID: runID, OrganizationID: orgID})
	if err != nil {
		return nil, err
	}
	out := make([]Attempt, len(jobs))
	for i, j := range jobs {
		out[i] = Attempt{Phase: Phase(j.Phase), Agent: j.Agent, Status: j.Status, ClaimedAt: j.CreatedAt, FinishedAt: j.FinishedAt,
			TerraformTime: time.Duration(j.TerraformMs) * time.Millisecond}
	}
	return out, nil
}

package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/agentapi"
	"github.com/runplane/runplane/internal/audit"
	"github.com/runplane/runplane/internal/configversion"
	"github.com/runplane/runplane/internal/jobs"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/run"
)

// The agent protocol, /api/agent/v1 (docs/agent-protocol.md; its wire
// format is internal/agentapi). Agents authenticate with the site's agent
// token; job calls also carry the job's lease token in
// agentapi.LeaseHeader.

func (a *api) agentAuth(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := bearer(r)
		got := sha256.Sum256([]byte(token))
		var err error
		agent := audit.WithActor(r.Context(), audit.Actor{Kind: "agent", Source: r.RemoteAddr})
		if a.AgentToken != "" && subtle.ConstantTimeCompare(got[:], a.agentHash[:]) == 1 {
			err = h(w, r.WithContext(agent))
		} else if pool, perr := a.Orgs.AgentPoolByToken(r.Context(), token); perr == nil {
			err = h(w, r.WithContext(context.WithValue(agent, agentPoolKey{}, pool)))
		} else if errors.Is(perr, org.ErrUnauthorized) {
			err = errorf(http.StatusUnauthorized, "unauthorized", "send the agent token (the platform's or an agent pool's) as 'Authorization: Bearer <token>'")
		} else {
			err = perr
		}
		if err != nil {
			writeError(w, r, err)
		}
	})
}

// agentPoolKey carries the agent pool whose token a request came with.
type agentPoolKey struct{}

func (a *api) agentClaim(w http.ResponseWriter, r *http.Request) error {
	var body agentapi.Claim
	if err := decode(w, r, &body, true); err != nil {
		return err
	}
	if len(body.Agent) > 200 {
		return errorf(http.StatusBadRequest, "invalid_request", "agent name is longer than 200 characters")
	}
	var j jobs.Job
	var err error
	if pool, ok := r.Context().Value(agentPoolKey{}).(org.AgentPool); ok {
		j, err = a.Agents.ClaimForPool(r.Context(), body.Agent, pool.OrganizationID, pool.ID)
	} else {
		j, err = a.Agents.Claim(r.Context(), body.Agent)
	}
	if errors.Is(err, jobs.ErrNoJob) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	job := agentapi.Job{
		ID: j.ID, RunID: j.RunID, WorkspaceID: j.WorkspaceID, Phase: string(j.Phase), LeaseToken: j.LeaseToken,
		LeaseExpiresAt: j.LeaseExpiresAt, Credential: j.Credential, ConfigurationVersionID: j.ConfigurationVersionID,
		PlanOnly: j.PlanOnly, IsDestroy: j.IsDestroy, HeartbeatSeconds: j.Heartbeat.Seconds(),
		RefreshOnly: j.Plan.RefreshOnly, SkipRefresh: j.Plan.SkipRefresh, TargetAddrs: j.Plan.TargetAddrs, ReplaceAddrs: j.Plan.ReplaceAddrs,
	}
	if a.Identity != nil {
		a.workloadIdentity(r, j, &job)
	}
	writeJSON(w, http.StatusOK, job)
	return nil
}

// jobLease reads the job id from the path and the lease from its header.
func jobLease(r *http.Request) (uuid.UUID, uuid.UUID, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	lease, err := uuid.Parse(r.Header.Get(agentapi.LeaseHeader))
	if err != nil {
		return uuid.Nil, uuid.Nil, errorf(http.StatusConflict, agentapi.CodeLeaseLost, "send the job's lease token in "+agentapi.LeaseHeader)
	}
	return id, lease, nil
}

func (a *api) agentHeartbeat(w http.ResponseWriter, r *http.Request) error {
	id, lease, err := jobLease(r)
	if err != nil {
		return err
	}
	beat, err := a.Agents.Heartbeat(r.Context(), id, lease)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, agentapi.Heartbeat{LeaseExpiresAt: beat.LeaseExpiresAt, Cancel: beat.Cancel, Stop: beat.Stop})
	return nil
}

func (a *api) agentLogs(w http.ResponseWriter, r *http.Request) error {
	id, lease, err := jobLease(r)
	if err != nil {
		return err
	}
	offset, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if err != nil {
		return errorf(http.StatusBadRequest, "invalid_request", "?offset= must be the chunk's byte offset in the log")
	}
	data, err := readBody(w, r, agentapi.MaxLogChunk)
	if err != nil {
		return err
	}
	size, err := a.Agents.AppendLog(r.Context(), id, lease, offset, data)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, agentapi.LogAck{LogSize: size})
	return nil
}

func (a *api) agentPutArtifact(w http.ResponseWriter, r *http.Request) error {
	id, lease, err := jobLease(r)
	if err != nil {
		return err
	}
	data, err := readBody(w, r, jobs.MaxArtifact)
	if err != nil {
		return err
	}
	if err := a.Agents.PutArtifact(r.Context(), id, lease, r.PathValue("name"), data); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "stored"})
	return nil
}

func (a *api) agentGetArtifact(w http.ResponseWriter, r *http.Request) error {
	id, lease, err := jobLease(r)
	if err != nil {
		return err
	}
	data, grant, err := a.Agents.ArtifactDirect(r.Context(), id, lease, r.PathValue("name"), acceptsObjectDownload(r))
	if err != nil {
		return err
	}
	if grant != nil {
		writeObjectDownload(w, *grant)
		return nil
	}
	writeBytes(w, "application/octet-stream", data)
	return nil
}

// agentGrantArtifactUpload hands the plan job a grant to put a large
// artifact straight into storage.
func (a *api) agentGrantArtifactUpload(w http.ResponseWriter, r *http.Request) error {
	id, lease, err := jobLease(r)
	if err != nil {
		return err
	}
	var req agentapi.ObjectUploadRequest
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	grant, err := a.Agents.GrantArtifactUpload(r.Context(), id, lease, r.PathValue("name"), req.Size)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, grant)
	return nil
}

// agentCommitArtifact records an artifact uploaded under a grant.
func (a *api) agentCommitArtifact(w http.ResponseWriter, r *http.Request) error {
	id, lease, err := jobLease(r)
	if err != nil {
		return err
	}
	object, err := pathID(r, "object")
	if err != nil {
		return err
	}
	var c agentapi.ObjectCommit
	if err := decode(w, r, &c, false); err != nil {
		return err
	}
	if err := a.Agents.PutArtifactObject(r.Context(), id, lease, r.PathValue("name"), object, c); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "stored"})
	return nil
}

func (a *api) agentConfiguration(w http.ResponseWriter, r *http.Request) error {
	id, lease, err := jobLease(r)
	if err != nil {
		return err
	}
	data, grant, err := a.Agents.Configuration(r.Context(), id, lease, acceptsObjectDownload(r))
	if err != nil {
		return err
	}
	if grant != nil {
		writeObjectDownload(w, *grant)
		return nil
	}
	writeBytes(w, "application/gzip", data)
	return nil
}

// agentVariables hands the job's terraform its workspace's variables,
// sensitive values included: the one answer that carries them.
func (a *api) agentVariables(w http.ResponseWriter, r *http.Request) error {
	id, lease, err := jobLease(r)
	if err != nil {
		return err
	}
	vars, err := a.Agents.Variables(r.Context(), id, lease)
	if err != nil {
		return err
	}
	out := agentapi.Variables{Items: make([]agentapi.Variable, 0, len(vars))}
	for _, v := range vars {
		out.Items = append(out.Items, agentapi.Variable{Key: v.Key, Value: v.Value, Category: string(v.Category), HCL: v.HCL, Sensitive: v.Sensitive})
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
	return nil
}

func writeBytes(w http.ResponseWriter, contentType string, data []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

func (a *api) agentFinish(w http.ResponseWriter, r *http.Request) error {
	id, lease, err := jobLease(r)
	if err != nil {
		return err
	}
	var body agentapi.Finish
	// terraform's error text may hold anything; the service cleans it.
	if err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if body.TerraformMs < 0 || body.TerraformMs > int64(time.Hour*24*365/time.Millisecond) {
		return errorf(http.StatusBadRequest, "invalid_request", "terraform_ms must be between 0 and a year")
	}
	out := jobs.Outcome{Result: body.Result, Error: body.Error, TerraformTime: time.Duration(body.TerraformMs) * time.Millisecond,
		Log: body.Log, LogOffset: body.LogOffset}
	if body.Plan != nil {
		out.Plan = run.PlanSummary{Add: body.Plan.Add, Change: body.Plan.Change, Destroy: body.Plan.Destroy, HasChanges: body.Plan.HasChanges}
	}
	if err := a.Agents.Finish(r.Context(), id, lease, out); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "finished"})
	return nil
}

// uploadConfiguration stores a tar.gz of Terraform files for the workspace.
func (a *api) uploadConfiguration(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	data, err := readBody(w, r, configversion.MaxSize)
	if err != nil {
		return err
	}
	v, err := a.Configs.Upload(r.Context(), p.OrgID, id, &p.TokenID, data)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": v.ID, "workspace_id": v.WorkspaceID, "sha256": v.SHA256, "size": v.Size, "created_at": v.CreatedAt,
	})
	return nil
}

func (a *api) runLogs(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	phase := jobs.Phase(r.URL.Query().Get("phase"))
	if phase == "" {
		phase = jobs.PhasePlan
	}
	if phase != jobs.PhasePlan && phase != jobs.PhaseApply {
		return errorf(http.StatusBadRequest, "invalid_request", "phase must be plan or apply")
	}
	if _, err := a.Runs.Get(r.Context(), p.OrgID, id); err != nil {
		return err
	}
	// Streamed as it is read: the status goes with the first bytes, so an
	// error after them can only cut the response short.
	out := &streamWriter{w: w, contentType: "text/plain; charset=utf-8"}
	err = a.Agents.Logs(r.Context(), p.OrgID, id, phase, out)
	if err != nil && out.started {
		slog.ErrorContext(r.Context(), "reading a log failed midway", "run", id, "err", err)
		panic(http.ErrAbortHandler)
	}
	if err != nil {
		return err
	}
	out.start()
	return nil
}

// streamWriter sends 200 and the content type before its first write.
type streamWriter struct {
	w           http.ResponseWriter
	contentType string
	started     bool
}

func (s *streamWriter) start() {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", s.contentType)
		s.w.WriteHeader(http.StatusOK)
	}
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.start()
	return s.w.Write(p)
}

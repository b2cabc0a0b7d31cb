// Package agentapi is the agent protocol's wire format, defined once: the
// paths, headers, error codes and JSON bodies that the server's handlers
// (internal/httpapi over internal/jobs) and the agent (internal/agent)
// both speak. docs/agent-protocol.md describes the protocol around them.
package agentapi

import (
	"time"

	"github.com/google/uuid"
)

const (
	// ClaimPath is where an agent long-polls for a job.
	ClaimPath = "/api/agent/v1/claim"
	// LeaseHeader carries the job's lease token on every call about a job.
	LeaseHeader = "X-Runplane-Lease"
	// CodeLeaseLost is the error code (409) of a call under a lease that is
	// no longer the job's: the job was reaped, finished or handed over.
	CodeLeaseLost = "lease_lost"
	// CodeLogGap is the error code (409) of a log chunk that starts after
	// the end of the stored log.
	CodeLogGap = "log_gap"
	// MaxLogChunk bounds one log upload.
	MaxLogChunk = 1 << 20
	// MaxLog bounds one phase's log: the agent stops sending at this size
	// and ends the log with a line saying so.
	MaxLog = 8 << 20
	// MaxFinishLog bounds the log tail a finish carries: the phase's last
	// lines go with the report instead of one more upload before it.
	MaxFinishLog = 256 << 10
)

// Phases of a job.
const (
	PhasePlan  = "plan"
	PhaseApply = "apply"
)

// Artifacts a plan job uploads.
const (
	ArtifactPlanFile = "plan-file"
	ArtifactPlanJSON = "plan-json"
)

// Results a finish reports.
const (
	ResultSucceeded = "succeeded"
	ResultFailed    = "failed"
	ResultCanceled  = "canceled"
)

// JobPath is a call about a job: "heartbeat", "logs", "finish",
// "configuration", "variables" or "artifacts/<name>".
func JobPath(jobID uuid.UUID, call string) string {
	return "/api/agent/v1/jobs/" + jobID.String() + "/" + call
}

// Claim is the body of a claim.
type Claim struct {
	// Agent names the agent in the job's record (at most 200 characters).
	Agent string `json:"agent"`
}

// Job is what a claim answers: one phase of one run, under a lease.
type Job struct {
	ID                     uuid.UUID  `json:"id"`
	RunID                  uuid.UUID  `json:"run_id"`
	WorkspaceID            uuid.UUID  `json:"workspace_id"`
	Phase                  string     `json:"phase"`
	LeaseToken             uuid.UUID  `json:"lease_token"`
	LeaseExpiresAt         time.Time  `json:"lease_expires_at"`
	Credential             string     `json:"credential"`
	ConfigurationVersionID *uuid.UUID `json:"configuration_version_id"`
	PlanOnly               bool       `json:"plan_only"`
	IsDestroy              bool       `json:"is_destroy"`
	// How terraform plans; the zero value is a plain plan.
	RefreshOnly      bool     `json:"refresh_only,omitempty"`
	SkipRefresh      bool     `json:"skip_refresh,omitempty"`
	TargetAddrs      []string `json:"target_addrs,omitempty"`
	ReplaceAddrs     []string `json:"replace_addrs,omitempty"`
	HeartbeatSeconds float64  `json:"heartbeat_seconds"`
	// WorkloadIdentityToken is an OpenID Connect token naming this job
	// (internal/identity), for terraform to trade for cloud credentials.
	WorkloadIdentityToken string `json:"workload_identity_token,omitempty"`
}

// Heartbeat is what a heartbeat answers.
type Heartbeat struct {
	LeaseExpiresAt time.Time `json:"lease_expires_at"`
	// Cancel: interrupt terraform gracefully and report canceled.
	Cancel bool `json:"cancel"`
	// Stop: the run was force-canceled; kill terraform, report nothing.
	Stop bool `json:"stop"`
}

// Variable is one of the workspace's variables as the job's terraform
// receives it: sensitive values too, in clear, over this call only.
type Variable struct {
	Key string `json:"key"`
	// Value is the value as written; an HCL one is an expression.
	Value string `json:"value"`
	// Category is "terraform" (an input variable) or "env".
	Category  string `json:"category"`
	HCL       bool   `json:"hcl"`
	Sensitive bool   `json:"sensitive"`
}

// Variables is what the variables call answers.
type Variables struct {
	Items []Variable `json:"items"`
}

// LogAck is what a log chunk's upload answers.
type LogAck struct {
	// LogSize is the stored log's length: where the next chunk starts.
	LogSize int64 `json:"log_size"`
}

// PlanSummary is a finished plan's resource counts.
type PlanSummary struct {
	Add        int  `json:"add"`
	Change     int  `json:"change"`
	Destroy    int  `json:"destroy"`
	HasChanges bool `json:"has_changes"`
}

// Finish is the body of a job's report.
type Finish struct {
	// Result is ResultSucceeded, ResultFailed or ResultCanceled.
	Result string `json:"result"`
	// Plan is a succeeded plan's summary.
	Plan *PlanSummary `json:"plan,omitempty"`
	// Error says why the job failed.
	Error string `json:"error,omitempty"`
	// TerraformMs is how long the job's terraform commands ran.
	TerraformMs int64 `json:"terraform_ms"`
	// Log is the phase's last lines, from LogOffset on, at most MaxFinishLog bytes.
	Log       []byte `json:"log,omitempty"`
	LogOffset int64  `json:"log_offset"`
}

// Package identity owns runs' workload identity: an OpenID Connect issuer
// that signs a short-lived token for each job (a run's plan or apply), so
// that terraform can trade it for cloud credentials (AWS
// AssumeRoleWithWebIdentity, GCP and Azure workload identity federation)
// and no static cloud credential needs to live anywhere.
//
// Invariants:
//   - A token names exactly one job: its subject is
//     organization:<org>:workspace:<workspace>:run_phase:<phase>, with the
//     ids in claims of their own, so a relying party's condition on the
//     subject admits one workspace's runs only.
//   - The signing key's private half is stored sealed like state (an
//     envelope data key per key); only its public half is published
//     (JWKS), and a replaced key stays published for keyOverlap, longer
//     than any token it signed lives.
package identity

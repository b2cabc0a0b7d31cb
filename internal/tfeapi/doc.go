// Package tfeapi serves the Terraform Cloud API (/api/v2, JSON:API through
// github.com/hashicorp/jsonapi) as thin adapters over the same services as
// the native API, so that terraform's `cloud {}` block, the tfe provider
// and go-tfe scripts work against Runplane. docs/tfe-compatibility.md
// lists what is served.
//
// Invariants:
//   - Every request is authenticated and authorized exactly as the native
//     API does it (org.Service.Authenticate, the same roles), and another
//     organization's objects answer 404.
//   - No handler holds logic of its own beyond translating shapes: what a
//     call does is the service's.
package tfeapi

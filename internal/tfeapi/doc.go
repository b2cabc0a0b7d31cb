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
//     The exceptions are capability URLs (configuration uploads, log
//     reads), which go-tfe follows without the token: each is signed for
//     one purpose, organization and object until it expires, and nothing
//     else is reachable without a token.
//   - No handler holds logic of its own beyond translating shapes: what a
//     call does is the service's.
//   - A log read sends ETX only once the phase has ended, read before the
//     log, so a client that stops at ETX has the whole log.
package tfeapi

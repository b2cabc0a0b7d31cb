// Package org owns organizations and their API tokens, and turns a bearer
// token into a Principal.
//
// Invariants:
//   - A token's secret is shown once, at creation; only its SHA-256 is stored.
//     Secrets are 256 random bits, so a plain hash is enough (no password KDF).
//   - An organization token reaches only its own organization (invariant 6, docs/architecture.md);
//     the site-admin token creates organizations and their first tokens.
package org

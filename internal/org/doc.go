// Package org owns organizations, their users, teams and API tokens, turns
// a bearer token into a Principal, and decides what a principal may do:
// its level on a workspace (Access) and the one check every endpoint's
// declared need goes through (Authorize).
//
// Invariants:
//   - A token's secret is shown once, at creation; only its SHA-256 is stored.
//     Secrets are 256 random bits, so a plain hash is enough (no password KDF).
//   - A token reaches only its own organization (invariant 6, docs/architecture.md);
//     the site-admin token creates organizations and sets up their tokens, users and teams.
//   - A principal's level on a workspace is the highest of its role's and its teams';
//     owners (the owners team, admin organization tokens) are admin everywhere.
//   - Authorize locates the request's workspace within the principal's organization
//     before comparing levels, for owners too: a level never reaches across organizations.
//   - A removed user's or deleted team's tokens are revoked in the same transaction.
package org

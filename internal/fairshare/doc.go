// Package fairshare holds the arithmetic of sharing the agent pool between
// organizations: the token bucket each organization's claims spend from.
// The claim (internal/jobs) applies it inside its own transaction, on the
// organization's row, so no background refiller and no global row exist.
//
// Invariants (property-tested):
//   - Tokens never exceed the burst and never go below zero.
//   - A clock that goes backwards refills nothing and never moves the
//     bucket's time back, so tokens cannot be minted by clock skew.
//   - Over any interval, at most burst + refill × elapsed tokens are spent.
package fairshare

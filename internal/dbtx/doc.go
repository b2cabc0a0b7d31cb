// Package dbtx runs work in SERIALIZABLE transactions and retries the whole
// transaction when the database reports a serialization failure.
//
// Invariants:
//   - Every attempt starts a fresh transaction and calls fn again from the top,
//     so fn must keep no state across attempts other than what it returns.
//   - A commit error is never mistaken for success: the whole attempt is
//     retried only on SQLSTATE 40001 (or 40P01), any other commit error is returned.
//
// Savepoint-based retry (crdbpgxv5.ExecuteTx) is deliberately not used: on
// PostgreSQL a serialization failure reported at COMMIT can be swallowed by it.
package dbtx

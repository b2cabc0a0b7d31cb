// Package pgembed starts a private PostgreSQL cluster from the machine's
// PostgreSQL binaries: the embedded default database of `runplane server` and
// the throwaway database of the tests.
//
// The cluster listens only on a unix socket in a fresh 0700 folder, so nothing
// else on the machine can reach it over the network. PostgreSQL refuses to run
// as root; when we are root the cluster runs as the `postgres` user.
package pgembed

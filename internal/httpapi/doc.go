// Package httpapi is the public JSON API of docs/architecture.md and README as one http.Handler,
// served unchanged by `runplane server` and by the Lambda functions.
//
// Handlers are thin: authenticate, decode, call one service method, encode.
// Invariants:
//   - Errors are {"error":{"code","message"}} with a fitting status; internal
//     errors are logged and answered without detail.
//   - Objects of another organization answer 404, never 403 (invariant 6, docs/architecture.md).
//   - Bodies are limited in size and decoded strictly; a bad body changes nothing.
package httpapi

// Package configversion owns uploaded Terraform configurations: tar.gz
// archives checked by internal/archive and stored sealed like state.
//
// Invariants:
//   - An archive is stored only if archive.Check accepts it whole.
//   - A configuration version is immutable; runs name the one they plan.
//   - A version created before its archive (the Terraform Cloud API's
//     two steps) is pending until exactly one archive completes it; it
//     keeps its id. A speculative version is never a workspace's latest.
package configversion

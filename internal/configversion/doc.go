// Package configversion owns uploaded Terraform configurations: tar.gz
// archives checked by internal/archive and stored sealed like state.
//
// Invariants:
//   - An archive is stored only if archive.Check accepts it whole.
//   - A configuration version is immutable; runs name the one they plan.
package configversion

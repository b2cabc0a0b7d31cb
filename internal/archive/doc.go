// Package archive unpacks uploaded configuration tarballs (tar.gz) safely.
//
// Invariants:
//   - Nothing is written outside the destination: absolute names, ".."
//     components, links whose target leaves the tree, device files and FIFOs
//     are refused, and every write goes through an os.Root, which refuses to
//     follow a path out of the folder even through a symlink.
//   - An archive whose unpacked size or entry count passes the limits is
//     refused before the excess is written.
package archive

package archive

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// ErrUnsafe: the archive is malformed, dangerous or too large.
var ErrUnsafe = errors.New("unsafe archive")

// Limits bound what one archive may unpack to.
type Limits struct {
	MaxFiles int
	MaxBytes int64
}

// DefaultLimits suit a Terraform configuration.
var DefaultLimits = Limits{MaxFiles: 10_000, MaxBytes: 256 << 20}

func unsafe(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsafe, fmt.Sprintf(format, args...))
}

// Check reads a whole archive and applies every rule, writing nothing.
func Check(r io.Reader, lim Limits) error { return extract(r, nil, lim) }

// Extract unpacks the archive into dir, which must exist.
func Extract(r io.Reader, dir string, lim Limits) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return extract(r, root, lim)
}

func extract(r io.Reader, root *os.Root, lim Limits) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return unsafe("not a gzip stream (%v): a configuration is a .tar.gz of the folder with the .tf files, e.g. tar -czf config.tar.gz -C path/to/folder .", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	files := 0
	var total int64
	regular := map[string]bool{}
	links := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			// Links are checked against the whole tree: one may point
			// through another that comes later in the archive.
			return checkLinks(links)
		}
		if err != nil {
			return unsafe("not a tar archive: %v", err)
		}
		name, err := cleanName(h.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue
		}
		if files++; files > lim.MaxFiles {
			return unsafe("more than %d entries", lim.MaxFiles)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if root != nil {
				if err := root.MkdirAll(name, 0o755); err != nil {
					return unsafe("directory %q: %v", name, err)
				}
			}
		case tar.TypeReg:
			if total += h.Size; h.Size < 0 || total > lim.MaxBytes {
				return unsafe("unpacks to more than %d bytes", lim.MaxBytes)
			}
			if err := writeFile(root, name, h.FileInfo().Mode().Perm(), tr, h.Size); err != nil {
				return err
			}
			regular[name] = true
		case tar.TypeSymlink:
			if err := checkLinkTarget(name, h.Linkname); err != nil {
				return err
			}
			links[name] = h.Linkname
			if root != nil {
				if err := mkParent(root, name); err != nil {
					return err
				}
				if err := root.Symlink(h.Linkname, name); err != nil {
					return unsafe("symlink %q: %v", name, err)
				}
			}
		case tar.TypeLink:
			target, err := cleanName(h.Linkname)
			if err != nil {
				return err
			}
			if !regular[target] {
				return unsafe("hard link %q must point to a regular file earlier in the archive, not %q", name, h.Linkname)
			}
			if root != nil {
				if err := mkParent(root, name); err != nil {
					return err
				}
				if err := root.Link(target, name); err != nil {
					return unsafe("hard link %q: %v", name, err)
				}
			}
		case tar.TypeXGlobalHeader:
			// PAX global headers carry metadata only.
		default:
			return unsafe("%q is a %s; only files, directories and links inside the archive are allowed", name, typeName(h.Typeflag))
		}
	}
}

func typeName(t byte) string {
	switch t {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "FIFO"
	}
	return fmt.Sprintf("tar entry of type %q", t)
}

// cleanName refuses names that could leave the destination.
func cleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", unsafe("entry without a name")
	case strings.ContainsAny(name, "\x00\\"):
		return "", unsafe("entry name %q holds a NUL or backslash", name)
	case strings.HasPrefix(name, "/"):
		return "", unsafe("absolute path %q", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", unsafe("path %q leaves the archive with ..", name)
		}
	}
	return path.Clean(name), nil
}

// checkLinkTarget allows a symlink only to a relative target that stays
// inside the tree when resolved from the link's own folder.
func checkLinkTarget(name, target string) error {
	if target == "" || strings.HasPrefix(target, "/") || strings.ContainsAny(target, "\x00\\") {
		return unsafe("symlink %q points to %q, outside the archive", name, target)
	}
	resolved := path.Join(path.Dir(name), target)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return unsafe("symlink %q points to %q, outside the archive", name, target)
	}
	return nil
}

// maxHops bounds how many links one path may pass through, as the kernel's
// ELOOP does.
const maxHops = 40

// checkLinks resolves every symlink the way the file system will, following
// the archive's other links, and refuses any that leaves the tree: a
// target's text can stay inside (l2 -> ../l1/..) while the links it passes
// through (l1 -> .) take it out.
func checkLinks(links map[string]string) error {
	for name, target := range links {
		// Not path.Join: cleaning "up/.." away is exactly the mistake.
		if _, err := resolve(links, path.Dir(name)+"/"+target); err != nil {
			return unsafe("symlink %q points to %q, which %v", name, target, err)
		}
	}
	return nil
}

// resolve walks p from the tree's root one component at a time, replacing
// any component that is a link with its target, and returns the path it
// reaches inside the tree.
func resolve(links map[string]string, p string) (string, error) {
	hops := 0
	var at []string
	parts := strings.Split(p, "/")
	for i := 0; i < len(parts); i++ {
		switch part := parts[i]; part {
		case "", ".":
		case "..":
			if len(at) == 0 {
				return "", errors.New("leaves the archive")
			}
			at = at[:len(at)-1]
		default:
			here := path.Join(append(at, part)...)
			target, isLink := links[here]
			if !isLink {
				at = append(at, part)
				continue
			}
			if hops++; hops > maxHops {
				return "", errors.New("passes through too many links")
			}
			if strings.HasPrefix(target, "/") {
				return "", errors.New("leaves the archive")
			}
			// Continue from the link's folder along its target, then the rest.
			rest := append(strings.Split(target, "/"), parts[i+1:]...)
			parts, i = append(append([]string{}, strings.Split(path.Join(at...), "/")...), rest...), -1
			at = at[:0]
		}
	}
	return path.Join(at...), nil
}

func mkParent(root *os.Root, name string) error {
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return unsafe("directory %q: %v", dir, err)
		}
	}
	return nil
}

func writeFile(root *os.Root, name string, perm fs.FileMode, r io.Reader, size int64) error {
	if root == nil {
		_, err := io.CopyN(io.Discard, r, size)
		if err != nil {
			return unsafe("file %q is truncated: %v", name, err)
		}
		return nil
	}
	if err := mkParent(root, name); err != nil {
		return err
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm&0o755|0o600)
	if err != nil {
		return unsafe("file %q: %v", name, err)
	}
	if _, err := io.CopyN(f, r, size); err != nil {
		f.Close()
		return unsafe("file %q is truncated: %v", name, err)
	}
	return f.Close()
}

package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type entry struct {
	name, link string
	typ        byte
	body       string
	size       int64 // header size when it differs from body (a bomb)
}

func tarball(t testing.TB, entries ...entry) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ == tar.TypeDir || e.typ == tar.TypeSymlink || e.typ == tar.TypeLink || e.typ == tar.TypeChar || e.typ == tar.TypeFifo {
			h.Size = 0
		}
		if e.size > 0 {
			h.Size = e.size
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.size > 0 {
			zeros := make([]byte, 1<<20)
			for left := e.size; left > 0; left -= int64(len(zeros)) {
				_, _ = tw.Write(zeros[:min(int64(len(zeros)), left)])
			}
		} else if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func TestExtractsAnOrdinaryConfiguration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := tarball(t,
		entry{name: "main.tf", typ: tar.TypeReg, body: "terraform {}"},
		entry{name: "modules/", typ: tar.TypeDir},
		entry{name: "modules/net/main.tf", typ: tar.TypeReg, body: "# net"},
		entry{name: "shared.tf", typ: tar.TypeSymlink, link: "modules/net/main.tf"},
		entry{name: "modules/net/copy.tf", typ: tar.TypeLink, link: "main.tf"},
	)
	if err := Check(bytes.NewReader(data), DefaultLimits); err != nil {
		t.Fatal(err)
	}
	if err := Extract(bytes.NewReader(data), dir, DefaultLimits); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"main.tf": "terraform {}", "shared.tf": "# net", "modules/net/copy.tf": "terraform {}"} {
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v", name, got, err)
		}
	}
}

func TestRefusesDangerousArchives(t *testing.T) {
	t.Parallel()
	small := Limits{MaxFiles: 3, MaxBytes: 1 << 20}
	cases := map[string][]byte{
		"dot-dot":              tarball(t, entry{name: "../evil.tf", typ: tar.TypeReg, body: "x"}),
		"nested dot-dot":       tarball(t, entry{name: "a/../../evil.tf", typ: tar.TypeReg, body: "x"}),
		"absolute":             tarball(t, entry{name: "/tmp/evil.tf", typ: tar.TypeReg, body: "x"}),
		"symlink absolute":     tarball(t, entry{name: "passwd", typ: tar.TypeSymlink, link: "/etc/passwd"}),
		"symlink escaping":     tarball(t, entry{name: "a/b", typ: tar.TypeSymlink, link: "../../outside"}),
		"symlink then through": tarball(t, entry{name: "up", typ: tar.TypeSymlink, link: ".."}, entry{name: "up/evil.tf", typ: tar.TypeReg, body: "x"}),
		"hard link outside":    tarball(t, entry{name: "h", typ: tar.TypeLink, link: "../../etc/passwd"}),
		"hard link to nothing": tarball(t, entry{name: "h", typ: tar.TypeLink, link: "missing.tf"}),
		"device":               tarball(t, entry{name: "null", typ: tar.TypeChar}),
		"fifo":                 tarball(t, entry{name: "pipe", typ: tar.TypeFifo}),
		"too many files": tarball(t, entry{name: "1", typ: tar.TypeReg}, entry{name: "2", typ: tar.TypeReg},
			entry{name: "3", typ: tar.TypeReg}, entry{name: "4", typ: tar.TypeReg}),
		"bomb":     tarball(t, entry{name: "zeros", typ: tar.TypeReg, size: 64 << 20}),
		"not gzip": []byte("main.tf\x00plain text"),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			dir := filepath.Join(parent, "config")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := Check(bytes.NewReader(data), small); !errors.Is(err, ErrUnsafe) {
				t.Fatalf("Check: %v, want ErrUnsafe", err)
			}
			err := Extract(bytes.NewReader(data), dir, small)
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("Extract: %v, want ErrUnsafe", err)
			}
			if strings.Contains(err.Error(), "\x00") {
				t.Fatalf("message holds a NUL: %q", err)
			}
			assertContained(t, parent, dir)
		})
	}
}

// assertContained fails if anything but dir appeared in parent, or if a
// symlink in dir resolves outside it.
func assertContained(t *testing.T, parent, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Fatalf("something was written beside the destination: %v", entries)
	}
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.Mode()&os.ModeSymlink == 0 {
			return nil
		}
		resolved, err := filepath.EvalSymlinks(p)
		if err == nil && !strings.HasPrefix(resolved, dir) {
			t.Fatalf("symlink %s resolves outside: %s", p, resolved)
		}
		return nil
	})
}

// FuzzExtract: whatever the bytes, extraction never writes outside the
// destination and refusals are ErrUnsafe.
func FuzzExtract(f *testing.F) {
	f.Add(tarball(f, entry{name: "main.tf", typ: tar.TypeReg, body: "terraform {}"}))
	f.Add(tarball(f, entry{name: "../x", typ: tar.TypeReg, body: "x"}))
	f.Add(tarball(f, entry{name: "l", typ: tar.TypeSymlink, link: "a/../.."}))
	f.Add(tarball(f, entry{name: "d", typ: tar.TypeSymlink, link: "."}, entry{name: "d/f", typ: tar.TypeReg, body: "x"}))
	f.Add(tarball(f, entry{name: "f", typ: tar.TypeReg, body: "x"}, entry{name: "h", typ: tar.TypeLink, link: "f"}))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "config")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		lim := Limits{MaxFiles: 50, MaxBytes: 1 << 20}
		if err := Extract(bytes.NewReader(data), dir, lim); err != nil && !errors.Is(err, ErrUnsafe) {
			t.Fatalf("refusal is not ErrUnsafe: %v", err)
		}
		assertContained(t, parent, dir)
	})
}

// Links are resolved against the tree, not by their text: each target below
// reads as staying inside, but the links it passes through take it out.
func TestSymlinkChainsThatLeaveTheTreeAreRefused(t *testing.T) {
	t.Parallel()
	for name, entries := range map[string][]entry{
		"dot then up": {
			{name: "l1", typ: tar.TypeSymlink, link: "."},
			{name: "d/", typ: tar.TypeDir},
			{name: "d/l2", typ: tar.TypeSymlink, link: "../l1/.."},
		},
		"later link": {
			{name: "d/", typ: tar.TypeDir},
			{name: "d/l2", typ: tar.TypeSymlink, link: "../l1/.."},
			{name: "l1", typ: tar.TypeSymlink, link: "."},
		},
		"deep": {
			{name: "a/b/", typ: tar.TypeDir},
			{name: "a/b/up", typ: tar.TypeSymlink, link: "../.."},
			{name: "x", typ: tar.TypeSymlink, link: "a/b/up/.."},
		},
		"loop": {
			{name: "l1", typ: tar.TypeSymlink, link: "l2"},
			{name: "l2", typ: tar.TypeSymlink, link: "l1"},
		},
	} {
		data := tarball(t, entries...)
		if err := Check(bytes.NewReader(data), DefaultLimits); !errors.Is(err, ErrUnsafe) {
			t.Errorf("%s: Check = %v, want ErrUnsafe", name, err)
		}
		if err := Extract(bytes.NewReader(data), t.TempDir(), DefaultLimits); !errors.Is(err, ErrUnsafe) {
			t.Errorf("%s: Extract = %v, want ErrUnsafe", name, err)
		}
	}
	// Chains that stay inside are fine.
	ok := tarball(t,
		entry{name: "a/b/", typ: tar.TypeDir},
		entry{name: "a/b/up", typ: tar.TypeSymlink, link: ".."},
		entry{name: "x", typ: tar.TypeSymlink, link: "a/b/up/b"},
		entry{name: "l1", typ: tar.TypeSymlink, link: "."},
		entry{name: "y", typ: tar.TypeSymlink, link: "l1/a"},
	)
	if err := Check(bytes.NewReader(ok), DefaultLimits); err != nil {
		t.Fatalf("links that stay inside: %v", err)
	}
}

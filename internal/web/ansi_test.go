package web

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestANSIBecomesSpans(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain <b>&":                    "plain &lt;b&gt;&amp;",
		"\x1b[1m\x1b[32mok\x1b[0m done": `<span class="a-b"></span><span class="a-b a-32">ok</span> done`,
		"\x1b[31mred\x1b[39m plain":     `<span class="a-31">red</span> plain`,
		"\x1b[2Kcleared\x1b":            "cleared",
		"\x1b[1;33m+\x1b[0m resource":   `<span class="a-b a-33">+</span> resource`,
		"\x1b[31m<script>\x1b[0m":       `<span class="a-31">&lt;script&gt;</span>`,
		"unfinished \x1b[3":             "unfinished ",
		"\x1b]0;title\x07after":         "]0;title\x07after",
	} {
		if got := ansiHTML(in); got != want {
			t.Errorf("ansiHTML(%q) = %q, want %q", in, got, want)
		}
	}
}

// Whatever bytes a run prints, the HTML has no tag but the spans it opens,
// and every span it opens is closed.
func FuzzANSIHTML(f *testing.F) {
	for _, s := range []string{"\x1b[1m\x1b[32mok\x1b[0m", "<script>alert(1)</script>", "\x1b[", "\x1b[31;1;4m", "a\x1bb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		out := ansiHTML(s)
		rest := strings.NewReplacer(`</span>`, "").Replace(out)
		opens := strings.Count(out, "<span ")
		if opens != strings.Count(out, "</span>") {
			t.Fatalf("unbalanced spans in %q", out)
		}
		for _, tag := range strings.Split(rest, "<")[1:] {
			if !strings.HasPrefix(tag, `span class="a-`) {
				t.Fatalf("a tag the renderer did not make: %q in %q", tag, out)
			}
		}
	})
}

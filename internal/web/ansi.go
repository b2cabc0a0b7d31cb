package web

import (
	"html"
	"strconv"
	"strings"
)

// ansiHTML renders terraform's coloured output as HTML: SGR escapes become
// spans with classes (a-b bold, a-31 … a-37 and a-90 … a-97 colours), every
// other escape is dropped, and the text is escaped.
func ansiHTML(s string) string {
	var b strings.Builder
	bold, color, open := false, 0, false
	closeSpan := func() {
		if open {
			b.WriteString("</span>")
			open = false
		}
	}
	openSpan := func() {
		if !bold && color == 0 {
			return
		}
		var class []string
		if bold {
			class = append(class, "a-b")
		}
		if color != 0 {
			class = append(class, "a-"+strconv.Itoa(color))
		}
		b.WriteString(`<span class="` + strings.Join(class, " ") + `">`)
		open = true
	}
	for len(s) > 0 {
		i := strings.IndexByte(s, 0x1b)
		if i < 0 {
			b.WriteString(html.EscapeString(s))
			break
		}
		b.WriteString(html.EscapeString(s[:i]))
		s = s[i+1:]
		if len(s) == 0 || s[0] != '[' {
			continue // a lone ESC: dropped
		}
		end := strings.IndexFunc(s[1:], func(r rune) bool { return r >= 0x40 && r <= 0x7e })
		if end < 0 {
			break // an unfinished escape at the end
		}
		params, final := s[1:1+end], s[1+end]
		s = s[2+end:]
		if final != 'm' {
			continue
		}
		closeSpan()
		for _, p := range strings.Split(params, ";") {
			n, _ := strconv.Atoi(p) // "" is 0, a reset
			switch {
			case n == 0:
				bold, color = false, 0
			case n == 1:
				bold = true
			case n == 22:
				bold = false
			case n == 39:
				color = 0
			case n >= 30 && n <= 37, n >= 90 && n <= 97:
				color = n
			}
		}
		openSpan()
	}
	closeSpan()
	return b.String()
}

package main

import (
	"fmt"
	"strings"
	"unicode"
)

// A Corefile (CoreDNS's configuration, in Caddy's syntax) is a list of
// server blocks: addresses ("keys") followed by a block of directives, one
// a line, each with its arguments and an optional nested block. The
// parser below reads that syntax: comments (#, at the start of a word, to
// the end of the line), double-quoted and back-quoted words (a quoted word
// may span lines; \" and \\ escape in double quotes), { and } as words of
// their own, and a file of a single server block without braces.
// Environment substitution ({$VAR}, {env.VAR}), import and snippets are
// refused with the line: their values are not in the file.

// corefile is a parsed Corefile.
type corefile struct {
	// name is the file's name, for messages.
	name   string
	blocks []*serverBlock
}

// serverBlock is one server block.
type serverBlock struct {
	keys       []string
	line       int
	directives []*directive
}

// directive is one line of a block with its nested block, if any.
type directive struct {
	name  string
	args  []string
	line  int
	block []*directive
}

// word is one lexical token.
type word struct {
	text   string
	line   int
	quoted bool
}

// is tells whether w is the unquoted punctuation p ("{" or "}").
func (w word) is(p string) bool { return !w.quoted && w.text == p }

// lexCorefile splits text into words.
func lexCorefile(name, text string) ([]word, error) {
	var words []word
	line := 1
	r := []rune(text)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case c == '\n':
			line++
			i++
		case unicode.IsSpace(c):
			i++
		case c == '#':
			for i < len(r) && r[i] != '\n' {
				i++
			}
		case c == '"' || c == '`':
			start := line
			var b strings.Builder
			i++
			for ; i < len(r) && r[i] != c; i++ {
				if c == '"' && r[i] == '\\' && i+1 < len(r) && (r[i+1] == '"' || r[i+1] == '\\') {
					i++
				}
				if r[i] == '\n' {
					line++
				}
				b.WriteRune(r[i])
			}
			if i == len(r) {
				return nil, fmt.Errorf("%s:%d: unterminated quoted word", name, start)
			}
			i++
			words = append(words, word{text: b.String(), line: start, quoted: true})
		default:
			start := i
			for i < len(r) && !unicode.IsSpace(r[i]) && r[i] != '"' && r[i] != '`' {
				i++
			}
			words = append(words, word{text: string(r[start:i]), line: line})
		}
	}
	return words, nil
}

// parseCorefile reads a Corefile's text.
func parseCorefile(name, text string) (*corefile, error) {
	words, err := lexCorefile(name, text)
	if err != nil {
		return nil, err
	}
	for _, w := range words {
		if strings.Contains(w.text, "{$") || strings.Contains(w.text, "{env.") {
			return nil, fmt.Errorf("%s:%d: %q: environment substitution is not supported (replace it with its value first)", name, w.line, w.text)
		}
	}
	p := &corefileParser{name: name, words: words}
	cf := &corefile{name: name}
	for p.more() {
		b, err := p.serverBlock(len(cf.blocks) == 0)
		if err != nil {
			return nil, err
		}
		cf.blocks = append(cf.blocks, b)
	}
	if len(cf.blocks) == 0 {
		return nil, fmt.Errorf("%s: no server block", name)
	}
	return cf, nil
}

type corefileParser struct {
	name  string
	words []word
	pos   int
}

func (p *corefileParser) more() bool { return p.pos < len(p.words) }

func (p *corefileParser) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.name, line, fmt.Sprintf(format, args...))
}

// lineWords returns the words from the current one to the end of its line.
func (p *corefileParser) lineWords() []word {
	start := p.pos
	line := p.words[start].line
	for p.pos < len(p.words) && p.words[p.pos].line == line {
		p.pos++
	}
	return p.words[start:p.pos]
}

// serverBlock reads keys and their block. The first block alone may come
// without braces, taking the whole file.
func (p *corefileParser) serverBlock(first bool) (*serverBlock, error) {
	keyLine := p.words[p.pos]
	if keyLine.is("{") || keyLine.is("}") {
		return nil, p.errorf(keyLine.line, "%q where server block addresses belong", keyLine.text)
	}
	ws := p.lineWords()
	b := &serverBlock{line: keyLine.line}
	open := false
	if last := ws[len(ws)-1]; last.is("{") {
		ws, open = ws[:len(ws)-1], true
	} else if p.more() && p.words[p.pos].is("{") {
		p.pos++
		open = true
	}
	for _, w := range ws {
		if w.is("{") || w.is("}") {
			return nil, p.errorf(w.line, "unexpected %q among the server block addresses", w.text)
		}
		for _, k := range strings.Split(w.text, ",") {
			if k != "" {
				b.keys = append(b.keys, k)
			}
		}
	}
	if len(b.keys) == 0 {
		return nil, p.errorf(keyLine.line, "server block without an address")
	}
	if strings.HasPrefix(b.keys[0], "(") && strings.HasSuffix(b.keys[0], ")") {
		return nil, p.errorf(keyLine.line, "snippet %s: snippets and import are not supported (expand them first)", b.keys[0])
	}
	if !open && !first {
		return nil, p.errorf(keyLine.line, "server block %s: missing {", strings.Join(b.keys, " "))
	}
	var err error
	b.directives, err = p.body(open, keyLine.line)
	return b, err
}

// body reads directives up to the } that closes a block opened on line
// opened, or to the end of the file when closed is false.
func (p *corefileParser) body(closed bool, opened int) ([]*directive, error) {
	var ds []*directive
	for {
		if !p.more() {
			if closed {
				return nil, p.errorf(opened, "the { of this line is never closed")
			}
			return ds, nil
		}
		if p.words[p.pos].is("}") {
			if !closed {
				return nil, p.errorf(p.words[p.pos].line, "unexpected }")
			}
			p.pos++
			return ds, nil
		}
		ws := p.lineWords()
		d := &directive{name: ws[0].text, line: ws[0].line}
		if ws[0].is("{") {
			return nil, p.errorf(d.line, "unexpected {")
		}
		if d.name == "import" {
			return nil, p.errorf(d.line, "import: snippets and import are not supported (expand them first)")
		}
		rest := ws[1:]
		// A } ending the line closes the enclosing block: give it back.
		if n := len(rest); n > 0 && rest[n-1].is("}") {
			rest = rest[:n-1]
			p.pos--
		}
		open := false
		if n := len(rest); n > 0 && rest[n-1].is("{") {
			rest, open = rest[:n-1], true
		}
		for _, w := range rest {
			if w.is("{") || w.is("}") {
				return nil, p.errorf(w.line, "unexpected %q in the middle of a line", w.text)
			}
			d.args = append(d.args, w.text)
		}
		if open {
			var err error
			if d.block, err = p.body(true, d.line); err != nil {
				return nil, err
			}
		}
		ds = append(ds, d)
	}
}

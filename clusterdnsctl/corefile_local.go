package main

import (
	"fmt"
	"net/netip"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/internal/dnsconfig"
)

// readNamed reads a file the Corefile names: from the ConfigMap's data
// when its last path element is a key there, else from this machine,
// relative paths from the block's root directive or the Corefile's
// directory.
func (im *importer) readNamed(b *block, name string) (string, error) {
	if v, ok := im.data[path.Base(name)]; ok {
		return v, nil
	}
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(im.dir, b.rootDir, p)
	}
	data, err := im.readFile(p)
	if err != nil {
		return "", err
	}
	return string(data), nil
}

// hostsDirective maps the hosts plugin: inline entries and those of its
// file, ttl and fallthrough.
func (im *importer) hostsDirective(b *block, d *directive) error {
	h := im.out.Hosts
	if h == nil {
		h = &dnsconfig.Hosts{TTL: seconds(coreDNSHostsTTL)}
		im.out.Hosts = h
	} else {
		im.note(d.line, "hosts", false, "a second hosts directive: its entries are added, its ttl and fallthrough replace the first's")
	}
	if len(d.args) == 0 {
		im.note(d.line, "hosts", false, "the default file is the CoreDNS container's /etc/hosts, which is not imported: name a file to import it")
	} else {
		file := d.args[0]
		text, err := im.readNamed(b, file)
		if err != nil {
			im.note(d.line, joinWords("hosts", file), false, "cannot be read here (%v): its entries are not imported", err)
		} else {
			for i, l := range strings.Split(text, "\n") {
				if before, _, _ := strings.Cut(l, "#"); strings.TrimSpace(before) != "" {
					im.hostsLine(h, fmt.Sprintf("%s line %d", file, i+1), d.line, strings.Fields(before))
				}
			}
		}
		if zones := d.args[1:]; len(zones) > 0 && !(len(zones) == 1 && zones[0] == ".") {
			im.note(d.line, joinWords(append([]string{"hosts", file}, zones...)...), false, "hosts entries are answered for every name, not only in some zones")
		}
	}
	h.Fallthrough = false
	for _, o := range d.block {
		what := joinWords(append([]string{"hosts", o.name}, o.args...)...)
		if _, err := netip.ParseAddr(o.name); err == nil {
			im.hostsLine(h, fmt.Sprintf("%s line %d", im.file, o.line), o.line, append([]string{o.name}, o.args...))
			continue
		}
		switch o.name {
		case "fallthrough":
			h.Fallthrough = true
			if len(o.args) > 0 {
				im.note(o.line, what, false, "the frontend falls through for every name without an entry")
			}
		case "ttl":
			n, err := strconv.Atoi(strings.Join(o.args, " "))
			if err != nil || n < 0 {
				return im.errorf(o.line, "hosts ttl %q: want seconds", strings.Join(o.args, " "))
			}
			if n == 0 {
				im.note(o.line, what, false, "the frontend's hosts TTL is 1s at least: 1s")
				n = 1
			}
			h.TTL = seconds(n)
		case "no_reverse":
			im.note(o.line, what, false, "the frontend always answers PTR for hosts addresses")
		case "reload":
			im.note(o.line, what, false, "the file's entries are copied into the configuration: edit them there (the frontend reloads --config)")
		default:
			im.note(o.line, what, false, "no equivalent in the frontend's hosts")
		}
	}
	if !h.Fallthrough {
		im.note(d.line, "hosts without fallthrough", false,
			"CoreDNS answers NXDOMAIN for every other name of %s; the frontend only for other names in the domains of the entries' names", b.label)
	}
	return nil
}

// hostsLine adds one "ADDRESS NAME..." line; a bad one is noted.
func (im *importer) hostsLine(h *dnsconfig.Hosts, where string, line int, fields []string) {
	addr, err := netip.ParseAddr(fields[0])
	if err != nil || addr.Zone() != "" || len(fields) < 2 {
		im.note(line, "hosts "+where, false, "%q is not an address followed by names: left out", strings.Join(fields, " "))
		return
	}
	var names []string
	for _, n := range fields[1:] {
		if _, ok := dns.IsDomainName(n); !ok {
			im.note(line, "hosts "+where, false, "%q is not a domain name: left out", n)
			continue
		}
		names = append(names, n)
	}
	if len(names) > 0 {
		h.Entries = append(h.Entries, dnsconfig.HostEntry{Addresses: []string{addr.String()}, Names: names})
	}
}

// file maps the file plugin: the zone file becomes a static zone.
func (im *importer) fileDirective(b *block, d *directive) error {
	if len(d.args) == 0 {
		return im.errorf(d.line, "file: want DBFILE [ZONES...]")
	}
	zones := b.zones
	if len(d.args) > 1 {
		zones = nil
		for _, a := range d.args[1:] {
			z, err := normalizeZone(a)
			if err != nil {
				return im.errorf(d.line, "file zone: %v", err)
			}
			zones = append(zones, z)
		}
	}
	what := joinWords("file", d.args[0])
	text, err := im.readNamed(b, d.args[0])
	if err != nil {
		im.note(d.line, what, false, "cannot be read here (%v): zone %s not imported", err, strings.Join(zones, " "))
		return nil
	}
	for _, z := range zones {
		if err := dnsconfig.CheckZone(z, text); err != nil {
			im.note(d.line, what, false, "zone %s not imported: %v", z, err)
			continue
		}
		if im.hasZone(z) {
			im.note(d.line, what, false, "zone %s is already imported", z)
			continue
		}
		im.out.Zones = append(im.out.Zones, dnsconfig.Zone{Origin: trimDot(z), Records: text})
	}
	for _, o := range d.block {
		ow := joinWords(append([]string{"file", o.name}, o.args...)...)
		if o.name == "reload" {
			im.note(o.line, ow, false, "the zone's records are copied into the configuration: edit them there (the frontend reloads --config)")
			continue
		}
		im.note(o.line, ow, false, "no equivalent for static zones")
	}
	return nil
}

func (im *importer) hasZone(origin string) bool {
	for _, z := range im.out.Zones {
		if strings.EqualFold(dns.Fqdn(z.Origin), origin) {
			return true
		}
	}
	return false
}

// rewriteKinds are the name rewrites of CoreDNS the frontend has.
var rewriteKinds = []string{"exact", "prefix", "suffix", "substring", "regex"}

// rewrite maps the rewrite plugin's name rules, on one line or in a block.
func (im *importer) rewrite(b *block, d *directive) error {
	args := d.args
	if len(args) > 0 && (args[0] == "continue" || args[0] == "stop") {
		if args[0] == "continue" {
			im.note(d.line, "rewrite continue", false, "the frontend applies the first rule that matches and stops")
		}
		args = args[1:]
	}
	if !b.root {
		im.note(d.line, joinWords("rewrite", "in", b.label), false, "the frontend's rewrites apply to every name, not only this block's")
	}
	if len(args) > 0 {
		return im.rewriteRule(d.line, args)
	}
	for _, o := range d.block {
		words := append([]string{o.name}, o.args...)
		if o.name == "answer" {
			im.rewriteAnswer(o.line, words)
			continue
		}
		if err := im.rewriteRule(o.line, words); err != nil {
			return err
		}
	}
	return nil
}

// braceGroup is CoreDNS's {N} in a regex replacement.
var braceGroup = regexp.MustCompile(`\{(\d+)\}`)

func (im *importer) rewriteRule(line int, words []string) error {
	what := joinWords(append([]string{"rewrite"}, words...)...)
	if words[0] != "name" {
		im.note(line, joinWords("rewrite", words[0]), false, "only name rewrites are supported")
		return nil
	}
	w := words[1:]
	match := "exact"
	if len(w) > 0 && contains(rewriteKinds, w[0]) {
		match, w = w[0], w[1:]
	}
	if len(w) < 2 {
		return fmt.Errorf("%s:%d: %s: want rewrite name [%s] FROM TO", im.file, line, what, strings.Join(rewriteKinds, "|"))
	}
	from, to := w[0], w[1]
	if match == "regex" {
		if _, err := regexp.Compile(from); err != nil {
			return fmt.Errorf("%s:%d: rewrite name regex %q: %w", im.file, line, from, err)
		}
		to = braceGroup.ReplaceAllString(strings.ReplaceAll(to, "$", "$$"), "$${$1}")
	}
	im.out.Rewrites = append(im.out.Rewrites, dnsconfig.Rewrite{Match: match, From: from, To: to})
	if rest := w[2:]; len(rest) > 0 {
		im.rewriteAnswer(line, rest)
	}
	return nil
}

// rewriteAnswer notes a rule's answer options: auto and name are the
// frontend's behaviour (the asked name is put back on the answers), value
// is not.
func (im *importer) rewriteAnswer(line int, words []string) {
	what := joinWords(append([]string{"rewrite"}, words...)...)
	switch {
	case len(words) >= 2 && words[0] == "answer" && (words[1] == "auto" || words[1] == "name"):
		im.note(line, what, true, "the frontend puts the asked name back on the question and the answers owned by the rewritten name")
	case len(words) >= 2 && words[0] == "answer" && words[1] == "value":
		im.note(line, what, false, "names inside answer data (CNAME, SRV targets) are not rewritten back")
	default:
		im.note(line, what, false, "unknown rewrite option")
	}
}

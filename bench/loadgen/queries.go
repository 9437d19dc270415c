package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/miekg/dns"
)

// Query is one question of a workload.
type Query struct {
	Name string
	Type uint16
}

// ReadQueryFile reads a query file in dnsperf's format (see ParseQueries).
func ReadQueryFile(path string) ([]Query, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loadgen: query file: %w", err)
	}
	defer f.Close()
	qs, err := ParseQueries(f)
	if err != nil {
		return nil, fmt.Errorf("loadgen: query file %s: %w", path, err)
	}
	return qs, nil
}

// ParseQueries reads dnsperf's query format: one "NAME [TYPE]" per line,
// the type A when left out; blank lines and lines starting with ';' or '#'
// are skipped, so one file drives both dnsperf and this generator.
func ParseQueries(r io.Reader) ([]Query, error) {
	var qs []Query
	scanner := bufio.NewScanner(r)
	for line := 1; scanner.Scan(); line++ {
		text := strings.TrimSpace(scanner.Text())
		if text == "" || text[0] == ';' || text[0] == '#' {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) > 2 {
			return nil, fmt.Errorf("line %d: %q: want NAME [TYPE]", line, text)
		}
		q := Query{Name: dns.Fqdn(fields[0]), Type: dns.TypeA}
		if len(fields) == 2 {
			t, ok := dns.StringToType[strings.ToUpper(fields[1])]
			if !ok {
				return nil, fmt.Errorf("line %d: unknown type %q", line, fields[1])
			}
			q.Type = t
		}
		if _, ok := dns.IsDomainName(q.Name); !ok {
			return nil, fmt.Errorf("line %d: bad name %q", line, fields[0])
		}
		qs = append(qs, q)
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("no queries")
	}
	return qs, nil
}

// packed holds every query in wire form, packed once before the run so
// that sending one is a copy and an ID.
type packed struct {
	wire []byte
	// off[i]:off[i+1] is query i in wire.
	off []int
}

// maxQueryLen bounds a packed query: header, a name of at most 255
// octets, type and class.
const maxQueryLen = 12 + 255 + 4

// pack packs queries as glibc's stub resolver sends them: recursion
// desired, no EDNS, ID 0 (set when sent).
func pack(qs []Query) (*packed, error) {
	p := &packed{off: make([]int, 0, len(qs)+1)}
	p.off = append(p.off, 0)
	m := new(dns.Msg)
	buf := make([]byte, maxQueryLen)
	for _, q := range qs {
		m.SetQuestion(q.Name, q.Type)
		m.Id = 0
		wire, err := m.PackBuffer(buf)
		if err != nil {
			return nil, fmt.Errorf("loadgen: pack %s %s: %w", q.Name, dns.TypeToString[q.Type], err)
		}
		p.wire = append(p.wire, wire...)
		p.off = append(p.off, len(p.wire))
	}
	return p, nil
}

// query returns the wire form of query i.
func (p *packed) query(i int) []byte { return p.wire[p.off[i]:p.off[i+1]] }

// len is the number of queries.
func (p *packed) len() int { return len(p.off) - 1 }

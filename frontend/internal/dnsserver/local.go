package dnsserver

import (
	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/frontend/internal/localzone"
	"github.com/clusterdns/clusterdns/frontend/internal/rewrite"
)

// sourceTable marks answers of the hosts entries and static zones.
const sourceTable = "hosts+zones"

// Local is what the handler answers or rewrites before anything else:
// hosts entries and static zones (Table), then question-name rewrites
// (Rewriter). Both are immutable; a configuration reload swaps the whole
// Local with SetLocal, so a query sees either the old pair or the new one.
type Local struct {
	Table    *localzone.Table
	Rewriter *rewrite.Rewriter
}

// active reports whether l would answer or rewrite anything; when it does
// not, the handler skips it (and the hot path stays on).
func (l *Local) active() bool {
	return l != nil && ((l.Table != nil && !l.Table.Empty()) || !l.Rewriter.Empty())
}

// SetLocal replaces the hosts entries, static zones and rewrites; queries
// already being answered finish with the previous ones. Cached answers stay:
// local answers are never cached, and a rewritten name is cached under the
// name it was rewritten to.
func (h *Handler) SetLocal(l *Local) {
	if !l.active() {
		l = nil
	}
	h.local.Store(l)
}

// SetLocal is Handler.SetLocal for the server's handler; it must be called
// after Start.
func (s *Server) SetLocal(l *Local) { s.handler.SetLocal(l) }

// answerLocal answers req from the hosts entries and static zones, or
// resolves it under its rewritten name and gives the answer back the asked
// name. It reports false when neither applies.
func (h *Handler) answerLocal(x *exchange, l *Local) (*dns.Msg, bool) {
	req := x.req
	if m, ok := h.fromTable(x, l, req); ok {
		return m, true
	}
	asked := req.Question[0].Name
	to, ok := l.Rewriter.Rewrite(asked)
	if !ok {
		return nil, false
	}
	// The rewritten question is resolved like any other, cache key
	// included, and may itself be a hosts entry.
	rq := req.Copy()
	rq.Question[0].Name = to
	rx := *x
	rx.req = rq
	m, ok := h.fromTable(&rx, l, rq)
	if !ok {
		m = h.resolve(&rx)
	}
	x.source, x.parts, x.hits, x.stale = rx.source+"+rewrite", rx.parts, rx.hits, rx.stale
	rewrite.Restore(m, asked, to)
	m.Id = req.Id
	m.Question = []dns.Question{req.Question[0]}
	return m, true
}

// fromTable answers req from l's table when it owns the name.
func (h *Handler) fromTable(x *exchange, l *Local, req *dns.Msg) (*dns.Msg, bool) {
	if l.Table == nil {
		return nil, false
	}
	m, ok := l.Table.Answer(req)
	if !ok {
		return nil, false
	}
	x.source = sourceTable
	m.RecursionAvailable = true
	return m, true
}

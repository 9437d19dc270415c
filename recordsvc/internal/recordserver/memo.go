package recordserver

import (
	"sync"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// Answers with many records (a headless Service with thousands of
// endpoints: computing its SRV answer walks every endpoint and port) are
// kept per question while the index stays at the revision they were
// computed at, so a popular large name costs one computation per change.
const (
	// memoEntries bounds the memo; a memoized answer fits one DNS message
	// (dnsschema caps it), so the memo holds at most a few MiB.
	memoEntries = 256
	// memoMinRecords is the size from which an answer is memoized; smaller
	// ones cost less to compute than to look up and keep.
	memoMinRecords = 64
)

// memoKey is a question as asked (answers keep the letter case of the
// question, so case is part of the key).
type memoKey struct {
	name  string
	qtype uint32
}

// answerMemo holds recent large answers by question. A question whose
// answer was memoized before is known to be expensive: when the revision
// moves, concurrent askers of it wait for one computation instead of each
// making its own (a Service with thousands of endpoints changes often, and
// every frontend asks again after each change).
type answerMemo struct {
	max     int
	mu      sync.Mutex
	entries map[memoKey]*clusterdnsv1.LookupResponse
	// pending holds the computations under way of known-expensive
	// questions, closed when done; waiting counts their waiters.
	pending map[memoKey]chan struct{}
	waiting int
}

func newAnswerMemo(max int) *answerMemo {
	return &answerMemo{max: max, entries: make(map[memoKey]*clusterdnsv1.LookupResponse),
		pending: make(map[memoKey]chan struct{})}
}

// worthMemoizing reports whether resp is large and holds for every client
// (an autopath answer holds only for the client that asked, a zone-dependent
// one for its zone).
func worthMemoizing(resp *clusterdnsv1.LookupResponse) bool {
	return resp.GetAutopathNamespace() == "" && !resp.GetZoneDependent() &&
		(resp.GetTruncated() || len(resp.GetAnswer())+len(resp.GetAdditional()) >= memoMinRecords)
}

// answer returns the answer to k at revision: memoized, from a computation
// of it already under way, or from compute (kept when it is large).
func (m *answerMemo) answer(k memoKey, revision uint64, compute func() *clusterdnsv1.LookupResponse) *clusterdnsv1.LookupResponse {
	m.mu.Lock()
	for {
		if resp, ok := m.entries[k]; ok && resp.GetRevision() == revision {
			m.mu.Unlock()
			return resp
		}
		done, busy := m.pending[k]
		if !busy {
			break
		}
		m.waiting++
		m.mu.Unlock()
		<-done
		m.mu.Lock()
		m.waiting--
	}
	var done chan struct{}
	if _, known := m.entries[k]; known {
		done = make(chan struct{})
		m.pending[k] = done
	}
	m.mu.Unlock()

	resp := compute()
	m.mu.Lock()
	defer m.mu.Unlock()
	if worthMemoizing(resp) {
		m.putLocked(k, resp)
	}
	if done != nil {
		delete(m.pending, k)
		close(done)
	}
	return resp
}

// known reports whether the question req is known to be expensive: an
// answer to it is memoized (at any revision) or being computed, so
// answering it may take long or wait for that computation.
func (m *answerMemo) known(req *clusterdnsv1.LookupRequest) bool {
	k := memoKey{name: req.GetName(), qtype: req.GetQtype()}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.entries) == 0 && len(m.pending) == 0 {
		return false
	}
	_, memoized := m.entries[k]
	_, busy := m.pending[k]
	return memoized || busy
}

// get returns the answer to k computed at revision, nil when there is none.
func (m *answerMemo) get(k memoKey, revision uint64) *clusterdnsv1.LookupResponse {
	m.mu.Lock()
	defer m.mu.Unlock()
	if resp, ok := m.entries[k]; ok && resp.GetRevision() == revision {
		return resp
	}
	return nil
}

// putLocked keeps resp as the answer to k. When the memo is full, answers
// of older revisions go first, else an arbitrary one. m.mu must be held.
func (m *answerMemo) putLocked(k memoKey, resp *clusterdnsv1.LookupResponse) {
	if _, ok := m.entries[k]; !ok && len(m.entries) >= m.max {
		m.evictLocked(resp.GetRevision())
	}
	m.entries[k] = resp
}

func (m *answerMemo) evictLocked(current uint64) {
	var victim memoKey
	found := false
	for k, r := range m.entries {
		victim, found = k, true
		if r.GetRevision() != current {
			break
		}
	}
	if found {
		delete(m.entries, victim)
	}
}

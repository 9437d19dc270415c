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

// answerMemo holds recent large answers by question.
type answerMemo struct {
	max     int
	mu      sync.Mutex
	entries map[memoKey]*clusterdnsv1.LookupResponse
}

func newAnswerMemo(max int) *answerMemo {
	return &answerMemo{max: max, entries: make(map[memoKey]*clusterdnsv1.LookupResponse)}
}

// worthMemoizing reports whether resp is large and holds for every client
// (an autopath answer holds only for the client that asked).
func worthMemoizing(resp *clusterdnsv1.LookupResponse) bool {
	return resp.GetAutopathNamespace() == "" &&
		(resp.GetTruncated() || len(resp.GetAnswer())+len(resp.GetAdditional()) >= memoMinRecords)
}

// get returns the answer to k computed at revision, nil when there is none;
// an answer of an earlier revision is dropped.
func (m *answerMemo) get(k memoKey, revision uint64) *clusterdnsv1.LookupResponse {
	m.mu.Lock()
	defer m.mu.Unlock()
	resp, ok := m.entries[k]
	if !ok {
		return nil
	}
	if resp.GetRevision() != revision {
		delete(m.entries, k)
		return nil
	}
	return resp
}

// put keeps resp as the answer to k. When the memo is full, answers of
// older revisions go first, else an arbitrary one.
func (m *answerMemo) put(k memoKey, resp *clusterdnsv1.LookupResponse) {
	m.mu.Lock()
	defer m.mu.Unlock()
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

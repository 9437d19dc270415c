package dnscache

// resumeState is what the cache remembers of the stream that broke, for a
// stream that resumes where it stopped (Resume). Guarded by Cache.mu.
type resumeState struct {
	// ok is true from a Disconnected that ended a followed stream until
	// the next Resume or Resync.
	ok bool
	// epoch is the epoch of that stream: a Resume makes it current again,
	// so the exact entries stored under it are exact again.
	epoch uint64
	// serverID is the server that stream followed.
	serverID string
	// lastEpoch is the newest epoch handed out: epochs are never reused,
	// so that a Fill taken under one epoch can never pass for another.
	lastEpoch uint64
}

// nextEpochLocked returns a new epoch, never current before.
func (c *Cache) nextEpochLocked() uint64 {
	c.resume.lastEpoch = max(c.resume.lastEpoch, c.epoch.Load()) + 1
	return c.resume.lastEpoch
}

// rememberResumeLocked keeps what Resume needs of the stream Disconnected
// ends.
func (c *Cache) rememberResumeLocked() {
	if c.connected {
		c.resume.ok, c.resume.epoch, c.resume.serverID = true, c.epoch.Load(), c.serverID
	}
}

// Resume announces that a Watch stream reopened at serverID's revision
// resumed from the point the broken one had applied: keys are every key
// changed since that point (more may follow as Invalidate calls of the same
// revision). The cluster entries depending on one of them die; the others
// were valid at that point, stay servable, and become exact again (held up
// to ClusterTTL) when they were before the stream broke.
//
// sameServer tells that serverID is the server of the resume point, whose
// revisions continue; the cache also checks that it is the server it
// followed. Then the invalidation marks stay and the keys are marked at
// revision, as by Invalidate. Otherwise the kept entries' revisions belong
// to another process: an invalidation of serverID drops any of them naming
// one of its keys (as if computed at revision 0 of serverID), the marks are
// forgotten, and fills begun before the resume, or computed by serverID
// before revision, are refused.
//
// Without a broken stream to resume (the cache never followed one, or
// follows one now) Resume is a Resync.
func (c *Cache) Resume(serverID string, revision uint64, keys []string, sameServer bool) {
	c.invalidations.Add(1)
	c.mu.Lock()
	if c.connected || !c.resume.ok {
		victims := c.resyncLocked(serverID, revision)
		c.mu.Unlock()
		c.drop(victims)
		return
	}
	var victims []*entry
	c.seq++
	for _, key := range keys {
		// Whatever its revision or server: an entry stored while the stream
		// was down is covered by these keys only.
		for _, e := range c.index.dependents(key) {
			victims = append(victims, e)
			c.kill(e)
		}
	}
	if sameServer && serverID == c.resume.serverID {
		for _, key := range keys {
			m := c.marks[key]
			m.rev = max(m.rev, revision)
			m.seq = c.seq
			c.marks[key] = m
			c.order = append(c.order, keyAt{key: key, seq: c.seq})
		}
		c.forgetOldMarks()
	} else {
		clear(c.marks)
		c.order = nil
		c.floorRev = revision
		c.floorSeq = c.seq
	}
	c.connected = true
	c.serverID = serverID
	c.epoch.Store(c.resume.epoch)
	c.resume.ok = false
	c.mu.Unlock()
	c.drop(victims)
}

package forward

import (
	"bytes"
	"context"
	"os"
	"time"
)

// stubFileState is what the reload loop remembers of Config.StubDomainsFile between polls.
type stubFileState struct {
	data    []byte // content last read, applied or not
	lastErr string // last error logged, so a persisting problem is logged once
}

// reloadLoop polls Config.StubDomainsFile every ReloadInterval until ctx ends.
func (f *Forwarder) reloadLoop(ctx context.Context) {
	t := time.NewTicker(f.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.reloadStubFile()
		}
	}
}

// reloadStubFile reads the stub domains file and installs it when its content changed and parses; on an
// error the routes in effect stay.
func (f *Forwarder) reloadStubFile() {
	name := f.cfg.StubDomainsFile
	data, err := os.ReadFile(name)
	if err != nil {
		f.reloadFailed(err)
		return
	}
	if bytes.Equal(data, f.stubFile.data) {
		return
	}
	f.stubFile.data = data
	stubs, err := parseStubDomainsFile(name, data)
	if err != nil {
		f.reloadFailed(err)
		return
	}
	f.stubFile.lastErr = ""
	f.install(stubs)
	f.log.Info("stub domains reloaded", "file", name, "zones", len(stubs))
}

func (f *Forwarder) reloadFailed(err error) {
	if msg := err.Error(); msg != f.stubFile.lastErr {
		f.stubFile.lastErr = msg
		f.log.Error("stub domains file not applied; keeping the last good one", "err", err)
	}
}

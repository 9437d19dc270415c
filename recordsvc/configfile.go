package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/clusterdns/clusterdns/internal/configwatch"
	"github.com/clusterdns/clusterdns/recordsvc/internal/svcconfig"
)

// configFile is the --config file (package svcconfig's shape): the file
// sets what its fields name, and flags given on the command line override
// it. The file is re-read when its content changes (config_reload.go).
type configFile struct {
	// Path is the file (--config, default none).
	Path string
	// ReloadInterval is how often Path is read for changes
	// (--config-reload-interval, default 0: 2s).
	ReloadInterval time.Duration

	// data is the content read; args is the command line, parsed again
	// with each new content; level is the log level a reload sets (the
	// logger of main reads it).
	data  []byte
	args  []string
	level *slog.LevelVar
}

func registerConfigFlags(fs *flag.FlagSet) *configFile {
	c := &configFile{}
	fs.StringVar(&c.Path, "config", "", "YAML configuration `file`: log level, cluster domain, TTL, pods mode, autopath, zone-aware,\n"+
		"directory limit, nameserver service, query log, policy files, lameduck, healthz bounds and admission limits; re-read when its\n"+
		"content changes (the log level applies at once, the rest at the next start); flags given on the command line override it")
	fs.DurationVar(&c.ReloadInterval, "config-reload-interval", 0, "how often the --config file is read for changes (0: every 2s)")
	return c
}

// parseFlags parses the command line into a config, reading the --config
// file from disk.
func parseFlags(args []string, output io.Writer) (config, error) {
	return parseFlagsFile(args, output, nil)
}

// merge sets every flag the file sets that the command line does not give,
// so that the checks of parseFlagsFile apply to the file's values too. data
// is the file's content; nil reads it from disk.
func (c *configFile) merge(fs *flag.FlagSet, args []string, data []byte) error {
	if c.ReloadInterval < 0 {
		return fmt.Errorf("--config-reload-interval: must not be negative, got %s", c.ReloadInterval)
	}
	if c.Path == "" {
		return nil
	}
	if c.ReloadInterval == 0 {
		c.ReloadInterval = configwatch.DefaultInterval
	}
	if data == nil {
		var err error
		if data, err = os.ReadFile(c.Path); err != nil {
			return fmt.Errorf("--config: %w", err)
		}
	}
	f, err := svcconfig.Parse(data)
	if err != nil {
		return fmt.Errorf("--config %s: %w", c.Path, err)
	}
	c.data, c.args = data, args
	given := make(map[string]bool)
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	for _, s := range f.Settings() {
		if given[s.Flag] {
			continue
		}
		if err := fs.Set(s.Flag, s.Value); err != nil {
			return fmt.Errorf("--config %s: %s: %w", c.Path, s.Field, err)
		}
	}
	return nil
}

// finish returns the file's part of cfg once its level is known: nil
// without --config.
func (c *configFile) finish(level slog.Level) *configFile {
	if c.Path == "" {
		return nil
	}
	c.level = new(slog.LevelVar)
	c.level.Set(level)
	return c
}

// logLevel is what main's logger filters by: the level a --config reload
// may change, else the fixed --log-level.
func (c config) logLevel() slog.Leveler {
	if c.File != nil {
		return c.File.level
	}
	return c.LogLevel
}

// newLogger is the process's logger writing text lines to w.
func newLogger(w io.Writer, cfg config) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: cfg.logLevel()}))
}

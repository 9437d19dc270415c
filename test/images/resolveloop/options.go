package resolveloop

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// Options configure one run; Parse fills them from the command line.
type Options struct {
	Targets  []Target
	Rate     float64       // lookups per second over all names
	Duration time.Duration // the run ends at start + Duration
	Count    int           // at most this many lookups; 0: no count limit
	Workers  int           // lookups in flight at most
	Report   time.Duration // between report lines
	Family   string        // "4", "6" or "any"
}

// Bounds of the options: a run always ends.
const (
	maxDuration = 24 * time.Hour
	maxWorkers  = 256
	maxRate     = 100000
)

// ErrUsage marks a bad command line (exit status 2).
var ErrUsage = errors.New("usage")

// Parse parses the command line (without the program name). Flag errors and
// the usage text go to stderr.
func Parse(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("dnsloop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rate := fs.Float64("rate", 10, "lookups per second over all names")
	duration := fs.Float64("duration", 60, "seconds to run (at most 86400)")
	count := fs.Int("count", 0, "stop after this many lookups (0: no count limit)")
	workers := fs.Int("workers", 8, "lookups in flight at most")
	report := fs.Float64("report", 5, "seconds between report lines")
	family := fs.String("family", "any", "address family: 4, 6 or any")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dnsloop [flags] NAME=EXPECT... (EXPECT: any, NXDOMAIN or ADDR[,ADDR])")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Options{}, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	o := Options{
		Rate:     *rate,
		Duration: time.Duration(*duration * float64(time.Second)),
		Count:    *count,
		Workers:  *workers,
		Report:   time.Duration(*report * float64(time.Second)),
		Family:   *family,
	}
	for _, a := range fs.Args() {
		t, err := ParseTarget(a)
		if err != nil {
			return Options{}, fmt.Errorf("%w: %w", ErrUsage, err)
		}
		o.Targets = append(o.Targets, t)
	}
	if err := o.Validate(); err != nil {
		return Options{}, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return o, nil
}

// Validate checks that the run is bounded and well-formed.
func (o Options) Validate() error {
	switch {
	case len(o.Targets) == 0:
		return errors.New("no NAME=EXPECT given")
	case !(o.Rate > 0 && o.Rate <= maxRate):
		return fmt.Errorf("-rate %v: want 0 < rate <= %d", o.Rate, maxRate)
	case o.Duration <= 0 || o.Duration > maxDuration:
		return fmt.Errorf("-duration %v: want 0 < duration <= %v", o.Duration, maxDuration)
	case o.Count < 0:
		return fmt.Errorf("-count %d: want >= 0", o.Count)
	case o.Workers < 1 || o.Workers > maxWorkers:
		return fmt.Errorf("-workers %d: want 1..%d", o.Workers, maxWorkers)
	case o.Report <= 0:
		return fmt.Errorf("-report %v: want > 0", o.Report)
	case o.Family != "4" && o.Family != "6" && o.Family != "any":
		return fmt.Errorf("-family %q: want 4, 6 or any", o.Family)
	}
	return nil
}

// Command dnsload asks a DNS server the questions of a query file in
// dnsperf's format over UDP and prints what it measured (see package
// loadgen). The flags follow dnsperf's where they mean the same.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"time"

	"github.com/clusterdns/clusterdns/bench/loadgen"
)

func main() {
	if err := run(); err != nil {
		slog.Error("dnsload", "err", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		cfg    loadgen.Config
		file   string
		asJSON bool
	)
	flag.StringVar(&cfg.Server, "s", "127.0.0.1:53", "DNS server, HOST:PORT")
	flag.StringVar(&file, "d", "", "query file, one \"NAME [TYPE]\" per line (dnsperf's format)")
	flag.DurationVar(&cfg.Duration, "l", 10*time.Second, "how long to send queries")
	flag.BoolVar(&cfg.Once, "n", false, "send every query of the file at most once")
	flag.Int64Var(&cfg.MaxQueries, "m", 0, "send at most this many queries (0: no limit besides -l and -n)")
	flag.IntVar(&cfg.Sockets, "c", 4, "UDP sockets")
	flag.IntVar(&cfg.Outstanding, "q", 100, "queries in flight over all sockets")
	flag.IntVar(&cfg.MaxQPS, "Q", 0, "queries per second at most (0: as fast as answered)")
	flag.DurationVar(&cfg.Timeout, "t", 2*time.Second, "time a query waits for its reply before it counts as lost")
	flag.BoolVar(&cfg.NoGSO, "no-gso", false, "send each query on its own instead of runs of equal-length queries as one segmented send (UDP_SEGMENT)")
	flag.BoolVar(&asJSON, "json", false, "print the result as JSON")
	flag.Parse()
	if file == "" {
		return fmt.Errorf("no query file (-d)")
	}
	qs, err := loadgen.ReadQueryFile(file)
	if err != nil {
		return err
	}
	cfg.Queries = qs
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	fmt.Printf("Queries sent:       %d\n", res.Sent)
	fmt.Printf("Queries completed:  %d\n", res.Completed)
	fmt.Printf("Queries lost:       %d\n", res.Lost)
	fmt.Printf("Replies unmatched:  %d\n", res.Mismatched)
	fmt.Printf("Socket errors:      %d\n", res.Errors)
	fmt.Printf("Replies per read:   %.1f (%d recvmmsg), queries per write %.1f (%d sendmmsg)\n",
		float64(res.Completed)/max(float64(res.Reads), 1), res.Reads, float64(res.Sent)/max(float64(res.Writes), 1), res.Writes)
	fmt.Printf("Queries per second: %.0f\n", res.QPS)
	fmt.Printf("Run time (s):       %.3f\n", res.RunTime.Seconds())
	fmt.Printf("Latency avg/p50/p99 (ms): %.3f / %.3f / %.3f\n", ms(res.Avg), ms(res.P50), ms(res.P99))
	fmt.Printf("CPU:                %.3f s, %.0f%% of the wall time\n", res.CPU.Seconds(), 100*res.CPUShare)
	for _, rc := range slices.Sorted(maps.Keys(res.Rcodes)) {
		fmt.Printf("  %-10s %d\n", rc, res.Rcodes[rc])
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

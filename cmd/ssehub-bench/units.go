package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub/bench"
)

// runUnits measures what each unit of a fleet's work costs Redis
// (bench.RunUnits) and prints the table, and with -json writes the JSON.
func runUnits(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const name = "ssehub-bench units"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := bench.UnitsConfig{Pipelines: []int{1, 16}, Conns: []int{10, 100, 1000}, Patterns: []int{0, 10, 100, 1000}, Missed: []int{10, 1000}}
	var jsonOut string
	var quiet bool
	fs.DurationVar(&cfg.Duration, "duration", 3*time.Second, "length of each measurement, after a warm-up of a quarter of it")
	fs.IntVar(&cfg.Rounds, "rounds", 3, "rounds each measurement's duration is split in; per-unit figures are the rounds' median")
	fs.IntVar(&cfg.Payload, "payload", 200, "bytes of each event's data and each PUBLISH's message (about an ssehub envelope)")
	fs.IntVar(&cfg.Publishers, "publishers", 4, "concurrent publishers of the concurrent single-event case")
	fs.IntVar(&cfg.Batch, "batch", 100, "events per Publish call of the batched cases")
	fs.Var((*intList)(&cfg.Pipelines), "pipelines", "PUBLISH commands per round trip in the fanout measurements, comma-separated: each is measured")
	fs.Var((*intList)(&cfg.Conns), "conns", "subscribed connections of the fanout measurements, comma-separated")
	fs.Var((*intList)(&cfg.Patterns), "patterns", "pattern subscriptions of the patterns measurements, comma-separated")
	fs.Var((*intList)(&cfg.Missed), "missed", "events each replay returns in the replay measurements, comma-separated")
	fs.StringVar(&jsonOut, "json", "", "write the report as JSON to this file")
	fs.BoolVar(&quiet, "q", false, "no progress lines on stderr")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if !quiet {
		cfg.Log = stderr
	}
	rep, err := bench.RunUnits(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	rep.Command = strings.Join(append([]string{name}, args...), " ")
	errs := []error{rep.WriteTable(stdout)}
	if jsonOut != "" {
		f, err := os.Create(jsonOut)
		if err == nil {
			err = errors.Join(rep.WriteJSON(f), f.Close())
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// intList is a flag of comma-separated non-negative integers, such as
// "10,100,1000", in the order given.
type intList []int

func (l *intList) String() string {
	if l == nil {
		return ""
	}
	s := make([]string, len(*l))
	for i, n := range *l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return fmt.Errorf("want comma-separated non-negative integers, got %q", v)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

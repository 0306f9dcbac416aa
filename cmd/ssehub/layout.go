package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/transport/redisbroker"
)

// layoutUsage is `ssehub redis-layout --help`.
const layoutUsage = `Usage: ssehub redis-layout [--switch | --finish] [hub flags]

Reads the layout record of the Redis fleet that a hub with these flags (and
the SSEHUB_* environment, or --config file) would join: how many partitions
the fleet publishes in.

With --switch, moves a fleet of the single slot to the hub's
--redis-partitions: run it once every hub of the fleet runs with that count
(docs/fleet-design.md#moving-a-running-fleet-to-partitions). The hubs publish
partitioned within a second. Switching a fleet that has switched to that
count already changes nothing.

With --finish, ends the move once every hub has been restarted again after
the switch: on a Redis Cluster, publishes then stop copying their events to
the classic channels that the hubs started during the move listened on. It
is refused while such a hub still runs.`

// runLayout is `ssehub redis-layout`: it prints the fleet's layout record,
// or, with --switch, switches the fleet to the configured partitions. It
// returns the exit code: 0 done, 1 failed, 2 a usage or configuration
// error.
func runLayout(ctx context.Context, args []string, p procIO) int {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(p.stdout, layoutUsage)
		return 0
	}
	doSwitch, doFinish := slices.Contains(args, "--switch"), slices.Contains(args, "--finish")
	args = slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--switch" || a == "--finish" })
	cfg, err := parseConfig(args, p.lookupEnv, p.stdout)
	switch {
	case answered(err, p):
		return 0
	case err == nil && cfg.RedisURL == "":
		err = errors.New("--redis-url: required: the layout is the Redis fleet's")
	case err == nil && doSwitch && doFinish:
		err = errors.New("--switch and --finish are two steps: run --switch, restart the hubs, then --finish")
	case err == nil && doSwitch && cfg.RedisPartitions < 2:
		err = fmt.Errorf("--switch needs --redis-partitions 2 or more, the count to switch to; got %d", cfg.RedisPartitions)
	}
	if err != nil {
		reportInvalid(p.stderr, "ssehub redis-layout", err)
		return 2
	}
	client, err := redisClient(cfg)
	if err != nil {
		fmt.Fprintf(p.stderr, "ssehub redis-layout: --redis-url: %v\n", err)
		return 2
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	prefix := cfg.RedisPrefix
	if doSwitch || doFinish {
		change, done := redisbroker.FinishLayout, "finished"
		if doSwitch {
			change, done = func(ctx context.Context, c redis.UniversalClient, prefix string) (redisbroker.Layout, error) {
				return redisbroker.SwitchLayout(ctx, c, prefix, cfg.RedisPartitions)
			}, "switched"
		}
		l, err := change(ctx, client, prefix)
		if err != nil {
			fmt.Fprintf(p.stderr, "ssehub redis-layout: %v\n", err)
			return 1
		}
		fmt.Fprintf(p.stdout, "%s: %s\n", done, describeLayout(l))
		return 0
	}
	l, err := redisbroker.ReadLayout(ctx, client, prefix)
	if err != nil {
		fmt.Fprintf(p.stderr, "ssehub redis-layout: %v\n", err)
		return 1
	}
	fmt.Fprintln(p.stdout, describeLayout(l))
	return 0
}

// describeLayout says what a layout record means.
func describeLayout(l redisbroker.Layout) string {
	s := fmt.Sprintf("the fleet publishes in %d partition(s)", l.Partitions)
	switch {
	case !l.Recorded:
		s += " (no record: the single slot, as before partitions)"
	case !l.Switched.IsZero():
		s += fmt.Sprintf(" since it switched from the single slot at %s", l.Switched.UTC().Format(time.RFC3339))
		if l.Finished {
			s += "; the move is finished"
		} else {
			s += "; once every hub has been restarted since, finish the move with --finish"
		}
	}
	return s
}

package redisbroker

import (
	"context"
	"log/slog"
	"strings"
)

// checkMemoryPolicy reads Redis's memory limit and eviction policy and
// logs what they mean for history, which the broker bounds per topic
// (HistorySize, HistoryTTL) but not in total: that bound is Redis's
// maxmemory. Only keys with a TTL may be evicted without harm: a topic's
// stream (a resume into its events then gets a reset: readSince, and the
// publish script when the topic has events again) and idempotency records
// carry one; the id counter, the history origin and the topic index do
// not, and losing the first two makes every resume from before a reset
// (history_lost). A Redis that refuses CONFIG
// (managed services often do) is left unchecked.
func (b *Broker) checkMemoryPolicy(ctx context.Context) {
	vals, err := b.client.ConfigGet(ctx, "maxmemory*").Result()
	if err != nil {
		b.log.Debug("redis memory policy not checked", "err", err)
		return
	}
	maxmemory, policy := vals["maxmemory"], vals["maxmemory-policy"]
	if level, msg := memoryAdvice(maxmemory, policy); msg != "" {
		b.log.Log(ctx, level, msg, "maxmemory", maxmemory, "maxmemory-policy", policy)
	}
}

// memoryAdvice is what checkMemoryPolicy logs for a Redis configuration,
// if anything.
func memoryAdvice(maxmemory, policy string) (slog.Level, string) {
	switch {
	case strings.HasPrefix(policy, "allkeys-"):
		return slog.LevelWarn, "redis may evict the hub's id counter and history origin under memory pressure; " +
			"resumes would then get ssehub.reset (history_lost): set maxmemory-policy volatile-ttl"
	case maxmemory == "0" || maxmemory == "":
		return slog.LevelInfo, "redis has no maxmemory: history is bounded per topic (--history-size, --history-ttl) " +
			"but not in total; set maxmemory with maxmemory-policy volatile-ttl to bound it"
	case policy == "noeviction":
		return slog.LevelInfo, "when redis reaches maxmemory, publishes fail (503 broker_unavailable) until history expires; " +
			"maxmemory-policy volatile-ttl drops the history of the topics idle longest instead"
	}
	return slog.LevelInfo, ""
}

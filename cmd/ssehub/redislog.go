package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// redisLogger routes go-redis's own log lines (pool and pub/sub
// reconnects, Sentinel and Cluster topology changes) through the hub's
// slog logger, so that they follow --log-format and --log-level like every
// other line instead of going to stderr in go-redis's own format.
type redisLogger struct{ log *slog.Logger }

// Printf implements go-redis's internal.Logging. go-redis logs only what
// went wrong or changed, so its lines are warnings.
func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "), "component", "go-redis")
}

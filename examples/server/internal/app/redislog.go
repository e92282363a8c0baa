package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// RedisLog carries the messages go-redis prints by itself (a failed dial
// while Redis is down, a pool that gives up) into a slog.Logger at Warn,
// instead of the standard logger's stderr. A command installs it once, with
// redis.SetLogger(app.RedisLog{Logger: logger}): it is the client library's
// process-wide setting, which App leaves alone.
type RedisLog struct {
	Logger *slog.Logger
}

// Printf logs one go-redis message.
func (l RedisLog) Printf(ctx context.Context, format string, v ...any) {
	if l.Logger == nil {
		return
	}
	l.Logger.WarnContext(ctx, "redis client", "detail", strings.TrimSpace(fmt.Sprintf(format, v...)))
}

package redis

import goredis "github.com/redis/go-redis/v9"

// AddHook adds h to the broker's connection for publishes and
// acknowledgements, for tests that watch its commands.
func AddHook(b *Broker, h goredis.Hook) { b.client.AddHook(h) }

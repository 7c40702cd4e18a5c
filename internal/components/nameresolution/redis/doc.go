// Package redis is the nameresolution.redis registry, for sidecars on
// several machines that share a Redis server. Each app id is a sorted set
// of instance ids scored by expiry plus a hash of their addresses, both
// under one hash tag (so they share a cluster slot) and updated by scripts
// that read Redis's own clock, so machines with skewed clocks agree on
// what has expired. Metadata keys are those of Dapr's Redis components
// (redisHost, redisUsername, redisPassword, redisDB, enableTLS) plus
// keyPrefix, updateInterval and timeout.
//
// It imports only the component registry and the nameresolution interface.
package redis

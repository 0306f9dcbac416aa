package redistest

import "github.com/ssehub/ssehub/internal/keyslot"

// Slot returns the Redis Cluster hash slot of key, as CLUSTER KEYSLOT
// computes it (keyslot.Of): for the slots MasterOf takes.
func Slot(key string) int { return keyslot.Of(key) }

// Package shard is the hub's actor: one goroutine that owns a share of the
// connections, their topic index and the shard's broker subscriptions, and
// fans each message out to its clients' queues without ever blocking.
package shard

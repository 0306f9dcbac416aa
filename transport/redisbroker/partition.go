package redisbroker

import (
	"strconv"

	"github.com/cespare/xxhash/v2"

	"github.com/ssehub/ssehub/internal/keyslot"
)

// MaxPartitions bounds Config.Partitions: a cursor holds a position per
// partition, and every resume by pattern reads each partition's head.
const MaxPartitions = 256

// partition is one of the fleet's partitions (docs/fleet-design.md): a
// Redis Cluster hash slot of its own, holding its own sequence of ids, its
// topic index and the streams of its topics. Partition 0 keeps the names of
// the single-slot layout, so a fleet of one partition is the fleet from
// before partitions.
type partition struct {
	index int
	tag   string // the hash tag, "{prefix}" for partition 0
	slot  int    // the tag's Cluster hash slot

	last   string // the newest id assigned
	origin string // the first id of this history; gone if Redis lost it
	topics string // sorted set: topic -> ms of its newest event
	stream string // prefix of a topic's stream key
	idem   string // prefix of the publish idempotency records
	// publisherIDs prefixes the keys that map a Mercure publisher's id
	// to the event's id (broker.PublisherIDs).
	publisherIDs string
	// shardChannel prefixes a topic's shard channel, in the partition's
	// slot (sharded pub/sub on a Cluster).
	shardChannel string
	// firehose is the shard channel where the publish script also sends
	// each event while patterns (a sorted set of hubs' connections, each
	// scored by when its word expires, in ms) holds a word that has not:
	// a hub's that it follows a pattern (sharded pub/sub). A sorted set
	// with no TTL of its own, so that no volatile-* eviction policy takes
	// it while hubs depend on it.
	firehose, patterns string
}

// newPartitions lays out n partitions of prefix. Partition k > 0 gets the
// tag "{prefix~k~s}" with the smallest s that puts it in slot
// slot(prefix) + k*(16384/n), so that the partitions' slots are spread
// evenly around the slot ring, and a Cluster whose masters hold equal runs
// of slots (what redis-cli --cluster create makes) holds n/masters
// partitions on each master. A prefix cannot contain '~' (ValidatePrefix
// takes only a topic's characters), so no tag names another prefix's keys.
func newPartitions(prefix string, n int) []partition {
	parts := make([]partition, n)
	home := keyslot.Of(prefix)
	step := keyslot.Count / n
	for k := range parts {
		tag := "{" + prefix + "}"
		if k > 0 {
			want := (home + k*step) % keyslot.Count
			for s := 0; ; s++ {
				inner := prefix + "~" + strconv.Itoa(k) + "~" + strconv.Itoa(s)
				if keyslot.Of(inner) == want {
					tag = "{" + inner + "}"
					break
				}
			}
		}
		parts[k] = partition{
			index:        k,
			tag:          tag,
			slot:         keyslot.Of(tag),
			last:         tag + ":last",
			origin:       tag + ":origin",
			topics:       tag + ":topics",
			stream:       tag + ":t:",
			idem:         tag + ":idem:",
			publisherIDs: tag + ":mid:",
			shardChannel: tag + ":s:",
			firehose:     tag + ":all",
			patterns:     tag + ":pattern-hubs",
		}
	}
	return parts
}

// PartitionOf returns the index of the partition, of n, that holds topic
// t: xxhash64(t) mod n.
func PartitionOf(t string, n int) int {
	if n == 1 {
		return 0
	}
	return int(xxhash.Sum64String(t) % uint64(n))
}

//go:build !linux

package shard

// Off Linux there is no peer watch: a departed peer is found by the first
// heartbeat write that fails, within two heartbeat intervals. (kqueue's
// EVFILT_READ with EV_EOF would do on macOS and the BSDs; no deployment
// there has needed it yet.)

// peerWatching: there is no watch, so the loop never runs checkPeers.
const peerWatching = false

// peerWatch watches nothing.
type peerWatch struct{}

func (*peerWatch) watch(*client)   {}
func (*peerWatch) unwatch(*client) {}
func (*peerWatch) wait() int       { return 0 }
func (*peerWatch) close()          {}

// at is never called: wait reports nothing.
func (*peerWatch) at(int) (*client, peerEvent) {
	panic("shard: peer watch on a system without one")
}

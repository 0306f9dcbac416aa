package shard

// Reason says why a stream ended. Every ended stream is counted under exactly
// one reason in Stats.
type Reason uint8

// The reasons a stream ends.
const (
	// ReasonSlow: the client could not keep up: its queue was full and its
	// socket too while the rest of its shard kept up, or it took nothing
	// while its shard waited for it (see "Overload" in the package doc). It
	// reconnects and catches up from history.
	ReasonSlow Reason = iota
	// ReasonWriteFailed: a write failed or hit the write deadline; the peer
	// is gone or stuck.
	ReasonWriteFailed
	// ReasonSubscribeFailed: the broker refused one of the client's
	// subscriptions.
	ReasonSubscribeFailed
	// ReasonReplayFailed: history could not be read for a resume.
	ReasonReplayFailed
	// ReasonShutdown: the hub is shutting down.
	ReasonShutdown
	// ReasonBrokerGap: the broker may have lost messages it could not
	// recover; the client resumes and gets them or a reset.
	ReasonBrokerGap
	// ReasonTokenExpired: the stream's credentials expired; the client
	// reconnects with a fresh token.
	ReasonTokenExpired
	// ReasonDrained: the hub is draining before it stops; the client was
	// told when to reconnect (to another process of the fleet).
	ReasonDrained
	// ReasonPeerClosed: the client closed its end of the connection (or it
	// was reset), noticed by the shard's watch on its socket (peerwatch.go)
	// rather than by a write that failed later.
	ReasonPeerClosed
	// ReasonPeerSentData: the client sent bytes after its request. An SSE
	// client has nothing to send once its GET is made, and bytes no one
	// reads would pile up in the hub's receive buffer, so the stream is
	// ended (see peerwatch.go).
	ReasonPeerSentData

	numReasons
)

var reasonNames = [numReasons]string{
	ReasonSlow:            "slow",
	ReasonWriteFailed:     "write_failed",
	ReasonSubscribeFailed: "subscribe_failed",
	ReasonReplayFailed:    "replay_failed",
	ReasonShutdown:        "shutdown",
	ReasonBrokerGap:       "broker_gap",
	ReasonTokenExpired:    "token_expired",
	ReasonDrained:         "drained",
	ReasonPeerClosed:      "peer_closed",
	ReasonPeerSentData:    "peer_sent_data",
}

// String returns the reason's stable name, as used in metrics.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Reasons lists every Reason, for exporters that label by reason.
func Reasons() []Reason {
	rs := make([]Reason, numReasons)
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}

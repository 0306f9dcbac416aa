package shard_test

import (
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/internal/testenv"
	"github.com/ssehub/ssehub/shard"
)

// A stream ends when its credentials expire (Mercure draft-07 §6.5 "at
// that time", draft-08 §6.6 "no later than"), not at its next heartbeat
// visit: with an 8 s heartbeat, each of three streams ends within a tick
// (0.5 s) before its expiry and not after it (plus scheduling slack),
// and a stream that ends early leaves the others' expiries as they were.
func TestStreamsEndWhenTheirCredentialsExpire(t *testing.T) {
	const tick = 500 * time.Millisecond // Heartbeat / 16
	s, _ := runShard(t, shard.Config{Heartbeat: 16 * tick})
	type end struct {
		i      int
		reason shard.Reason
		at     time.Time
	}
	ended := make(chan end, 4)
	start := time.Now()
	expiries := []time.Duration{1500 * time.Millisecond, 1000 * time.Millisecond, 2500 * time.Millisecond, 2000 * time.Millisecond}
	var leaver interface{ Close() error }
	for i, after := range expiries {
		peer, _ := serveWith(t, s, shard.Stream{Selection: broker.Selection{Topics: []string{"a"}}, Expires: start.Add(after),
			OnEnd: func(r shard.Reason) { ended <- end{i, r, time.Now()} }})
		if i == 3 {
			leaver = peer
		}
	}
	leaver.Close() // the stream expiring at 2 s goes first, on its own
	const slack = 300 * time.Millisecond
	for range expiries {
		e := testenv.Recv(t, "a stream to end", ended)
		if e.i == 3 {
			if e.reason == shard.ReasonTokenExpired {
				t.Errorf("the stream whose peer left ended as %v", e.reason)
			}
			continue
		}
		exp := start.Add(expiries[e.i])
		if e.reason != shard.ReasonTokenExpired || e.at.Before(exp.Add(-tick-slack)) || e.at.After(exp.Add(slack)) {
			t.Errorf("stream %d ended as %v %v after its expiry; want token_expired within %v before it",
				e.i, e.reason, e.at.Sub(exp).Round(time.Millisecond), tick)
		}
	}
}

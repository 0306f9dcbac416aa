package shard

import (
	"time"

	"github.com/ssehub/ssehub/hub/broker"
)

// Observer is told of every message a shard delivered, so that metrics and
// tracing see the fan-out without the shard knowing either. It is called
// once per message per shard, never per recipient: that is what keeps
// observing off the per-recipient hot path.
type Observer interface {
	// Delivered reports that m was queued or written to recipients local
	// streams (at least one), in a fan-out that began at start. It runs on
	// the shard loop: it must be quick and must not block.
	Delivered(m *broker.Message, recipients int, start time.Time)
}

// Observers returns an Observer that calls each non-nil observer in turn,
// or nil if there is none.
func Observers(obs ...Observer) Observer {
	var all multiObserver
	for _, o := range obs {
		if o != nil {
			all = append(all, o)
		}
	}
	switch len(all) {
	case 0:
		return nil
	case 1:
		return all[0]
	}
	return all
}

type multiObserver []Observer

func (m multiObserver) Delivered(msg *broker.Message, recipients int, start time.Time) {
	for _, o := range m {
		o.Delivered(msg, recipients, start)
	}
}

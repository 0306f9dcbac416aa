package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// rawSubscribers are plain pub/sub connections to Redis that stand in for
// hub shards' in RunUnits: each subscribes, then only counts the bytes
// Redis sends it. They speak RESP over a bare socket rather than through
// go-redis, so that what Redis sends can be counted exactly, and so that
// reading costs this process, which shares the machine with Redis, as
// little as it can.
type rawSubscribers struct {
	conns []*rawSubscriber
	wg    sync.WaitGroup // the drain goroutines
}

// rawSubscriber is one connection of rawSubscribers.
type rawSubscriber struct {
	conn net.Conn
	// got counts the bytes received after the subscribe replies; written
	// by the connection's drain goroutine.
	got atomic.Int64
}

// subscribeTimeout bounds dialling one connection and reading its
// subscribe replies.
const subscribeTimeout = 10 * time.Second

// dialSubscribers opens n connections to addr. Connection i sends the
// command subscribe(i) (SUBSCRIBE or PSUBSCRIBE and its channels or
// patterns) and, once it has read every reply, so that the subscriptions
// are active, is drained by a goroutine of its own until Close.
func dialSubscribers(ctx context.Context, addr string, n int, subscribe func(i int) []string) (*rawSubscribers, error) {
	s := &rawSubscribers{}
	for i := range n {
		c, err := dialSubscriber(ctx, addr, subscribe(i))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("subscriber %d of %d: %w", i+1, n, err)
		}
		s.conns = append(s.conns, c)
		s.wg.Go(c.drain)
	}
	return s, nil
}

func dialSubscriber(ctx context.Context, addr string, cmd []string) (*rawSubscriber, error) {
	ctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	want := subscribeReplies(cmd)
	got := make([]byte, len(want))
	err = conn.SetDeadline(deadline)
	if err == nil {
		_, err = conn.Write(appendCommand(nil, cmd))
	}
	if err == nil {
		_, err = io.ReadFull(conn, got)
	}
	if err == nil && !bytes.Equal(got, want) {
		err = fmt.Errorf("%s: reply %.80q, want %.80q", cmd[0], got, want)
	}
	if err == nil {
		err = conn.SetDeadline(time.Time{})
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &rawSubscriber{conn: conn}, nil
}

// drain reads until the connection is closed, counting what it reads.
func (c *rawSubscriber) drain() {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.conn.Read(buf)
		c.got.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// Close closes every connection and waits for their drain goroutines.
func (s *rawSubscribers) Close() {
	for _, c := range s.conns {
		c.conn.Close()
	}
	s.wg.Wait()
}

// waitReceived waits until connection i has received at least want(i)
// bytes, for every i, or ctx is done. It polls: its waits end a
// measurement, or hold back a publisher that is far ahead, so a
// millisecond more or less is of no account, and polling keeps the drain
// loops free of any signalling.
func (s *rawSubscribers) waitReceived(ctx context.Context, want func(i int) int64) error {
	for i := 0; i < len(s.conns); {
		if s.conns[i].got.Load() >= want(i) {
			i++
			continue
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("subscriber %d received %d bytes, want %d: %w", i, s.conns[i].got.Load(), want(i), ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// appendCommand appends cmd as a RESP array of bulk strings, the form
// Redis reads every command in.
func appendCommand(dst []byte, cmd []string) []byte {
	dst = appendRESPHeader(dst, '*', len(cmd))
	for _, arg := range cmd {
		dst = appendBulk(dst, arg)
	}
	return dst
}

// subscribeReplies is what Redis answers cmd, SUBSCRIBE or PSUBSCRIBE on a
// new connection, in RESP2: one reply per channel or pattern, with the
// connection's count of subscriptions so far.
func subscribeReplies(cmd []string) []byte {
	var b []byte
	kind := map[string]string{"SUBSCRIBE": "subscribe", "PSUBSCRIBE": "psubscribe"}[cmd[0]]
	for i, name := range cmd[1:] {
		b = appendRESPHeader(b, '*', 3)
		b = appendBulk(b, kind)
		b = appendBulk(b, name)
		b = appendRESPHeader(b, ':', i+1)
	}
	return b
}

// messageFrame is what a subscriber of channel receives for a PUBLISH of
// payload to it, in RESP2.
func messageFrame(channel, payload string) []byte {
	b := appendRESPHeader(nil, '*', 3)
	b = appendBulk(b, "message")
	b = appendBulk(b, channel)
	return appendBulk(b, payload)
}

// pmessageFrame is what a subscriber of pattern receives for a PUBLISH of
// payload to a channel it matches, in RESP2.
func pmessageFrame(pattern, channel, payload string) []byte {
	b := appendRESPHeader(nil, '*', 4)
	b = appendBulk(b, "pmessage")
	b = appendBulk(b, pattern)
	b = appendBulk(b, channel)
	return appendBulk(b, payload)
}

// appendRESPHeader appends a RESP line of type kind ('*' array, '$' bulk
// string, ':' integer) and value n.
func appendRESPHeader(dst []byte, kind byte, n int) []byte {
	dst = append(dst, kind)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

// appendBulk appends s as a RESP bulk string.
func appendBulk(dst []byte, s string) []byte {
	dst = appendRESPHeader(dst, '$', len(s))
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

package handlers

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// LimitConns wraps a listener so that one client holds at most max
// connections open at once (0: no cap); the next is answered 429 and
// closed. Timeouts bound how long one connection lasts, not how many a
// client opens. A client is an IPv4 address or an IPv6 /64 (what one host
// is usually given). Connections from the trusted proxies, which carry
// everyone's requests, are not counted.
func LimitConns(l net.Listener, max int, trusted []netip.Prefix, log *slog.Logger) net.Listener {
	if max <= 0 {
		return l
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &connLimiter{Listener: l, max: max, trusted: trusted, log: log, open: map[netip.Prefix]int{}}
}

type connLimiter struct {
	net.Listener
	max     int
	trusted []netip.Prefix
	log     *slog.Logger

	mu       sync.Mutex
	open     map[netip.Prefix]int // client -> open connections
	loggedAt time.Time            // last refusal logged (at most one a minute)
}

// Accept returns the next connection within its client's cap; the others
// are refused on the side.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil || inPrefixes(l.trusted, ap.Addr()) {
			return c, nil
		}
		client := clientOf(ap.Addr())
		l.mu.Lock()
		if l.open[client] >= l.max {
			logIt := time.Since(l.loggedAt) > time.Minute
			if logIt {
				l.loggedAt = time.Now()
			}
			l.mu.Unlock()
			if logIt {
				l.log.Warn("connection refused: too many open from one client (--max-conns-per-client; logged once a minute)",
					"client", clientName(client), "max", l.max)
			}
			go l.refuse(c, client)
			continue
		}
		l.open[client]++
		l.mu.Unlock()
		return &countedConn{Conn: c, done: sync.OnceFunc(func() { l.release(client) })}, nil
	}
}

func (l *connLimiter) release(client netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[client]--; l.open[client] <= 0 {
		delete(l.open, client)
	}
}

// refuse answers 429 on a connection over the cap and closes it: the
// answer first, then the write side, then whatever the client sent is read
// until it closes, so the client gets the answer rather than a reset.
func (l *connLimiter) refuse(c net.Conn, client netip.Prefix) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	msg := fmt.Sprintf("too many open connections from %s (at most %d; the server's --max-conns-per-client)\n", clientName(client), l.max)
	fmt.Fprintf(c, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\n"+
		"Connection: close\r\nContent-Length: %d\r\n\r\n%s", len(msg), msg)
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 1<<16))
}

// clientOf is the client an address counts for: itself (IPv4) or its /64.
func clientOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// clientName is an IPv4 client's address, an IPv6 client's /64.
func clientName(p netip.Prefix) string {
	if p.Addr().Is4() {
		return p.Addr().String()
	}
	return p.String()
}

// countedConn gives its client's place back when closed.
type countedConn struct {
	net.Conn
	done func()
}

func (c *countedConn) Close() error {
	c.done()
	return c.Conn.Close()
}

// CloseWrite lets the HTTP server half-close, as it does on a bare TCP
// connection before closing one whose request it did not read to the end.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

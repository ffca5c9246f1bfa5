package pgtest

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
)

// Proxy forwards TCP to a database and fails on command, the way networks do:
//   - Refuse: the listener closes and every connection is cut (a host that went away);
//   - Blackhole: every connection, open or new, stays up but nothing passes in either direction
//     (a firewall that drops packets);
//   - Heal: forwarding resumes on the same address; connections that were black-holed are cut,
//     as their TCP timeouts would eventually do.
type Proxy struct {
	target string
	addr   string

	silent atomic.Bool
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool // value: touched by the black hole
}

// NewProxy listens on a free loopback port and forwards every connection to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.serve(ln)
	return p, nil
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.track(c, p.silent.Load())
			if p.silent.Load() {
				go p.pipe(c, nil)
				continue
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				p.closeConn(c)
				continue
			}
			p.track(up, false)
			go p.pipe(c, up)
			go p.pipe(up, c)
		}
	}()
}

func (p *Proxy) track(c net.Conn, touched bool) {
	p.mu.Lock()
	p.conns[c] = touched
	p.mu.Unlock()
}

func (p *Proxy) closeConn(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// pipe copies from src to dst while the network is up, and swallows what src sends while it is
// black-holed (dst nil: a connection accepted during the black hole, never forwarded).
func (p *Proxy) pipe(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if dst == nil || p.silent.Load() {
				p.mu.Lock()
				if _, ok := p.conns[src]; ok {
					p.conns[src] = true
				}
				p.mu.Unlock()
			} else if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			p.closeConn(src)
			if dst != nil {
				p.closeConn(dst)
			}
			return
		}
	}
}

// Refuse closes the listener and cuts every connection.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Blackhole stops every byte in both directions, keeping connections open.
func (p *Proxy) Blackhole() { p.silent.Store(true) }

// Heal resumes forwarding on the same address.
func (p *Proxy) Heal() error {
	p.silent.Store(false)
	p.mu.Lock()
	for c, touched := range p.conns {
		if touched {
			c.Close()
			delete(p.conns, c)
		}
	}
	listening := p.ln != nil
	p.mu.Unlock()
	if listening {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("proxy: listen again on %s: %w", p.addr, err)
	}
	p.serve(ln)
	return nil
}

// Close stops the proxy: the listener and every connection are closed.
func (p *Proxy) Close() { p.Refuse() }

// Addr is the address the proxy listens on (and listens on again after Heal).
func (p *Proxy) Addr() string { return p.addr }

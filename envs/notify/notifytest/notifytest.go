// Package notifytest runs real receivers for notification tests: an SMTP
// server (go-smtp, plain or STARTTLS with a test certificate) that parses
// what it receives (go-message), and an HTTP webhook receiver that
// verifies Standard Webhooks signatures with the library's verifier.
package notifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Mail is one message the SMTP server received.
type Mail struct {
	From, To string
	Subject  string
	Body     string
	Header   mail.Header
	TLS      bool // received over STARTTLS
	User     string
}

// SMTPServer is a real SMTP server on a loopback port.
type SMTPServer struct {
	Host string
	Port int
	// Roots trusts the server's certificate (STARTTLS).
	Roots *x509.CertPool

	mu    sync.Mutex
	mails []Mail
	got   chan struct{}
}

// StartSMTP starts an SMTP server until the test ends; withTLS offers
// STARTTLS with a fresh certificate for 127.0.0.1; user and password, when
// set, are required (AUTH PLAIN).
func StartSMTP(t testing.TB, withTLS bool, user, password string) *SMTPServer {
	t.Helper()
	return startSMTP(t, withTLS, false, user, password)
}

// StartSMTPTLS starts an SMTP server that speaks TLS from the first byte
// (as on port 465), with a fresh certificate for 127.0.0.1.
func StartSMTPTLS(t testing.TB) *SMTPServer {
	t.Helper()
	return startSMTP(t, true, true, "", "")
}

func startSMTP(t testing.TB, withTLS, implicit bool, user, password string) *SMTPServer {
	t.Helper()
	s := &SMTPServer{got: make(chan struct{}, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c, user: user, password: password}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.AllowInsecureAuth = !withTLS
	if withTLS {
		cert, pool := testCert(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.Roots = pool
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	if implicit {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	s.Host, s.Port = "127.0.0.1", addr.Port
	return s
}

// Mails is what was received so far.
func (s *SMTPServer) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Wait waits (up to d) for n messages and returns them.
func (s *SMTPServer) Wait(t testing.TB, n int, d time.Duration) []Mail {
	t.Helper()
	timeout := time.After(d)
	for {
		if m := s.Mails(); len(m) >= n {
			return m
		}
		select {
		case <-s.got:
		case <-timeout:
			t.Fatalf("smtp: %d messages, want %d: %+v", len(s.Mails()), n, s.Mails())
		}
	}
}

type session struct {
	s              *SMTPServer
	conn           *smtp.Conn
	user, password string
	authed         string
	from, to       string
}

func (x *session) AuthMechanisms() []string {
	if x.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user != x.user || password != x.password {
			return errors.New("invalid credentials")
		}
		x.authed = user
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.user != "" && x.authed == "" {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error { x.to = to; return nil }

func (x *session) Data(r io.Reader) error {
	mr, err := mail.CreateReader(r)
	if err != nil {
		return err
	}
	subject, _ := mr.Header.Subject()
	var body strings.Builder
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(p.Body)
		body.Write(b)
	}
	_, isTLS := x.conn.TLSConnectionState()
	x.s.mu.Lock()
	x.s.mails = append(x.s.mails, Mail{From: x.from, To: x.to, Subject: subject, Body: body.String(),
		Header: mr.Header, TLS: isTLS, User: x.authed})
	x.s.mu.Unlock()
	x.s.got <- struct{}{}
	return nil
}

func (x *session) Reset()        {}
func (x *session) Logout() error { return nil }

// testCert is a self-signed certificate for 127.0.0.1 and a pool that
// trusts it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mayfly test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// Delivery is one request a webhook receiver accepted.
type Delivery struct {
	ID      string // webhook-id
	Body    []byte
	Payload map[string]any
}

// Receiver is an HTTP webhook receiver. With a secret it verifies each
// request's Standard Webhooks signature (refusing, 401, what does not
// verify); it answers with Status (default 200) and counts what it
// accepted.
type Receiver struct {
	URL string

	mu       sync.Mutex
	verifier *standardwebhooks.Webhook
	status   int
	hang     chan struct{}
	accepted []Delivery
	refused  int
	requests int
	got      chan struct{}
}

// StartReceiver starts a receiver until the test ends; secret "" accepts
// unsigned requests (a Slack-style webhook).
func StartReceiver(t testing.TB, secret string) *Receiver {
	t.Helper()
	r := &Receiver{status: http.StatusOK, got: make(chan struct{}, 1000)}
	if secret != "" {
		v, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		r.verifier = v
	}
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		r.mu.Lock()
		if r.hang != nil {
			close(r.hang)
			r.hang = nil
		}
		r.mu.Unlock()
		srv.Close()
	})
	r.URL = srv.URL
	return r
}

// AnswerWith makes the receiver answer status from now on.
func (r *Receiver) AnswerWith(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
}

// Hang makes the receiver never answer (until the test ends).
func (r *Receiver) Hang() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hang = make(chan struct{})
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.requests++
	hang, status, v := r.hang, r.status, r.verifier
	r.mu.Unlock()
	defer func() { r.got <- struct{}{} }()
	if hang != nil {
		select {
		case <-hang:
		case <-req.Context().Done():
		}
		return
	}
	if v != nil {
		if err := v.Verify(body, req.Header); err != nil {
			r.mu.Lock()
			r.refused++
			r.mu.Unlock()
			http.Error(w, "signature: "+err.Error(), http.StatusUnauthorized)
			return
		}
	}
	if status != http.StatusOK {
		http.Error(w, "receiver says no", status)
		return
	}
	d := Delivery{ID: req.Header.Get("webhook-id"), Body: body}
	_ = json.Unmarshal(body, &d.Payload)
	r.mu.Lock()
	r.accepted = append(r.accepted, d)
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// Accepted is what the receiver accepted so far.
func (r *Receiver) Accepted() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.accepted...)
}

// Requests counts every request, accepted or not; Refused those whose
// signature did not verify.
func (r *Receiver) Requests() (all, refused int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, r.refused
}

// Wait waits (up to d) until n requests were accepted and returns them.
func (r *Receiver) Wait(t testing.TB, n int, d time.Duration) []Delivery {
	t.Helper()
	timeout := time.After(d)
	for {
		if a := r.Accepted(); len(a) >= n {
			return a
		}
		select {
		case <-r.got:
		case <-timeout:
			all, refused := r.Requests()
			t.Fatalf("webhook receiver: %d accepted (%d requests, %d refused signatures), want %d", len(r.Accepted()), all, refused, n)
		}
	}
}

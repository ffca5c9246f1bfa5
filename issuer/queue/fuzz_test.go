package queue

import (
	"testing"
	"time"
)

// FuzzCookies: whatever a client puts in the cookies, checking them neither panics nor accepts
// anything but a ticket or pass the queue signed itself (which seals back to the same value).
func FuzzCookies(f *testing.F) {
	c := start()
	q, err := New(Config{Rate: 10, Burst: 1, Key: testKey, Store: newLine(), Clock: c.now})
	if err != nil {
		f.Fatal(err)
	}
	bindRaw := make([]byte, bindingBytes)
	bind := bindingHash(bindRaw)
	tk := q.sealTicket(ticket{number: 7, issued: c.now(), admitAt: c.now().Add(time.Second), bind: bind})
	ps := q.sealPass(pass{number: 7, until: c.now().Add(time.Minute), bind: bind})
	f.Add(tk, ps, "AAAAAAAAAAAAAAAAAAAAAA")
	f.Add(tk[:len(tk)-1]+"A", ps[1:], "")
	f.Add("", "", "not base64!")
	f.Add("AQ", "AQ", "AAAAAAAAAAAAAAAAAAAAAA==")
	f.Fuzz(func(t *testing.T, ticketValue, passValue, binding string) {
		h, _ := parseBinding(binding)
		if got, r := q.openTicket(ticketValue, h, c.now()); r == NotRefused {
			if again := q.sealTicket(got); again != ticketValue {
				t.Fatalf("accepted ticket %q is not one the queue sealed (%q)", ticketValue, again)
			}
		}
		if got, r := q.openPass(passValue, h, c.now()); r == NotRefused {
			if again := q.sealPass(got); again != passValue {
				t.Fatalf("accepted pass %q is not one the queue sealed (%q)", passValue, again)
			}
		}
		if _, err := q.Enter(t.Context(), Visitor{Binding: binding, Ticket: ticketValue, Pass: passValue}); err != nil {
			t.Fatalf("Enter: %v", err)
		}
	})
}

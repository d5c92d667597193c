package envs

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

func TestNotifyBackoff(t *testing.T) {
	cases := []struct {
		attempt int
		want    time.Duration
	}{
		{1, 2 * time.Second},
		{2, 4 * time.Second},
		{3, 8 * time.Second},
		{6, 64 * time.Second},
		{40, time.Hour},
	}
	for _, c := range cases {
		if got := notifyBackoff(2*time.Second, c.attempt); got != c.want {
			t.Errorf("attempt %d: %s, want %s", c.attempt, got, c.want)
		}
	}
}

func TestHears(t *testing.T) {
	cases := []struct {
		events string
		ev     NoticeEvent
		want   bool
	}{
		{"", NoticeDrift, true},
		{"environment.ready,environment.drift", NoticeDrift, true},
		{"environment.ready", NoticeDrift, false},
		{"environment.ready", NoticeReady, true},
	}
	for _, c := range cases {
		if got := hears(c.events, c.ev); got != c.want {
			t.Errorf("hears(%q, %s) = %v, want %v", c.events, c.ev, got, c.want)
		}
	}
}

// TestChannelSecretIsResealed: a channel's secret sealed with the old key
// opens with the new key alone after ResealSecrets.
func TestChannelSecretIsResealed(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	keyA, keyB := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	service := func(key []byte, previous ...[]byte) *Service {
		t.Helper()
		c, err := NewCipher(key, previous...)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(Config{Store: db, Cipher: c})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const slackURL = "https://hooks.slack.example/services/T/B/secret-part"
	ch, _, err := service(keyA).AddNotifyChannel(ctx, Actor{Name: "a", UserID: "usr-a", Role: RoleMember},
		ChannelRequest{Kind: ChannelSlack, URL: slackURL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := service(keyB, keyA).ResealSecrets(ctx); err != nil {
		t.Fatal(err)
	}
	row, err := db.NotifyChannel(ctx, ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := service(keyB).channelSecret(row)
	if err != nil || got != slackURL {
		t.Errorf("secret with the new key alone: %q, %v", got, err)
	}
}

// The deciders of an approval request, as the fan-out resolves them from
// the users: administrators (the local one too), for a team's limit the
// team's authors and admins; never the requester, by id or, for a request
// without one, by name; nobody the identity provider refused.
func TestApprovers(t *testing.T) {
	users := []storage.User{
		{ID: "usr-ada", Issuer: "https://idp", Subject: "ada", Email: "ada@example.com", Role: "admin"},
		{ID: "usr-local", Issuer: LocalIssuer, Subject: LocalSubject, Role: "admin"},
		{ID: "usr-paula", Issuer: "https://idp", Subject: "paula", Email: "paula@example.com", Role: "author", Teams: "pay"},
		{ID: "usr-pete", Issuer: "https://idp", Subject: "pete", Email: "pete@example.com", Role: "author", Teams: "ops,pay"},
		{ID: "usr-ann", Issuer: "https://idp", Subject: "ann", Email: "ann@example.com", Role: "member", Teams: "pay"},
		{ID: "usr-olga", Issuer: "https://idp", Subject: "olga", Email: "olga@example.com", Role: "author", Teams: "ops"},
		{ID: "usr-gone", Issuer: "https://idp", Subject: "gone", Email: "gone@example.com", Role: "admin", CheckResult: CheckRefused},
	}
	cases := []struct {
		name string
		a    NoticeApprovers
		want []string
	}{
		{"a user's limit: the administrators", NoticeApprovers{RequesterID: "usr-ann", RequesterName: "ann@example.com"},
			[]string{"usr-ada", "usr-local"}},
		{"a team's limit: the administrators and the team's admins", NoticeApprovers{Team: "pay", RequesterID: "usr-ann"},
			[]string{"usr-ada", "usr-local", "usr-paula", "usr-pete"}},
		{"never the requester", NoticeApprovers{Team: "pay", RequesterID: "usr-paula"},
			[]string{"usr-ada", "usr-local", "usr-pete"}},
		{"an administrator asking: the other administrators", NoticeApprovers{RequesterID: "usr-ada"},
			[]string{"usr-local"}},
		{"a requester without an id, by name", NoticeApprovers{Team: "pay", RequesterName: "pete@example.com"},
			[]string{"usr-ada", "usr-local", "usr-paula"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := approvers(users, c.a); !slices.Equal(got, c.want) {
				t.Errorf("approvers %v, want %v", got, c.want)
			}
		})
	}
}

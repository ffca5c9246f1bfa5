package setup

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsRunWithNothingSet(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.DataDir != "./data" || c.DatabaseURL != "" || c.MaxTestAge != 72*time.Hour {
		t.Errorf("defaults %+v", c)
	}
	if c.IssueConcurrency != 3*runtime.GOMAXPROCS(0) || c.IssueQueue != 4*c.IssueConcurrency ||
		c.IssuePerCredential != max(1, c.IssueConcurrency-max(1, c.IssueConcurrency/4)) {
		t.Errorf("admission defaults %d/%d/%d", c.IssueConcurrency, c.IssueQueue, c.IssuePerCredential)
	}
}

func TestEveryBadVariableIsNamed(t *testing.T) {
	_, err := FromEnv(env(map[string]string{
		"DCC_LOG_FORMAT":        "xml",
		"DCC_MAX_TEST_AGE":      "three days",
		"DCC_ISSUE_CONCURRENCY": "0",
		"DCC_PROVIDER_RATE":     "fast",
		"DCC_UVCI_PREFIX":       "dcc/1",
		"DCC_REGISTER_URL":      "http://127.0.0.1:8090",
		"DCC_REGISTER_TIMEOUT":  "soon",
		"DCC_TEST_VALIDITY":     "0s",
		"DCC_TRUSTED_PROXIES":   "192.0.2.0/24, proxy.example",
	}))
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, name := range []string{"DCC_LOG_FORMAT", "DCC_MAX_TEST_AGE", "DCC_ISSUE_CONCURRENCY", "DCC_PROVIDER_RATE", "DCC_UVCI_PREFIX", "DCC_REGISTER_TIMEOUT", "DCC_TEST_VALIDITY", "DCC_TRUSTED_PROXIES"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestRegisterSettings(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"DCC_REGISTER_URL": "http://127.0.0.1:8090", "DCC_REGISTER_BUDGET": "1500ms"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.RegisterURL != "http://127.0.0.1:8090" || c.Register.Budget != 1500*time.Millisecond {
		t.Errorf("register settings %+v", c.Register)
	}
}

func TestDatabaseReadURL(t *testing.T) {
	env := map[string]string{"DATABASE_READ_URL": "postgres://h1,h2/dcc?target_session_attrs=prefer-standby"}
	if _, err := FromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "DATABASE_READ_URL needs DATABASE_URL") {
		t.Errorf("read URL without DATABASE_URL: %v", err)
	}
	env["DATABASE_URL"] = "postgres://h1,h2/dcc?target_session_attrs=read-write"
	c, err := FromEnv(func(k string) string { return env[k] })
	if err != nil || c.DatabaseReadURL != env["DATABASE_READ_URL"] {
		t.Errorf("FromEnv = %q, %v", c.DatabaseReadURL, err)
	}
}

func TestAuditRetention(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil || c.AuditRetention != 0 {
		t.Fatalf("default audit retention %s, %v; want 0 (keep)", c.AuditRetention, err)
	}
	c, err = FromEnv(env(map[string]string{"DCC_AUDIT_RETENTION": "17520h"}))
	if err != nil || c.AuditRetention != 2*365*24*time.Hour {
		t.Errorf("DCC_AUDIT_RETENTION=17520h: %s, %v", c.AuditRetention, err)
	}
	for _, bad := range []string{"-1h", "24h", "two years"} {
		if _, err := FromEnv(env(map[string]string{"DCC_AUDIT_RETENTION": bad})); err == nil || !strings.Contains(err.Error(), "DCC_AUDIT_RETENTION") {
			t.Errorf("DCC_AUDIT_RETENTION=%s: %v", bad, err)
		}
	}
}

func TestCitizenSettings(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.CitizenService || c.OIDCIssuer != "http://127.0.0.1:8091" || c.OIDCAudience != "dcc-citizen" || c.OIDCClientID != "dcc-web" ||
		c.OIDCPNRClaim != "https://id.oidc.se/claim/personalIdentityNumber" || c.CitizenQueue != 4*c.CitizenConcurrency {
		t.Errorf("citizen defaults %+v", c)
	}
	c, err = FromEnv(env(map[string]string{"DCC_OIDC_ISSUER": "https://idp.example.se", "DCC_OIDC_PNR_CLAIM": "pnr",
		"DCC_CITIZEN_SERVICE": "false", "DCC_CITIZEN_CONCURRENCY": "3"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.CitizenService || c.OIDCIssuer != "https://idp.example.se" || c.OIDCPNRClaim != "pnr" || c.CitizenConcurrency != 3 || c.CitizenQueue != 12 {
		t.Errorf("citizen settings %+v", c)
	}
	_, err = FromEnv(env(map[string]string{"DCC_OIDC_ISSUER": "idp.example.se", "DCC_CITIZEN_SERVICE": "maybe",
		"DCC_SESSION_TTL": "1s", "DCC_PUBLIC_URL": "ftp://x"}))
	for _, name := range []string{"DCC_OIDC_ISSUER", "DCC_CITIZEN_SERVICE", "DCC_SESSION_TTL", "DCC_PUBLIC_URL"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestQueueSettings(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.QueueRate != 0 || c.QueueBurst != 0 || c.QueueAdmitTTL != 10*time.Minute || c.QueueGrace != 10*time.Minute ||
		c.QueueAddressRate != 20 || c.QueueAddressBurst != 200 {
		t.Errorf("queue defaults: rate %v burst %d admission %s grace %s", c.QueueRate, c.QueueBurst, c.QueueAdmitTTL, c.QueueGrace)
	}
	c, err = FromEnv(env(map[string]string{"DCC_QUEUE_RATE": "250.5", "DCC_QUEUE_BURST": "40",
		"DCC_QUEUE_ADMIT_TTL": "15m", "DCC_QUEUE_GRACE": "20m", "DCC_QUEUE_ADDRESS_RATE": "0", "DCC_QUEUE_ADDRESS_BURST": "5"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.QueueRate != 250.5 || c.QueueBurst != 40 || c.QueueAdmitTTL != 15*time.Minute || c.QueueGrace != 20*time.Minute ||
		c.QueueAddressRate != 0 || c.QueueAddressBurst != 5 {
		t.Errorf("queue settings: rate %v burst %d admission %s grace %s", c.QueueRate, c.QueueBurst, c.QueueAdmitTTL, c.QueueGrace)
	}
	_, err = FromEnv(env(map[string]string{"DCC_QUEUE_RATE": "-1", "DCC_QUEUE_BURST": "x", "DCC_QUEUE_ADMIT_TTL": "soon",
		"DCC_QUEUE_ADDRESS_RATE": "many", "DCC_QUEUE_ADDRESS_BURST": "0"}))
	for _, name := range []string{"DCC_QUEUE_RATE", "DCC_QUEUE_BURST", "DCC_QUEUE_ADMIT_TTL", "DCC_QUEUE_ADDRESS_RATE", "DCC_QUEUE_ADDRESS_BURST"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

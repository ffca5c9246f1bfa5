package httpregister

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variables read by OptionsFromEnv; docs/register-api.md describes each.
const (
	EnvURL             = "DCC_REGISTER_URL"
	EnvToken           = "DCC_REGISTER_TOKEN"
	EnvTokenFile       = "DCC_REGISTER_TOKEN_FILE"
	EnvTimeout         = "DCC_REGISTER_TIMEOUT"
	EnvBudget          = "DCC_REGISTER_BUDGET"
	EnvAttempts        = "DCC_REGISTER_ATTEMPTS"
	EnvBreakerFailures = "DCC_REGISTER_BREAKER_FAILURES"
	EnvBreakerCooldown = "DCC_REGISTER_BREAKER_COOLDOWN"
	EnvCacheTTL        = "DCC_REGISTER_CACHE_TTL"
	EnvCacheSize       = "DCC_REGISTER_CACHE_SIZE"
)

// OptionsFromEnv reads the DCC_REGISTER_* variables through getenv (os.Getenv in main). Unset
// variables leave the defaults. A cache TTL or size of 0 disables the cache. Every bad variable
// is reported, by name, in one joined error. The token comes from DCC_REGISTER_TOKEN_FILE (a
// file holding it, trailing newline ignored) or DCC_REGISTER_TOKEN, not both. The caller still
// sets Clock, Logger and OnStateChange.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	var o Options
	var problems []error
	o.URL = getenv(EnvURL)
	if o.URL == "" {
		problems = append(problems, fmt.Errorf("%s: required for the HTTP register", EnvURL))
	}
	o.Token = getenv(EnvToken)
	if f := getenv(EnvTokenFile); f != "" {
		if o.Token != "" {
			problems = append(problems, fmt.Errorf("%s and %s: set one, not both", EnvToken, EnvTokenFile))
		}
		b, err := os.ReadFile(f)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", EnvTokenFile, err))
		}
		o.Token = strings.TrimRight(string(b), "\r\n")
	}
	duration := func(name string, dst *time.Duration, allowZero bool) {
		v := getenv(name)
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			problems = append(problems, fmt.Errorf("%s: %q is not a duration such as 2s or 500ms", name, v))
		case d < 0 || (d == 0 && !allowZero):
			problems = append(problems, fmt.Errorf("%s: must be positive, got %s", name, v))
		case d == 0:
			*dst = -1
		default:
			*dst = d
		}
	}
	integer := func(name string, allowZero bool) (int, bool) {
		v := getenv(name)
		if v == "" {
			return 0, false
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || (i == 0 && !allowZero) {
			problems = append(problems, fmt.Errorf("%s: %q is not a positive whole number", name, v))
			return 0, false
		}
		return i, true
	}
	duration(EnvTimeout, &o.Timeout, false)
	duration(EnvBudget, &o.Budget, false)
	duration(EnvBreakerCooldown, &o.BreakerCooldown, false)
	duration(EnvCacheTTL, &o.CacheTTL, true)
	if i, ok := integer(EnvAttempts, false); ok {
		o.MaxAttempts = i
	}
	if i, ok := integer(EnvBreakerFailures, false); ok {
		o.BreakerFailures = uint32(i)
	}
	if i, ok := integer(EnvCacheSize, true); ok {
		o.CacheSize = i
		if i == 0 {
			o.CacheSize = -1
		}
	}
	if len(problems) > 0 {
		return Options{}, errors.Join(problems...)
	}
	return o, nil
}

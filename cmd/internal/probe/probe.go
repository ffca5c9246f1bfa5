// Package probe reads what a running dccd shows operators over HTTP, for the programs that
// watch one from outside (the fault suite, the failover proof): the lights of /status.
package probe

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// DependencyLight is the light of the named dependency on base's /status (its JSON form), or
// what went wrong: "unreachable", "unreadable (status)" or "absent".
func DependencyLight(base, name string, timeout time.Duration) string {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(base + "/status?format=json")
	if err != nil {
		return "unreachable"
	}
	defer resp.Body.Close()
	var page struct {
		Dependencies []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"dependencies"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return fmt.Sprintf("unreadable (%d)", resp.StatusCode)
	}
	for _, d := range page.Dependencies {
		if d.Name == name {
			return d.Status
		}
	}
	return "absent"
}

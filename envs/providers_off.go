package envs

import (
	"fmt"
	"slices"
	"strings"
)

// A provider can be turned off (--providers): publishing or launching
// with it is refused, and a launch it has not finished fails, but it stays
// to destroy what it made (by a user, the reaper or the orphan sweep) and
// to show its logs. Turning the local provider off is how a portal with
// sign-in keeps template authors from running commands on its host.

// providersSetting names the setting in refusals, for whoever reads them
// to know what to ask an administrator for.
const providersSetting = "--providers (MAYFLY_PROVIDERS)"

// providerOn reports whether name is a provider that may publish and
// launch.
func (s *Service) providerOn(name string) bool {
	_, ok := s.providers[name]
	return ok && !s.off[name]
}

// onNames lists the providers that are on, sorted.
func (s *Service) onNames() []string {
	var names []string
	for n := range s.providers {
		if !s.off[n] {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// providerUnavailable says why a template's provider cannot be used here.
func (s *Service) providerUnavailable(name string) string {
	on := strings.Join(s.onNames(), ", ")
	if on == "" {
		on = "none"
	}
	if s.off[name] {
		return fmt.Sprintf("the %s provider is turned off on this server (on: %s); an administrator turns it on with %s", name, on, providersSetting)
	}
	if setup := s.cfg.ProviderSetup[name]; setup != "" {
		return fmt.Sprintf("%q is not a configured provider (on: %s); an administrator sets it up with %s", name, on, setup)
	}
	return fmt.Sprintf("%q is not a configured provider (on: %s)", name, on)
}

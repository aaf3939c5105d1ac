package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"nrfline/lwm2m"
)

// credStore holds PSK security entries, one per endpoint, with identities
// unique across endpoints (Leshan's rule).
type credStore struct {
	mu    sync.Mutex
	byEP  map[string]credential
	legac map[string][]credential // DM only: earlier accounts still accepted
}

func newCredStore() *credStore {
	return &credStore{byEP: map[string]credential{}, legac: map[string][]credential{}}
}

// put adds or replaces endpoint's entry.
func (s *credStore) put(c credential) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ep, other := range s.byEP {
		if ep != c.endpoint && other.identity == c.identity {
			return fmt.Errorf("PSK Identity %s is already used", c.identity)
		}
	}
	s.byEP[c.endpoint] = c
	return nil
}

func (s *credStore) remove(endpoint string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byEP[endpoint]
	delete(s.byEP, endpoint)
	return ok
}

func (s *credStore) list() []credential {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]credential, 0, len(s.byEP))
	for _, c := range s.byEP {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b credential) int { return strings.Compare(a.endpoint, b.endpoint) })
	return out
}

func (s *credStore) byEndpoint(endpoint string) (credential, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byEP[endpoint]
	return c, ok
}

// addLegacy records an extra (endpoint, identity, key) that stays valid.
func (s *credStore) addLegacy(c credential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.legac[c.endpoint] = append(s.legac[c.endpoint], c)
}

// key returns the PSK for a DTLS identity: the security API's entry first,
// then legacy credentials.
func (s *credStore) key(identity string) ([]byte, error) {
	c, ok := s.byIdentity(identity)
	if !ok {
		return nil, fmt.Errorf("identity %q: %w", identity, lwm2m.ErrUnknownIdentity)
	}
	return slices.Clone(c.key), nil
}

func (s *credStore) byIdentity(identity string) (credential, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.byEP {
		if c.identity == identity {
			return c, true
		}
	}
	for _, cs := range s.legac {
		for _, c := range cs {
			if c.identity == identity {
				return c, true
			}
		}
	}
	return credential{}, false
}

// authorize accepts identity for endpoint when the key a handshake with
// identity used is one registered for endpoint (current or legacy).
func (s *credStore) authorize(identity, endpoint string) error {
	used, ok := s.byIdentity(identity)
	if !ok {
		return fmt.Errorf("unknown identity %q", identity)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cands := slices.Clone(s.legac[endpoint])
	if c, ok := s.byEP[endpoint]; ok {
		cands = append(cands, c)
	}
	for _, c := range cands {
		if c.identity == identity && bytes.Equal(c.key, used.key) {
			return nil
		}
	}
	return fmt.Errorf("identity %q holds no credential of endpoint %q", identity, endpoint)
}

// configStore holds bootstrap configs by endpoint.
type configStore struct {
	mu   sync.Mutex
	byEP map[string]BootstrapConfig
}

func (s *configStore) put(endpoint string, c BootstrapConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byEP == nil {
		s.byEP = map[string]BootstrapConfig{}
	}
	s.byEP[endpoint] = c
}

func (s *configStore) get(endpoint string) (BootstrapConfig, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byEP[endpoint]
	return c, ok
}

func (s *configStore) remove(endpoint string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byEP[endpoint]
	delete(s.byEP, endpoint)
	return ok
}

func (s *configStore) all() map[string]BootstrapConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]BootstrapConfig, len(s.byEP))
	for k, v := range s.byEP {
		out[k] = v
	}
	return out
}

// strictUnmarshal decodes one JSON value, refusing unknown fields and
// trailing data.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

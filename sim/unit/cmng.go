package unit

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// maxUserTag is the highest sec_tag a host may use (modem-at.md §6.1);
// tags above are modem-reserved: listed, never written, read or deleted.
const maxUserTag = 2147483647

// Credential types (modem-at.md §6.1).
const (
	typeRootCA   = 0
	typeKey      = 2
	typePSK      = 3
	typeIdentity = 4
	maxType      = 11
	maxWriteType = 5 // 0..5 can be written with %CMNG=0
)

type reservedCred struct {
	tag    uint32
	typ    uint8
	digest string
}

// reservedCreds are the modem-reserved entries of the SEEN fixture (§6.3),
// listed after the host's tags, in the fixture's order.
func reservedCreds() [3]reservedCred {
	return [3]reservedCred{
		{4294967293, 10, "2C43952EE9E000FF2ACC4E2ED0897C0A72AD5FA72C3D934E81741CBD54F05BD1"},
		{4294967294, 6, "A3CC4121A62D4BB103AE92F70A77A456886AE3CD5B2D156A200A1B90D9E92E05"},
		{4294967292, 11, "2027C4699EAA90A414D33FA81B975C0FDEDEFB04A19CEA1ED43A8876CAD31E89"},
	}
}

// cred is one stored credential, as persisted.
type cred struct {
	Tag     uint32 `json:"tag"`
	Type    uint8  `json:"type"`
	Content string `json:"content"`
}

type credKey struct {
	tag uint32
	typ uint8
}

// credStore is the modem's %CMNG store: <sec_tag>,<type> is a unique pair.
type credStore struct {
	m map[credKey]string
}

func newCredStore(cs []cred) *credStore {
	s := &credStore{m: make(map[credKey]string, len(cs))}
	for _, c := range cs {
		s.m[credKey{c.Tag, c.Type}] = c.Content
	}
	return s
}

func (s *credStore) get(tag uint32, typ uint8) (string, bool) {
	v, found := s.m[credKey{tag, typ}]
	return v, found
}

func (s *credStore) put(tag uint32, typ uint8, content string) {
	s.m[credKey{tag, typ}] = content
}

func (s *credStore) del(tag uint32, typ uint8) bool {
	k := credKey{tag, typ}
	_, found := s.m[k]
	delete(s.m, k)
	return found
}

// all returns the credentials sorted by tag, then type.
func (s *credStore) all() []cred {
	out := make([]cred, 0, len(s.m))
	for k, v := range s.m {
		out = append(out, cred{Tag: k.tag, Type: k.typ, Content: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tag != out[j].Tag {
			return out[i].Tag < out[j].Tag
		}
		return out[i].Type < out[j].Type
	})
	return out
}

// tag returns type → content for one tag.
func (s *credStore) tag(tag uint32) map[uint8]string {
	out := map[uint8]string{}
	for k, v := range s.m {
		if k.tag == tag {
			out[k.typ] = v
		}
	}
	return out
}

// param is one AT parameter: a bare token or a "quoted" string (quotes
// removed). Quoted content may hold CR and LF.
type param struct {
	s      string
	quoted bool
}

// parseParams splits AT parameters on commas outside double quotes. A
// quoted parameter must be exactly one quoted string; a bare one holds no
// quote.
func parseParams(args string) ([]param, bool) {
	var out []param
	start, quoted := 0, false
	for i := 0; i <= len(args); i++ {
		if i < len(args) && args[i] == '"' {
			quoted = !quoted
		}
		if i < len(args) && (quoted || args[i] != ',') {
			continue
		}
		p, good := oneParam(args[start:i])
		if !good {
			return nil, false
		}
		out = append(out, p)
		start = i + 1
	}
	return out, !quoted
}

func oneParam(s string) (param, bool) {
	if !strings.HasPrefix(s, `"`) {
		return param{s: s}, !strings.Contains(s, `"`)
	}
	if len(s) < 2 || !strings.HasSuffix(s, `"`) || strings.Contains(s[1:len(s)-1], `"`) {
		return param{}, false
	}
	return param{s: s[1 : len(s)-1], quoted: true}, true
}

var hexText = regexp.MustCompile(`^(?:[0-9a-fA-F]{2})+$`)

// cmdCMNG implements AT%CMNG (modem-at.md §6). Syntax errors are plain
// ERROR; the documented failures are +CME ERROR 513/514/515/518/519/527.
func (m *modem) cmdCMNG(op, args string) result {
	if op != "=" {
		return errResult()
	}
	ps, good := parseParams(args)
	if !good || len(ps) == 0 {
		return errResult()
	}
	opcode, good := uintArg(ps[0], 0, 3)
	if !good {
		return errResult()
	}
	switch opcode {
	case 0:
		return m.cmngWrite(ps[1:])
	case 1:
		return m.cmngList(ps[1:])
	case 2:
		return m.cmngRead(ps[1:])
	}
	return m.cmngDelete(ps[1:])
}

// tagType parses the <sec_tag>,<type> pair (sec_tag as unsigned 32-bit).
func tagType(ps []param) (uint32, uint8, bool) {
	if len(ps) < 2 {
		return 0, 0, false
	}
	tag, good := uintArg(ps[0], 0, 4294967295)
	if !good {
		return 0, 0, false
	}
	typ, good := uintArg(ps[1], 0, maxType)
	return uint32(tag), uint8(typ), good
}

func (m *modem) cmngWrite(ps []param) result {
	tag, typ, good := tagType(ps)
	if !good || len(ps) < 3 || len(ps) > 4 || !ps[2].quoted {
		return errResult()
	}
	if len(ps) == 4 && (!ps[3].quoted || typ != typeKey || len(ps[3].s) > 32) {
		return errResult()
	}
	content := ps[2].s
	switch {
	case m.lte:
		return m.cme(cmeActive)
	case m.cme515:
		return m.cme(cmeMemFull)
	case tag > maxUserTag:
		return m.cme(cmeNoAccess)
	case typ > maxWriteType || content == "":
		return errResult()
	case typ == typePSK && !hexText.MatchString(content):
		return m.cme(cmeBadContent)
	}
	if _, exists := m.store.get(tag, typ); exists {
		return m.cme(cmeExists)
	}
	m.store.put(tag, typ, content)
	r := ok()
	r.acts.persist = true
	return r
}

func (m *modem) cmngList(ps []param) result {
	if len(ps) > 2 {
		return errResult()
	}
	var tag *uint32
	var typ *uint8
	if len(ps) >= 1 {
		v, good := uintArg(ps[0], 0, 4294967295)
		if !good {
			return errResult()
		}
		t := uint32(v)
		tag = &t
	}
	if len(ps) == 2 {
		v, good := uintArg(ps[1], 0, maxType)
		if !good {
			return errResult()
		}
		t := uint8(v)
		typ = &t
	}
	match := func(tg uint32, ty uint8) bool {
		return (tag == nil || *tag == tg) && (typ == nil || *typ == ty)
	}
	var lines []string
	for _, c := range m.store.all() {
		if match(c.Tag, c.Type) {
			lines = append(lines, cmngLine(c.Tag, c.Type, m.digest(c.Type, c.Content)))
		}
	}
	for _, r := range reservedCreds() {
		if match(r.tag, r.typ) {
			lines = append(lines, cmngLine(r.tag, r.typ, r.digest))
		}
	}
	return ok(lines...)
}

func cmngLine(tag uint32, typ uint8, digest string) string {
	return "%CMNG: " + strconv.FormatUint(uint64(tag), 10) + "," + strconv.Itoa(int(typ)) + `,"` + digest + `"`
}

// cmngRead answers a read. Keys and PSKs (types 2 and 3) cannot be read
// back (old doc: not supported): +CME ERROR: 514, checked before existence.
func (m *modem) cmngRead(ps []param) result {
	tag, typ, good := tagType(ps)
	if !good || len(ps) != 2 {
		return errResult()
	}
	if tag > maxUserTag || typ == typeKey || typ == typePSK {
		return m.cme(cmeNoAccess)
	}
	content, found := m.store.get(tag, typ)
	if !found {
		return m.cme(cmeNotFound)
	}
	return ok(cmngLine(tag, typ, m.digest(typ, content)) + `,"` + content + `"`)
}

func (m *modem) cmngDelete(ps []param) result {
	tag, typ, good := tagType(ps)
	if !good || len(ps) != 2 {
		return errResult()
	}
	switch {
	case m.lte:
		return m.cme(cmeActive)
	case tag > maxUserTag:
		return m.cme(cmeNoAccess)
	}
	if !m.store.del(tag, typ) {
		return m.cme(cmeNotFound)
	}
	r := ok()
	r.acts.persist = true
	return r
}

// digest is what %CMNG lists for a credential: the uppercase SHA-256 of the
// exact stored bytes, or on modem firmware older than 1.3.2 the placeholder
// of the type byte repeated (§6.5).
func (m *modem) digest(typ uint8, content string) string {
	if oldFirmware(m.id.ModemFW) {
		return strings.Repeat(strings.ToUpper(hex.EncodeToString([]byte{typ})), 32)
	}
	return hexDigest(content)
}

func hexDigest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// versionRE reads N.N.N out of a modem firmware name. station/rules.go has
// the same expression on purpose, not shared: the unit plays the device and
// shares no code with the station (see TestImports), so a misreading of a
// version on one side cannot hide behind the same misreading on the other.
var versionRE = regexp.MustCompile(`(?:^|[_-])(\d+)\.(\d+)\.(\d+)(?:$|[_-])`)

// oldFirmware reports a modem firmware below 1.3.2 (placeholder digests).
// NTN builds have their own, recent version line.
func oldFirmware(fw string) bool {
	v := versionRE.FindStringSubmatch(fw)
	if v == nil || strings.Contains(fw, "ntn") {
		return false
	}
	n := [3]int{}
	for i := range n {
		n[i], _ = strconv.Atoi(v[i+1])
	}
	switch {
	case n[0] != 1:
		return n[0] < 1
	case n[1] != 3:
		return n[1] < 3
	}
	return n[2] < 2
}

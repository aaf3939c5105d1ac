package ui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"nrfline/station"
)

// screen is what the root model shows.
type screen int

const (
	screenPrompt screen = iota // operator id, at start and on 'o'
	screenGrid
	screenDetail
	screenHelp
	screenQuit // "units are running: quit?"
)

// Layout of the frame around the main area.
const (
	headerLines = 2
	footerLines = 2
	subBuffer   = 1024 // the subscription's queue; device lines beyond it are dropped
	maxBatch    = 4096 // events folded into one update
	batchYields = 4    // yields without an event that end a batch
	batchFor    = 10 * time.Millisecond
)

// Model is the bench TUI's root model. It delegates drawing to small
// components (cards, grid, detail, header) sharing one set of styles.
type Model struct {
	ctx  context.Context
	eng  Engine
	opt  Options
	log  *slog.Logger
	st   *styles
	keys keyMap

	screen, back  screen // back: where help, quit and prompt return to
	width, height int
	now           time.Time

	line   *line
	grid   grid
	detail detail
	input  textinput.Model

	sub      *station.Subscription
	operator string
	opErr    string // the engine refused the operator id
	opBusy   bool

	tally       *Tally
	tallyErr    error
	tallyBusy   bool
	tallyAt     time.Time
	portal      string // "" unknown, "ok", or the error
	portalBusy  bool
	portalAt    time.Time
	status      string
	statusAt    time.Time
	subscribeUp bool

	// The last frame, drawn again only when something on it changed: a
	// storm of device lines changes no card, and bubbletea asks for a view
	// after every update.
	frameText string
	dirty     bool
}

// New returns the root model. ctx bounds every engine command the
// operator sends.
func New(ctx context.Context, eng Engine, opt Options) *Model {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Model{ctx: ctx, eng: eng, opt: opt, log: opt.Logger, st: newStyles(opt.NoColor), keys: newKeyMap(),
		line: newLine(), detail: newDetail(), now: opt.Now()}
	m.input = textinput.New()
	m.input.Prompt = "operator id › "
	m.input.Placeholder = "scan your badge"
	m.input.CharLimit = 64
	m.input.SetWidth(32)
	m.input.Focus()
	m.screen, m.back = screenPrompt, screenGrid
	if opt.Operator != "" {
		m.operator, m.screen = opt.Operator, screenGrid
	}
	return m
}

// Close ends the subscription; call it after the program ended.
func (m *Model) Close() {
	if m.sub != nil {
		m.sub.Close()
	}
}

// Messages of the model's commands.
type (
	subscribedMsg struct{ sub *station.Subscription }
	eventsMsg     struct {
		events []station.Event
		closed bool
	}
	tickMsg  time.Time
	tallyMsg struct {
		t   Tally
		err error
	}
	portalMsg  struct{ err error }
	commandMsg struct {
		what, slot string
		err        error
	}
	operatorMsg struct {
		id  string
		err error
	}
)

// Init subscribes to the engine and starts the clock and the background
// checks.
func (m *Model) Init() tea.Cmd {
	eng := m.eng
	cmds := []tea.Cmd{
		func() tea.Msg { return subscribedMsg{eng.Subscribe(subBuffer, station.Latest)} },
		m.tick(),
		m.fetchTally(),
		m.checkPortal(),
	}
	if m.operator != "" {
		cmds = append(cmds, m.setOperator(m.operator))
	}
	return tea.Batch(cmds...)
}

// waitEvents is the one command that waits on the subscription: it blocks
// for the next event, then takes whatever else follows at once, so a burst
// is drawn in one frame instead of one frame per line; a verdict is never
// held back behind a timer. Update re-arms it.
//
// The subscription hands events over one at a time, so "at once" allows
// the sender a few yields to catch up, and the batch closes after
// batchFor even in an endless stream: a verdict inside a storm of device
// lines is on screen within batchFor plus one frame.
func waitEvents(c <-chan station.Event) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-c
		if !ok {
			return eventsMsg{closed: true}
		}
		batch := []station.Event{ev}
		start, misses := time.Now(), 0
		for len(batch) < maxBatch && misses < batchYields {
			select {
			case ev, ok := <-c:
				if !ok {
					return eventsMsg{events: batch, closed: true}
				}
				batch, misses = append(batch, ev), 0
				if len(batch)%64 == 0 && time.Since(start) > batchFor {
					return eventsMsg{events: batch}
				}
			default:
				misses++
				runtime.Gosched()
			}
		}
		return eventsMsg{events: batch}
	}
}

func (m *Model) tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

func (m *Model) fetchTally() tea.Cmd {
	if m.opt.Tally == nil || m.tallyBusy {
		return nil
	}
	m.tallyBusy, m.tallyAt = true, m.now
	ctx, f := m.ctx, m.opt.Tally
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, commandLimit)
		defer cancel()
		t, err := f(ctx)
		return tallyMsg{t, err}
	}
}

func (m *Model) checkPortal() tea.Cmd {
	if m.opt.PortalCheck == nil || m.portalBusy {
		return nil
	}
	m.portalBusy, m.portalAt = true, m.now
	ctx, f := m.ctx, m.opt.PortalCheck
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, portalTimout)
		defer cancel()
		return portalMsg{f(ctx)}
	}
}

// command runs an operator command on the engine, off the update loop.
func (m *Model) command(what, slot string, f func(context.Context, string) error) tea.Cmd {
	ctx := m.ctx
	m.setStatus(fmt.Sprintf("%s %s…", what, slot))
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, commandLimit)
		defer cancel()
		return commandMsg{what, slot, f(ctx, slot)}
	}
}

func (m *Model) setOperator(id string) tea.Cmd {
	ctx, eng := m.ctx, m.eng
	m.opBusy = true
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, commandLimit)
		defer cancel()
		return operatorMsg{id, eng.SetOperator(ctx, id)}
	}
}

func (m *Model) setStatus(s string) { m.status, m.statusAt = s, m.now }

// Update folds a message into the model. It does no I/O: everything that
// waits runs in the commands it returns.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if _, ok := msg.(eventsMsg); !ok {
		m.dirty = true
	}
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
	case subscribedMsg:
		m.sub, m.subscribeUp = msg.sub, true
		return m, waitEvents(msg.sub.C)
	case eventsMsg:
		return m, m.onEvents(msg)
	case tickMsg:
		return m, m.onTick()
	case tallyMsg:
		m.tallyBusy = false
		if msg.err != nil {
			m.tallyErr = msg.err
			m.log.Warn("today's tally", "err", msg.err)
		} else {
			m.tally, m.tallyErr = &msg.t, nil
		}
	case portalMsg:
		m.portalBusy = false
		m.portal = "ok"
		if msg.err != nil {
			m.portal = msg.err.Error()
			m.log.Warn("portal check", "err", msg.err)
		}
	case commandMsg:
		m.onCommand(msg)
	case operatorMsg:
		m.onOperator(msg)
	case tea.KeyPressMsg:
		return m, m.onKey(msg)
	}
	return m, nil
}

func (m *Model) resize(w, h int) {
	m.width, m.height = w, h
	main := m.mainHeight()
	m.grid.layout(len(m.line.slots), w, main)
	m.detail.setSize(w, main)
	m.st.help.SetWidth(w)
}

func (m *Model) mainHeight() int { return max(1, m.height-headerLines-footerLines) }

func (m *Model) onEvents(msg eventsMsg) tea.Cmd {
	n, verdicts := len(m.line.slots), 0
	m.now = m.opt.Now() // a run that just started shows its time, not a second ago's
	for _, ev := range msg.events {
		m.dirty = m.dirty || m.shows(ev)
		if m.line.apply(ev) {
			verdicts++
			v := ev.Verdict
			m.log.Info("verdict", "slot", ev.Slot, "outcome", v.Outcome, "code", v.Code, "run", v.Run)
		}
	}
	if len(m.line.slots) != n {
		m.grid.layout(len(m.line.slots), m.width, m.mainHeight())
	}
	var cmds []tea.Cmd
	if !msg.closed {
		cmds = append(cmds, waitEvents(m.sub.C))
	} else {
		m.setStatus("the line stopped: no more events")
		m.log.Info("event stream closed")
	}
	if verdicts > 0 {
		if m.opt.Bell {
			cmds = append(cmds, tea.Raw(strings.Repeat("\a", verdicts)))
		}
		cmds = append(cmds, m.fetchTally())
	}
	return tea.Batch(cmds...)
}

// shows tells whether ev changes what is on screen: device lines, tool
// output and notes are only seen in their slot's detail.
func (m *Model) shows(ev station.Event) bool {
	switch ev.Kind {
	case station.DeviceLine, station.ToolOutput, station.Note:
		return m.screen == screenDetail && ev.Slot == m.detail.slot
	}
	return true
}

func (m *Model) onTick() tea.Cmd {
	m.now = m.opt.Now()
	cmds := []tea.Cmd{m.tick()}
	if m.now.Sub(m.tallyAt) >= tallyEvery {
		cmds = append(cmds, m.fetchTally())
	}
	if m.now.Sub(m.portalAt) >= portalEvery {
		cmds = append(cmds, m.checkPortal())
	}
	return tea.Batch(cmds...)
}

func (m *Model) onCommand(msg commandMsg) {
	var ref *station.Refusal
	switch {
	case msg.err == nil:
		m.setStatus(fmt.Sprintf("%s %s: done", msg.what, msg.slot))
	case errors.As(msg.err, &ref):
		m.setStatus(fmt.Sprintf("%s %s refused: %s", msg.what, msg.slot, ref.Reason))
	default:
		m.setStatus(fmt.Sprintf("%s %s failed: %v", msg.what, msg.slot, msg.err))
		m.log.Warn("command failed", "command", msg.what, "slot", msg.slot, "err", msg.err)
	}
}

func (m *Model) onOperator(msg operatorMsg) {
	m.opBusy = false
	if msg.err != nil {
		m.opErr = msg.err.Error()
		var ref *station.Refusal
		if errors.As(msg.err, &ref) {
			m.opErr = ref.Reason
		}
		m.screen = screenPrompt
		return
	}
	m.operator, m.opErr = msg.id, ""
	m.input.Reset()
	m.log.Info("operator", "id", msg.id)
	if m.screen == screenPrompt {
		m.screen = m.back
	}
}

func (m *Model) onKey(msg tea.KeyPressMsg) tea.Cmd {
	switch m.screen {
	case screenPrompt:
		return m.promptKey(msg)
	case screenHelp:
		m.screen = m.back
		return nil
	case screenQuit:
		switch {
		case key.Matches(msg, m.keys.Yes):
			return tea.Quit
		case key.Matches(msg, m.keys.No), key.Matches(msg, m.keys.Quit):
			m.screen = m.back
		}
		return nil
	case screenDetail:
		return m.detailKey(msg)
	}
	return m.gridKey(msg)
}

func (m *Model) promptKey(msg tea.KeyPressMsg) tea.Cmd {
	switch msg.String() {
	case "enter":
		id := strings.TrimSpace(m.input.Value())
		if id == "" || m.opBusy {
			return nil
		}
		return m.setOperator(id)
	case "ctrl+c":
		return m.quit()
	case "esc":
		if m.operator != "" {
			m.input.Reset()
			m.screen = m.back
		}
		return nil
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	m.opErr = ""
	return cmd
}

// quit asks first when units are running: leaving aborts them.
func (m *Model) quit() tea.Cmd {
	if m.line.running() > 0 {
		if m.screen != screenQuit {
			m.back = m.screen
		}
		m.screen = screenQuit
		return nil
	}
	return tea.Quit
}

func (m *Model) gridKey(msg tea.KeyPressMsg) tea.Cmd {
	n := len(m.line.slots)
	k := m.keys
	switch {
	case key.Matches(msg, k.Up):
		m.grid.move(0, -1, n)
	case key.Matches(msg, k.Down):
		m.grid.move(0, 1, n)
	case key.Matches(msg, k.Left):
		m.grid.move(-1, 0, n)
	case key.Matches(msg, k.Right):
		m.grid.move(1, 0, n)
	case key.Matches(msg, k.Open):
		if s := m.selected(); s != nil {
			m.detail.open(s.st.Slot.Name)
			m.screen = screenDetail
		}
	case key.Matches(msg, k.Help):
		m.back, m.screen = screenGrid, screenHelp
	case key.Matches(msg, k.Operator):
		m.back, m.screen = screenGrid, screenPrompt
		m.input.SetValue("")
	case key.Matches(msg, k.Quit):
		return m.quit()
	default:
		if s := m.selected(); s != nil {
			return m.slotKey(msg, s)
		}
	}
	return nil
}

func (m *Model) detailKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.keys
	switch {
	case key.Matches(msg, k.Back):
		m.screen = screenGrid
	case key.Matches(msg, k.Quit):
		return m.quit()
	case key.Matches(msg, k.Start, k.Retest, k.Abort, k.Toggle):
		return m.slotKey(msg, m.line.slot(m.detail.slot))
	default:
		var cmd tea.Cmd
		m.detail.vp, cmd = m.detail.vp.Update(msg)
		return cmd
	}
	return nil
}

// slotKey turns s, r, a and d into engine commands on slot s.
func (m *Model) slotKey(msg tea.KeyPressMsg, s *slotView) tea.Cmd {
	k, name, e := m.keys, s.st.Slot.Name, m.eng
	switch {
	case key.Matches(msg, k.Start):
		return m.command("start", name, e.Start)
	case key.Matches(msg, k.Retest):
		return m.command("retest", name, e.Retest)
	case key.Matches(msg, k.Abort):
		return m.command("abort", name, e.Abort)
	case key.Matches(msg, k.Toggle):
		if s.st.State == station.SlotDisabled || s.st.State == station.SlotLockedSt {
			return m.command("enable", name, e.Enable)
		}
		return m.command("disable", name, e.Disable)
	}
	return nil
}

func (m *Model) selected() *slotView {
	if m.grid.sel < 0 || m.grid.sel >= len(m.line.slots) {
		return nil
	}
	return m.line.slots[m.grid.sel]
}

// View draws the frame: header, the current screen, footer.
func (m *Model) View() tea.View {
	if m.dirty {
		m.frameText, m.dirty = m.frame(), false
	}
	v := tea.NewView(m.frameText)
	v.AltScreen = true
	v.WindowTitle = "station " + m.opt.StationID
	return v
}

func (m *Model) frame() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	main := m.mainHeight()
	var body string
	measured := false // the grid builds every line to width; the rest is cut
	switch m.screen {
	case screenPrompt:
		body = m.promptView()
	case screenHelp:
		body = helpLines(m.st, m.keys)
	case screenQuit:
		body = m.dialog(fmt.Sprintf("%d unit(s) are running.\nQuitting aborts them: they must be re-tested.\n\nQuit anyway?  y = quit   n = stay", m.line.running()))
	case screenDetail:
		body = m.detail.view(m.line.slot(m.detail.slot), m.st, m.now)
	default:
		body = m.grid.view(m.line, cardView{st: m.st, autostart: m.opt.Autostart, now: m.now})
		measured = true
	}
	return strings.Join([]string{m.header(), block(body, m.width, main, measured), m.footer()}, "\n")
}

// block cuts s to h lines, each at most w cells unless the lines are
// known to fit, and pads it to h lines, so the footer stays put.
func block(s string, w, h int, measured bool) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		if !measured && ansi.StringWidth(l) > w {
			lines[i] = ansi.Truncate(l, w, "")
		}
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

func (m *Model) dialog(text string) string {
	box := m.st.box.Render(text)
	return center2(box, m.width)
}

// center2 centres a block of lines horizontally.
func center2(s string, w int) string {
	lines := strings.Split(s, "\n")
	pad := strings.Repeat(" ", max(0, (w-ansi.StringWidth(lines[0]))/2))
	for i := range lines {
		lines[i] = pad + lines[i]
	}
	return "\n" + strings.Join(lines, "\n")
}

func (m *Model) promptView() string {
	text := m.st.bold.on("Scan or type your operator id, then Enter.") + "\n" +
		"It is recorded with every run you start.\n\n" + m.input.View()
	if m.opBusy {
		text += "\n\n" + m.st.dim.on("checking…")
	}
	if m.opErr != "" {
		text += "\n\n" + m.st.bad.on("✘ "+m.opErr)
	}
	if m.operator != "" {
		text += "\n\n" + m.st.dim.on("esc keeps "+m.operator)
	}
	return m.dialog(text)
}

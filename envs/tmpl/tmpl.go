// Package tmpl runs the Go templates of template versions (command lines,
// environment values and outputs of local stacks, CloudFormation parameter
// values) within bounds. A template is an author's program: text/template
// alone lets `{{range 1000000000000}}{{end}}` spin a core for hours and a
// 40-byte template render 20 MB, and an execution cannot be interrupted
// from outside. So every template parsed here carries its own brakes:
//
//   - a call to a budget function at the head of every range body and of
//     every template's root (named or not), which counts loop iterations and
//     template calls and looks at the clock;
//   - the functions that build strings (printf, print, println, html, js,
//     urlquery) are replaced by ones that refuse, before building it, a
//     string their arguments could make too long, and count what they built;
//   - output goes through a writer that fails past a size.
//
// A Budget is shared by every template of one rendering (a whole stack, at
// publish or at launch), so a stack of many small templates is bounded as
// one. The first limit hit ends the rendering with a *LimitError that says
// which limit it was.
package tmpl

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// Limits bound the work of one rendering.
type Limits struct {
	// Steps bounds range iterations and template calls, counted together.
	Steps int
	// Depth bounds how deep templates call templates (text/template's own
	// bound, 100000, takes a second and hundreds of MiB of stack to reach).
	Depth int
	// Time bounds the wall-clock time of the whole rendering.
	Time time.Duration
	// Output bounds one rendered string, and any one string a function
	// builds.
	Output int
	// Total bounds the bytes of every string of the rendering together.
	Total int
	// Built bounds the bytes the string functions build together, kept or
	// not (a variable holds what printf made without writing it).
	Built int
	// Clock is the time source (nil: time.Now); tests inject one.
	Clock func() time.Time
}

// DefaultLimits are generous for what templates are for (a command line, a
// URL, an environment value: a few hundred bytes, rendered in
// microseconds) and small enough that a rendering gone wrong costs at most
// a second of one core and a few MiB. Output stays under Linux's 128 KiB
// bound on one argument or environment string (MAX_ARG_STRLEN), Total well
// under the 2 MiB that a process's arguments and environment share
// (ARG_MAX with the default 8 MiB stack).
var DefaultLimits = Limits{
	Steps:  100_000,
	Depth:  100,
	Time:   time.Second,
	Output: 64 << 10,
	Total:  1 << 20,
	Built:  4 << 20,
}

// LimitError says which limit a rendering hit. Its message is for the
// template's author and names no Go internals: "the template loops or
// calls templates more than 100000 times".
type LimitError struct{ msg string }

func (e *LimitError) Error() string { return e.msg }

// AsLimit returns the *LimitError in err's chain, if any.
func AsLimit(err error) (*LimitError, bool) {
	var le *LimitError
	ok := errors.As(err, &le)
	return le, ok
}

// Budget is what is left of one rendering's limits. It is not safe for
// concurrent use: a rendering runs its templates one after another.
type Budget struct {
	limits   Limits
	now      func() time.Time
	deadline time.Time
	steps    int
	depth    int
	total    int
	built    int
	// spent is the first exhausted limit: every later call fails with it,
	// so a rendering stops at once instead of failing template by template.
	spent *LimitError
}

// NewBudget starts a rendering's budget; its time runs from now. Zero
// fields of l take DefaultLimits' values.
func NewBudget(l Limits) *Budget {
	d := DefaultLimits
	l.Steps = cmpOr(l.Steps, d.Steps)
	l.Depth = cmpOr(l.Depth, d.Depth)
	l.Time = cmpOr(l.Time, d.Time)
	l.Output = cmpOr(l.Output, d.Output)
	l.Total = cmpOr(l.Total, d.Total)
	l.Built = cmpOr(l.Built, d.Built)
	now := l.Clock
	if now == nil {
		now = time.Now
	}
	return &Budget{limits: l, now: now, deadline: now().Add(l.Time)}
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Spent reports whether a limit of the whole rendering was hit (not just
// one string's): every further Execute fails with it.
func (b *Budget) Spent() bool { return b.spent != nil }

// exhaust records a spent limit and returns it.
func (b *Budget) exhaust(format string, args ...any) *LimitError {
	b.spent = &LimitError{fmt.Sprintf(format, args...)}
	return b.spent
}

// clockEvery is how many steps go between looks at the clock: a step is a
// few hundred nanoseconds, time.Now a few dozen.
const clockEvery = 64

// step is the budget function the parsed trees call.
func (b *Budget) step() (string, error) {
	if b.spent != nil {
		return "", b.spent
	}
	b.steps++
	if b.steps > b.limits.Steps {
		return "", b.exhaust("the template loops or calls templates more than %d times", b.limits.Steps)
	}
	if b.steps%clockEvery == 0 {
		return "", b.checkTime()
	}
	return "", nil
}

// enter is the budget function at the head of a template's root: a step,
// one level deeper. leave, at its end, is one level back.
func (b *Budget) enter() (string, error) {
	if _, err := b.step(); err != nil {
		return "", err
	}
	b.depth++
	if b.depth > b.limits.Depth {
		return "", b.exhaust("the template calls templates more than %d deep", b.limits.Depth)
	}
	return "", nil
}

func (b *Budget) leave() (string, error) {
	b.depth--
	return "", nil
}

func (b *Budget) checkTime() error {
	if b.spent != nil {
		return b.spent
	}
	if b.now().After(b.deadline) {
		return b.exhaust("the template takes longer than %s to render", b.limits.Time)
	}
	return nil
}

// build runs f, which builds a string at most bound bytes long, unless that
// would pass the limits; the string it built is counted.
func (b *Budget) build(name string, bound int, f func() string) (string, error) {
	if err := b.checkTime(); err != nil {
		return "", err
	}
	if bound > b.limits.Built-b.built {
		return "", b.exhaust("the template builds more than %s of text (%s could make %s)", size(b.limits.Built), name, size(bound))
	}
	s := f()
	b.built += len(s)
	if len(s) > b.limits.Output {
		return "", &LimitError{fmt.Sprintf("%s builds a string longer than %s", name, size(b.limits.Output))}
	}
	return s, nil
}

// funcs are the functions one execution runs with, bound to the budget.
// They replace the builtins that build strings; the others (len, index,
// slice, eq, ...) build nothing.
func (b *Budget) funcs() template.FuncMap {
	return template.FuncMap{
		stepFunc:  b.step,
		enterFunc: b.enter,
		leaveFunc: b.leave,
		"printf": func(format string, args ...any) (string, error) {
			return b.build("printf", printfBound(format, args), func() string { return fmt.Sprintf(format, args...) })
		},
		"print": func(args ...any) (string, error) {
			return b.build("print", argsSize(args), func() string { return fmt.Sprint(args...) })
		},
		"println": func(args ...any) (string, error) {
			return b.build("println", argsSize(args)+1, func() string { return fmt.Sprintln(args...) })
		},
		// Escaping makes at most 6 bytes of one (html: "&#34;", js:
		// "\u003C"), urlquery 3 ("%2F").
		"html": func(args ...any) (string, error) {
			return b.build("html", 6*argsSize(args), func() string { return template.HTMLEscaper(args...) })
		},
		"js": func(args ...any) (string, error) {
			return b.build("js", 6*argsSize(args), func() string { return template.JSEscaper(args...) })
		},
		"urlquery": func(args ...any) (string, error) {
			return b.build("urlquery", 3*argsSize(args), func() string { return template.URLQueryEscaper(args...) })
		},
	}
}

// The budget functions' names. They are bound at execution only, so an
// author's template that calls one does not parse ("function "_leave" not
// defined"): nobody turns the brakes off.
const (
	stepFunc  = "_step"
	enterFunc = "_enter"
	leaveFunc = "_leave"
)

// The actions {{_step}} (at the head of range bodies), {{_enter}} and
// {{_leave}} (around template roots). One node serves every tree:
// execution only reads nodes.
var stepNode, enterNode, leaveNode = action(stepFunc), action(enterFunc), action(leaveFunc)

func action(name string) parse.Node {
	decl := template.FuncMap{name: func() string { return "" }}
	return template.Must(template.New(name).Funcs(decl).Parse("{{" + name + "}}")).Tree.Root.Nodes[0]
}

// Template is a parsed template with its brakes in place.
type Template struct{ t *template.Template }

// Parse parses text as a template named name; options are text/template's
// (such as "missingkey=error").
func Parse(name, text string, options ...string) (*Template, error) {
	t := template.New(name)
	if len(options) > 0 {
		t = t.Option(options...)
	}
	if _, err := t.Parse(text); err != nil {
		return nil, err
	}
	seen := map[*parse.ListNode]bool{}
	for _, d := range t.Templates() {
		if root := d.Tree; root != nil && root.Root != nil && !seen[root.Root] {
			instrument(root.Root, seen)
			seen[root.Root] = true
			root.Root.Nodes = append(append([]parse.Node{enterNode}, root.Root.Nodes...), leaveNode)
		}
	}
	return &Template{t: t}, nil
}

// brake puts the step function at the head of a range body.
func brake(l *parse.ListNode, seen map[*parse.ListNode]bool) {
	if seen[l] {
		return
	}
	seen[l] = true
	l.Nodes = append([]parse.Node{stepNode}, l.Nodes...)
}

// instrument brakes every range body under l.
func instrument(l *parse.ListNode, seen map[*parse.ListNode]bool) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.RangeNode:
			if n.List == nil { // an empty body still iterates
				n.List = &parse.ListNode{NodeType: parse.NodeList, Pos: n.Pos}
			}
			instrument(n.List, seen)
			brake(n.List, seen)
			instrument(n.ElseList, seen)
		case *parse.IfNode:
			instrument(n.List, seen)
			instrument(n.ElseList, seen)
		case *parse.WithNode:
			instrument(n.List, seen)
			instrument(n.ElseList, seen)
		case *parse.ListNode:
			instrument(n, seen)
		}
	}
}

// Execute renders the template over data within b. A limit hit is returned
// as a *LimitError (not wrapped in text/template's error); other errors are
// text/template's.
func (t *Template) Execute(b *Budget, data any) (string, error) {
	if b.spent != nil {
		return "", b.spent
	}
	// Each execution binds its budget's functions to a clone (a shallow
	// copy: the trees are shared), so one Template may run concurrently
	// under several budgets.
	c, err := t.t.Clone()
	if err != nil {
		return "", err
	}
	c.Funcs(b.funcs())
	out := &output{b: b}
	if err := c.Execute(out, data); err != nil {
		if le, ok := AsLimit(err); ok {
			return "", le
		}
		return "", err
	}
	return out.buf.String(), nil
}

// output collects one rendered string within the limits.
type output struct {
	b   *Budget
	buf strings.Builder
}

func (o *output) Write(p []byte) (int, error) {
	b := o.b
	if b.spent != nil {
		return 0, b.spent
	}
	if o.buf.Len()+len(p) > b.limits.Output {
		return 0, &LimitError{fmt.Sprintf("the template renders more than %s", size(b.limits.Output))}
	}
	if b.total+len(p) > b.limits.Total {
		return 0, b.exhaust("the templates render more than %s in all", size(b.limits.Total))
	}
	b.total += len(p)
	return o.buf.Write(p)
}

// size prints a byte count the way the limits are set: "64 KiB", "1 MiB".
func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// typeName and perElement bound what %#v adds to a value: its type's
// name, and quotes and separators per element.
const typeName, perElement = 64, 8

// maxWidth is fmt's own bound on a width or precision: larger ones print
// %!(BADWIDTH) or %!(BADPREC) instead.
const maxWidth = 1_000_000

// verbBytes bounds what one verb prints besides its width, precision and
// argument: a float64 with %f has 309 digits before the point.
const verbBytes = 400

// printfBound is an upper bound on the length of fmt.Sprintf(format,
// args...), found without formatting: the format's own bytes; for each
// verb its width and precision (a '*' takes the largest int argument) and
// verbBytes, for every element of the largest argument (fmt pads each
// element of a map or slice), and the largest argument counted four times
// over (%q of a control byte is \x00; %x of a string is twice its length,
// "% x" three times); and the arguments once more, which fmt prints after
// %!(EXTRA when the verbs leave some unused.
func printfBound(format string, args []any) int {
	widest, elems, star := 0, 1, 0
	for _, a := range args {
		v := reflect.ValueOf(a)
		widest = max(widest, sizeOf(v, 0))
		elems = max(elems, elements(v, 0))
		if n, ok := intValue(a); ok {
			star = max(star, min(n, maxWidth))
		}
	}
	bound := len(format) + argsSize(args) + typeName*len(args)
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		for i < len(format) && strings.IndexByte("#0+- ", format[i]) >= 0 {
			i++
		}
		number := func() int {
			if i < len(format) && format[i] == '[' { // an argument index
				for i < len(format) && format[i] != ']' {
					i++
				}
				i++
			}
			if i < len(format) && format[i] == '*' {
				i++
				return star
			}
			n := 0
			for i < len(format) && format[i] >= '0' && format[i] <= '9' {
				n = min(n*10+int(format[i]-'0'), maxWidth)
				i++
			}
			return n
		}
		width, prec := number(), 0
		if i < len(format) && format[i] == '.' {
			i++
			prec = number()
		}
		number() // an argument index before the verb
		bound += elems*(width+prec+verbBytes) + 4*widest
	}
	return bound
}

// elements counts the values fmt prints one by one inside v (each key and
// value of a map, each element of a slice, each field of a struct).
func elements(v reflect.Value, depth int) int {
	if depth > 8 || !v.IsValid() {
		return 1
	}
	n := 0
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return 1
		}
		return elements(v.Elem(), depth+1)
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			n += elements(it.Key(), depth+1) + elements(it.Value(), depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			n += elements(v.Index(i), depth+1)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			n += elements(v.Field(i), depth+1)
		}
	default:
		return 1
	}
	return max(n, 1)
}

// intValue is a as an int, for a '*' width.
func intValue(a any) (int, bool) {
	v := reflect.ValueOf(a)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := v.Int()
		if n < 0 {
			n = -n
		}
		return int(min(n, maxWidth)), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return int(min(v.Uint(), maxWidth)), true
	}
	return 0, false
}

// argsSize bounds the length of the arguments printed one after another
// (with a space between them, as Sprintln puts).
func argsSize(args []any) int {
	n := 0
	for _, a := range args {
		n += sizeOf(reflect.ValueOf(a), 0) + 1
	}
	return n
}

// sizeOf bounds the length of v printed with %v (or %#v: Go syntax adds
// quotes and separators, counted per element, and a type name). It reads
// lengths rather than formatting, so it costs nothing for a long string.
func sizeOf(v reflect.Value, depth int) int {
	if depth > 8 {
		return 1 << 30 // deeper than template data goes: refuse
	}
	if !v.IsValid() {
		return len("<no value>")
	}
	if v.CanInterface() {
		switch x := v.Interface().(type) {
		case error:
			return len(x.Error())
		case fmt.Stringer:
			return len(x.String())
		}
	}
	switch v.Kind() {
	case reflect.String:
		return v.Len()
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return len("<nil>")
		}
		return sizeOf(v.Elem(), depth+1)
	case reflect.Map:
		n := typeName
		it := v.MapRange()
		for it.Next() {
			n += sizeOf(it.Key(), depth+1) + sizeOf(it.Value(), depth+1) + perElement
		}
		return n
	case reflect.Slice, reflect.Array:
		n := typeName
		for i := range v.Len() {
			n += sizeOf(v.Index(i), depth+1) + perElement
		}
		return n
	case reflect.Struct:
		n := typeName
		for i := range v.NumField() {
			n += len(v.Type().Field(i).Name) + sizeOf(v.Field(i), depth+1) + perElement
		}
		return n
	}
	return 32 // a number, a bool, a func's address
}

package envs

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Money is an amount in micro-dollars (a millionth of a dollar): integer
// arithmetic, so sums over months of hourly rates never drift as floats
// would.
type Money int64

// MaxHourlyCost bounds a declared hourly rate ($100,000 an hour): far past
// any environment, and small enough that a rate times a century fits
// Money.
const MaxHourlyCost = Money(100_000 * 1_000_000)

// ParseMoney reads a decimal dollar amount ("0.12", "40", "$1,250.50")
// exactly, with at most six decimals.
func ParseMoney(s string) (Money, error) {
	t := strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(s), "$"), ",", "")
	whole, frac, _ := strings.Cut(t, ".")
	if t == "" || whole == "" && frac == "" || strings.HasPrefix(whole, "-") || strings.HasPrefix(whole, "+") {
		return 0, fmt.Errorf("%q is not an amount in dollars such as 0.12", s)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("%q has more than six decimals", s)
	}
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseUint(whole, 10, 63)
	if err != nil || w > math.MaxInt64/1_000_000-1 {
		return 0, fmt.Errorf("%q is not an amount in dollars such as 0.12", s)
	}
	var f uint64
	if frac != "" {
		if f, err = strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 64); err != nil {
			return 0, fmt.Errorf("%q is not an amount in dollars such as 0.12", s)
		}
	}
	return Money(w*1_000_000 + f), nil
}

// String is the amount in dollars and cents, rounded half up ("$1,234.57");
// a positive amount under a cent is "<$0.01".
func (m Money) String() string {
	if m > 0 && m < 5_000 {
		return "<$0.01"
	}
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	cents := (int64(m) + 5_000) / 10_000
	whole := strconv.FormatInt(cents/100, 10)
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return fmt.Sprintf("%s$%s.%02d", sign, b.String(), cents%100)
}

// Decimal is the amount in dollars with every digit kept ("0.125"), as
// the API gives it.
func (m Money) Decimal() string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	s := fmt.Sprintf("%s%d.%06d", sign, m/1_000_000, m%1_000_000)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// Over is the cost of running at hourly rate m for d: exact to the
// micro-dollar (rounded half up), with 128-bit intermediate arithmetic so
// that a high rate over years does not overflow. A negative d costs
// nothing.
func (m Money) Over(d time.Duration) Money {
	if m <= 0 || d <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(m), uint64(d))
	const hour = uint64(time.Hour)
	// Rounded half up: (m*d + hour/2) / hour.
	lo, carry := bits.Add64(lo, hour/2, 0)
	hi += carry
	if hi >= hour { // the quotient would not fit 64 bits
		return Money(math.MaxInt64)
	}
	q, _ := bits.Div64(hi, lo, hour)
	if q > math.MaxInt64 {
		return Money(math.MaxInt64)
	}
	return Money(q)
}

// CostPolicy is a version's cost estimate: Hourly for every environment,
// plus ByParam[parameter][value] an hour for the values chosen (a "large"
// size costs more than a "small" one).
type CostPolicy struct {
	Hourly  Money                       `json:"hourly"`
	ByParam map[string]map[string]Money `json:"by_param,omitempty"`
}

// Rate is the hourly rate of an environment with these parameter values
// (a value the policy does not price adds nothing).
func (c *CostPolicy) Rate(params map[string]string) Money {
	if c == nil {
		return 0
	}
	r := c.Hourly
	for name, prices := range c.ByParam {
		if v, ok := params[name]; ok {
			r += prices[v]
		}
	}
	return min(r, MaxHourlyCost)
}

// MaxRate is the highest rate any choice of parameters gives.
func (c *CostPolicy) MaxRate() Money {
	if c == nil {
		return 0
	}
	r := c.Hourly
	for _, prices := range c.ByParam {
		var top Money
		for _, p := range prices {
			top = max(top, p)
		}
		r += top
	}
	return min(r, MaxHourlyCost)
}

// rawCost mirrors the template's cost field; amounts stay YAML nodes, read
// as decimal text (never through a float).
type rawCost struct {
	Hourly  yaml.Node                       `yaml:"hourly"`
	ByParam map[string]map[string]yaml.Node `yaml:"by_param"`
}

// cost validates a template's cost against its parameters: every amount a
// non-negative number of dollars, by_param naming declared, non-secret
// parameters and, for enums, their options.
func (v *validator) cost(raw rawCost, params []Param) *CostPolicy {
	c := &CostPolicy{}
	amount := func(field string, n yaml.Node) Money {
		if n.Kind != yaml.ScalarNode || n.Tag == "!!str" && strings.TrimSpace(n.Value) == "" {
			v.add(field, "must be an amount in dollars such as 0.12")
			return 0
		}
		m, err := ParseMoney(n.Value)
		if err != nil {
			v.add(field, err.Error())
			return 0
		}
		if m > MaxHourlyCost {
			v.add(field, fmt.Sprintf("%s an hour is more than the most accepted, %s", m, MaxHourlyCost))
			return 0
		}
		return m
	}
	if raw.Hourly.Kind == 0 {
		if len(raw.ByParam) == 0 {
			v.add("cost.hourly", "is required in cost (dollars an hour, such as 0.12)")
		}
	} else {
		c.Hourly = amount("cost.hourly", raw.Hourly)
	}
	for _, name := range slices.Sorted(maps.Keys(raw.ByParam)) {
		field := "cost.by_param." + name
		i := slices.IndexFunc(params, func(p Param) bool { return p.Name == name })
		if i < 0 {
			v.add(field, fmt.Sprintf("%q is not a parameter of this template", name))
			continue
		}
		p := params[i]
		if p.Secret {
			v.add(field, "a secret parameter cannot decide the cost")
			continue
		}
		prices := map[string]Money{}
		for _, value := range slices.Sorted(maps.Keys(raw.ByParam[name])) {
			vf := field + "." + value
			if p.Type == ParamEnum && !slices.Contains(p.Options, value) {
				v.add(vf, fmt.Sprintf("%q is not one of the options of %s (%s)", value, name, strings.Join(p.Options, ", ")))
				continue
			}
			norm, msg := p.normalize(value)
			if msg != "" {
				v.add(vf, fmt.Sprintf("%q is not a value of %s: %s", value, name, msg))
				continue
			}
			prices[norm] = amount(vf, raw.ByParam[name][value])
		}
		if c.ByParam == nil {
			c.ByParam = map[string]map[string]Money{}
		}
		c.ByParam[name] = prices
	}
	if c.MaxRate() >= MaxHourlyCost {
		v.add("cost", fmt.Sprintf("the highest rate is more than the most accepted, %s an hour", MaxHourlyCost))
	}
	return c
}

// encodeCost is a version's cost as stored ("" for none).
func encodeCost(c *CostPolicy) string {
	if c == nil {
		return ""
	}
	b, _ := json.Marshal(c) // plain maps and integers always marshal
	return string(b)
}

func decodeCost(s string) (*CostPolicy, error) {
	if s == "" {
		return nil, nil
	}
	var c CostPolicy
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return nil, fmt.Errorf("envs: cost %q: %w", s, err)
	}
	return &c, nil
}

// Why an environment was destroyed (environments.destroy_cause), for the
// cost pages and the savings page.
const (
	CauseTTL      = "ttl"      // the reaper: its TTL ran out
	CauseInactive = "inactive" // the inactivity policy
	CauseSchedule = "schedule" // its working hours ended
	CauseUser     = "user"     // someone destroyed it
	CauseSystem   = "system"   // Mayfly itself (a deprecation date)
)

// destroyCause is the cause of a destroy requested by actor (the name
// requestDestroy is given); a non-zero expiredAt is the reaper's TTL
// destroy, the reaper without one the inactivity policy's.
func destroyCause(actor string, expiredAt time.Time) string {
	switch {
	case actor == "reaper" && !expiredAt.IsZero():
		return CauseTTL
	case actor == "reaper":
		return CauseInactive
	case actor == "schedule":
		return CauseSchedule
	case actor == System.Name:
		return CauseSystem
	default:
		return CauseUser
	}
}

package envs_test

import (
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
)

func TestMoneyOverLongSpans(t *testing.T) {
	for _, tc := range []struct {
		name string
		rate string
		d    time.Duration
		want envs.Money
	}{
		{"an hour", "0.12", time.Hour, 120_000},
		{"a 31-day month at 12 cents", "0.12", 31 * 24 * time.Hour, 89_280_000},
		{"a year of 3600 seconds at a micro-dollar rate, no drift", "0.000001", 8760 * time.Hour, 8_760},
		{"ten years at the maximum rate does not overflow", "100000", 87600 * time.Hour, envs.Money(8_760_000_000) * 1_000_000},
		{"half a micro-dollar rounds up", "0.000001", 30 * time.Minute, 1},
		{"negative duration costs nothing", "1", -time.Hour, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rate, err := envs.ParseMoney(tc.rate)
			if err != nil {
				t.Fatal(err)
			}
			if got := rate.Over(tc.d); got != tc.want {
				t.Errorf("%s over %s = %d, want %d", tc.rate, tc.d, got, tc.want)
			}
		})
	}
}

func TestParseMoney(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want envs.Money
		bad  bool
	}{
		{"0.12", 120_000, false}, {"$1,250.50", 1_250_500_000, false}, {"40", 40_000_000, false},
		{"-1", 0, true}, {"0.1234567", 0, true}, {"abc", 0, true}, {"", 0, true},
	} {
		got, err := envs.ParseMoney(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseMoney(%q) = %d, %v; want %d, bad %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestParseSpecCost(t *testing.T) {
	base := "name: sized\nversion: 1.0.0\nkind: demo\nowner: tests\nprovider: local\nttl: {default: 1h, max: 2h}\n" +
		"parameters:\n  - {name: size, type: enum, options: [small, large]}\n  - {name: pw, type: string, secret: true}\nstack: {}\n"
	for _, tc := range []struct {
		name, cost, field string
	}{
		{"valid", "cost: {hourly: 0.12, by_param: {size: {small: 0.05, large: 0.40}}}\n", ""},
		{"negative", "cost: {hourly: -1}\n", "cost.hourly"},
		{"unknown parameter", "cost: {hourly: 1, by_param: {region: {eu: 1}}}\n", "cost.by_param.region"},
		{"not an option", "cost: {hourly: 1, by_param: {size: {huge: 1}}}\n", "cost.by_param.size.huge"},
		{"secret parameter", "cost: {hourly: 1, by_param: {pw: {x: 1}}}\n", "cost.by_param.pw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := envs.ParseSpec([]byte(base + tc.cost))
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := spec.Cost.Rate(map[string]string{"size": "large"}); got != 520_000 {
					t.Errorf("rate of large = %d, want 520000", got)
				}
				return
			}
			fields := envs.ErrorFields(err)
			if len(fields) == 0 || fields[0].Field != tc.field {
				t.Errorf("errors %v, want one on %s", fields, tc.field)
			}
		})
	}
}

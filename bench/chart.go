package bench

import (
	"fmt"
	"io"
)

// WriteReaperChart draws the reaper lag (p50, p99, max) per database as
// horizontal bars against the 2 s target, as SVG.
func WriteReaperChart(w io.Writer, r *Results) error {
	type bar struct {
		label string
		ms    float64
	}
	var bars []bar
	top := float64(targetReaperP99)
	for _, run := range r.Runs {
		if x := run.Reaper; x != nil {
			for _, b := range []bar{{run.Database + " p50", x.Lag.P50}, {run.Database + " p99", x.Lag.P99}, {run.Database + " max", x.Lag.Max}} {
				bars = append(bars, b)
				top = max(top, b.ms)
			}
		}
	}
	const left, width, rowH = 120, 480, 26
	height := 40 + rowH*len(bars) + 30
	scale := func(ms float64) float64 { return ms / top * width }
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+width+80, height)
	p(`<text x="10" y="20" font-weight="bold">Reaper lag, expires_at to destroying (ms)</text>` + "\n")
	for i, b := range bars {
		y := 35 + i*rowH
		p(`<text x="10" y="%d">%s</text>`+"\n", y+15, b.label)
		p(`<rect x="%d" y="%d" width="%.1f" height="18" fill="#4f6fad"/>`+"\n", left, y+2, scale(b.ms))
		p(`<text x="%.1f" y="%d">%.0f</text>`+"\n", left+scale(b.ms)+4, y+15, b.ms)
	}
	tx := left + scale(targetReaperP99)
	p(`<line x1="%.1f" y1="30" x2="%.1f" y2="%d" stroke="#c0392b" stroke-dasharray="4 3"/>`+"\n", tx, tx, height-25)
	p(`<text x="%.1f" y="%d" fill="#c0392b">target p99 %d ms</text>`+"\n", tx+4, height-10, targetReaperP99)
	p("</svg>\n")
	return nil
}

package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// BarChart is a grouped bar chart: one group of bars per entry of Groups,
// one bar per series in each group.
type BarChart struct {
	Title string
	// Unit labels the values ("QPS", "MB").
	Unit   string
	Groups []string
	Series []string
	// Values[g][s] is the bar of series s in group g; NaN draws Missing.
	Values [][]float64
	// Missing labels a NaN value (default "n/a").
	Missing string
	// Exact labels values as whole numbers instead of 1.2k.
	Exact bool
}

// chart layout in pixels.
const (
	chartHeight  = 330
	chartMarginL = 70
	chartMarginR = 20
	chartTop     = 50
	chartBottom  = 60
	lineHeight   = 14
)

// seriesColor returns the fill of series i.
func seriesColor(i int) color.RGBA {
	palette := [...]color.RGBA{
		{0x1f, 0x77, 0xb4, 0xff}, // blue
		{0xd6, 0x27, 0x28, 0xff}, // red
		{0xff, 0x7f, 0x0e, 0xff}, // orange
		{0x2c, 0xa0, 0x2c, 0xff}, // green
		{0x94, 0x67, 0xbd, 0xff}, // purple
		{0x8c, 0x56, 0x4b, 0xff}, // brown
	}
	return palette[i%len(palette)]
}

// WritePNG renders the charts one below the other into a PNG of the given
// width.
func WritePNG(w io.Writer, width int, charts []BarChart) error {
	img := image.NewRGBA(image.Rect(0, 0, width, chartHeight*len(charts)))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for i, c := range charts {
		drawBarChart(img, image.Rect(0, i*chartHeight, width, (i+1)*chartHeight), c)
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return nil
}

// drawBarChart draws c into the area r of img.
func drawBarChart(img *image.RGBA, r image.Rectangle, c BarChart) {
	black := color.RGBA{0, 0, 0, 0xff}
	grey := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	drawText(img, r.Min.X+chartMarginL, r.Min.Y+20, c.Title, black)

	// Legend on the title's second line.
	x := r.Min.X + chartMarginL
	for i, s := range c.Series {
		fillRect(img, image.Rect(x, r.Min.Y+28, x+10, r.Min.Y+38), seriesColor(i))
		drawText(img, x+14, r.Min.Y+37, s, black)
		x += 14 + textWidth(s) + 18
	}

	plot := image.Rect(r.Min.X+chartMarginL, r.Min.Y+chartTop, r.Max.X-chartMarginR, r.Max.Y-chartBottom)
	top := 0.0
	for _, g := range c.Values {
		for _, v := range g {
			if !math.IsNaN(v) {
				top = math.Max(top, v)
			}
		}
	}
	// Headroom for the label above the tallest bar.
	top *= 1.08
	step := niceStep(top / 5)
	top = math.Max(step*math.Ceil(top/step), step)
	yOf := func(v float64) int {
		return plot.Max.Y - int(float64(plot.Dy())*v/top+0.5)
	}
	for v := 0.0; v <= top+step/2; v += step {
		y := yOf(v)
		fillRect(img, image.Rect(plot.Min.X, y, plot.Max.X, y+1), grey)
		label := c.label(v)
		drawText(img, plot.Min.X-6-textWidth(label), y+4, label, black)
	}
	drawText(img, r.Min.X+4, plot.Min.Y-6, c.Unit, black)
	fillRect(img, image.Rect(plot.Min.X, plot.Min.Y, plot.Min.X+1, plot.Max.Y+1), black)
	fillRect(img, image.Rect(plot.Min.X, plot.Max.Y, plot.Max.X, plot.Max.Y+1), black)

	if len(c.Groups) == 0 || len(c.Series) == 0 {
		return
	}
	groupW := plot.Dx() / len(c.Groups)
	barW := max((groupW-24)/len(c.Series), 2)
	for gi, g := range c.Groups {
		gx := plot.Min.X + gi*groupW + 12
		for si := range c.Series {
			bx := gx + si*barW
			v := math.NaN()
			if si < len(c.Values[gi]) {
				v = c.Values[gi][si]
			}
			label := c.Missing
			if label == "" {
				label = "n/a"
			}
			if !math.IsNaN(v) {
				fillRect(img, image.Rect(bx+2, yOf(v), bx+barW-2, plot.Max.Y), seriesColor(si))
				label = c.label(v)
			}
			lx := bx + (barW-textWidth(label))/2
			ly := yOf(0) - 4
			if !math.IsNaN(v) {
				ly = yOf(v) - 4
			}
			drawText(img, lx, ly, label, black)
		}
		drawText(img, gx+(len(c.Series)*barW-textWidth(g))/2, plot.Max.Y+18, g, black)
	}
}

// label formats a value for the chart.
func (c BarChart) label(v float64) string {
	if c.Exact {
		return fmt.Sprintf("%.0f", v)
	}
	return humanValue(v)
}

// niceStep rounds a raw axis step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// humanValue prints v compactly: 1.2k, 35k, 120M.
func humanValue(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case a >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case a >= 10 || a == 0:
		return fmt.Sprintf("%.0f", v)
	default:
		return trimZero(fmt.Sprintf("%.2f", v))
	}
}

// trimZero drops a trailing ".0" / "0".
func trimZero(s string) string {
	for len(s) > 1 && s[len(s)-1] == '0' && containsDot(s) {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

// containsDot reports whether s has a decimal point.
func containsDot(s string) bool {
	for i := range len(s) {
		if s[i] == '.' {
			return true
		}
	}
	return false
}

// fillRect paints r with c.
func fillRect(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// drawText writes s with its baseline starting at (x, y).
func drawText(img *image.RGBA, x, y int, s string, c color.Color) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// textWidth is the width of s in pixels.
func textWidth(s string) int {
	return font.MeasureString(basicfont.Face7x13, s).Ceil()
}

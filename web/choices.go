package web

// optionLabel is what a select shows for one option.
func optionLabel(p ParamView, opt string) string {
	if l := p.OptionLabels[opt]; l != "" {
		return l
	}
	return opt
}

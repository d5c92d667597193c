package web

// The audit table is a table from md up; below, each entry is a card of
// lines, each cell led by its column's name (data-label), so it fits a
// phone without scrolling sideways.
const (
	auditTable = "block w-full text-sm md:table md:min-w-[44rem]"
	auditRow   = "block py-2 align-top hover:bg-zinc-50/70 md:table-row md:py-0"
	auditCell  = "block px-4 py-0.5 break-words md:table-cell md:py-3 max-md:before:mr-2 max-md:before:font-sans max-md:before:text-xs max-md:before:text-zinc-400 max-md:before:content-[attr(data-label)]"
)

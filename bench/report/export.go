package report

import "time"

// FormatDuration formats d the way the report's tables do, such as "1.2ms".
func FormatDuration(d time.Duration) string { return fmtDuration(d) }

// FormatBytes formats n bytes the way the report's tables do, such as
// "2.4 KiB".
func FormatBytes(n int64) string { return fmtBytes(n) }

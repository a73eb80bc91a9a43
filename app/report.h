// The training report: OUT/report.html from OUT/log.jsonl (and the run's
// configuration record in it), one self-contained page with inline SVG
// charts: loss, learning rate, gradient norm before clipping (log scale),
// throughput, dev metrics, and for sparse maps the fraction of exact zeros
// per layer, all against steps.  ./finetune writes it after every
// evaluation and at the end; ./report OUT rewrites it at any time.
#ifndef APP_REPORT_H
#define APP_REPORT_H

#include "util/err.h"

// Reads run_dir/log.jsonl (and run_dir/results.json if present) and writes
// run_dir/report.html atomically.
int report_write(const char *run_dir, Err *err);

#endif

// libFuzzer harness: the task loaders (tasks/table.h, tasks/task.h) on an
// arbitrary data file.  The first two bytes are settings, the rest is the
// file.  Byte 0:
//   bit 0   CSV (',') instead of TSV ('\t')      bit 1  the file has a header
//   bit 2   regression                           bit 3  a second text column
//   bit 4   --labels given ("neg,pos")           bit 5  skip bad rows
//   bit 6   a GLUE task instead of a custom one  bit 7  pass an id2label
// Byte 1 picks the GLUE task and split.  The file is read record by record
// with table_next, then loaded as the task's split; every example loaded
// must have its texts and a label in range.
#include "fuzz/fuzz.h"  // first: it sets _GNU_SOURCE

#include <stdbool.h>
#include <stdlib.h>

#include "tasks/table.h"
#include "tasks/task.h"

static const char *const GLUE_NAMES[] = {"cola", "sst2",    "mrpc", "stsb", "qqp",
                                         "mnli", "mnli-mm", "qnli", "rte",  "wnli"};
#define NUM_GLUE (int)(sizeof GLUE_NAMES / sizeof GLUE_NAMES[0])
static const char *const ID2LABEL[] = {"CONTRADICTION", "NEUTRAL", "ENTAILMENT"};

static void read_table(const char *path, char sep) {
    Err err;
    Table *t = table_open(path, sep, &err);
    if (!t) return;
    TableRecord rec;
    while (table_next(t, &rec, &err) == 1)
        for (int i = 0; i < rec.nfields; i++) (void)strlen(rec.fields[i]);
    table_close(t);
}

static void load_split(const Task *task, int split, bool skip) {
    Err err;
    BadRowCounts bad;
    Dataset *ds = task_load(task, split, skip, &bad, &err);
    if (!ds) return;
    for (int i = 0; i < dataset_size(ds); i++) {
        const Example *e = dataset_example(ds, i);
        if (!e->text_a || e->label >= task_num_outputs(task) || e->line < 1) abort();
        (void)strlen(e->text_a);
        if (e->text_b) (void)strlen(e->text_b);
    }
    dataset_free(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    uint8_t flags = data[0], pick = data[1];
    data += 2, size -= 2;
    char sep = flags & 1 ? ',' : '\t';
    bool header = flags & 2, regression = flags & 4, pair = flags & 8, labels = flags & 16;
    bool skip = flags & 32, glue = flags & 64;
    const char *const *id2label = flags & 128 ? ID2LABEL : NULL;
    int num_id2label = id2label ? 3 : 0;
    Err err;
    char root[512], path[512];
    fuzz_path(root, sizeof root, "glue");
    Task *task;
    int split = 0;
    if (glue) {
        task = task_glue(GLUE_NAMES[pick % NUM_GLUE], root, id2label, num_id2label, &err);
        if (!task && !id2label) abort();  // the names are all valid
        if (!task) return 0;              // the id2label does not fit the task
        split = pick / NUM_GLUE % task_num_splits(task);
        const char *p = task_split_path(task, split);
        fuzz_write(p + strlen(fuzz_dir()) + 1, data, size);
        read_table(p, '\t');
        load_split(task, split, skip);
        fuzz_remove(p + strlen(fuzz_dir()) + 1);
    } else {
        fuzz_write("custom.txt", data, size);
        fuzz_path(path, sizeof path, "custom.txt");
        read_table(path, sep);
        CustomTaskOptions o = {.train = path,
                               .text_a = header ? "a" : "0",
                               .text_b = pair ? (header ? "b" : "1") : NULL,
                               .label = header ? "label" : "2",
                               .header = header,
                               .separator = sep,
                               .regression = regression,
                               .labels = labels ? "neg,pos" : NULL};
        task = task_custom(&o, id2label, num_id2label, &err);
        if (task)
            for (int s = 0; s < task_num_splits(task); s++) load_split(task, s, skip);
    }
    task_free(task);
    return 0;
}

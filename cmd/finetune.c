// ./finetune: fine-tunes a Hugging Face BERT-family encoder on a GLUE or
// custom task.  Options are parsed here; everything else is train/.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/options.h"
#include "app/finetune.h"
#include "util/fileio.h"

static const char usage[] =
    "usage: ./finetune --model DIR --task NAME [--data-dir DIR] [--out DIR] [--epochs 3]\n"
    "                  [--batch-size 32] [--lr 2e-5] [--warmup 0.1] [--weight-decay 0.01]\n"
    "                  [--clip 1.0] [--max-len 128] [--seed 42] [--dropout P]\n"
    "                  [--optim adamw|sgd] [--max-steps N] [--eval-every N] [--resume]\n"
    "                  [--attn softmax|rsoftmax|sparsemax|entmax15 [--r R]] ...\n"
    "Writes OUT/last and OUT/best (Hugging Face directories with optimizer and trainer\n"
    "state), OUT/log.jsonl (every step and evaluation) and OUT/results.json.";

int main(int argc, char **argv) {
    file_size_limit_as_error();
    TrainOptions o = {
        .data = {.data_dir = "data/glue", .max_len = 128, .batch_size = 32},
        .out_dir = "runs/finetune",
        .epochs = 3,
        .lr = 2e-5f,
        .warmup = 0.1f,
        .weight_decay = 0.01f,
        .clip = 1.0f,
        .seed = 42,
        .log_every = 10,
        .save_every = 500,
    };
    CliSessionExtras x = {.separator = "tab"};
    const char *optim = "adamw";
    int threads = omp_get_max_threads();
    CliOption opts[CLI_SESSION_ROWS + 20];
    int n = cli_session_rows(&o.data, &x, opts);
    const CliOption own[] = {
        {"out", CLI_STRING, &o.out_dir, "DIR", "output directory", NULL},
        {"epochs", CLI_INT, &o.epochs, "N", "passes over the training set", NULL},
        {"lr", CLI_FLOAT, &o.lr, "LR", "peak learning rate", NULL},
        {"warmup", CLI_DOUBLE, &o.warmup, "FRAC", "linear warmup over this fraction of the steps, then linear decay to 0", NULL},
        {"weight-decay", CLI_FLOAT, &o.weight_decay, "WD", "decoupled weight decay (not on biases and LayerNorm)", NULL},
        {"clip", CLI_FLOAT, &o.clip, "NORM", "global gradient-norm clipping; 0 turns it off", NULL},
        {"seed", CLI_U64, &o.seed, "N", "seed of data order, dropout and new heads", NULL},
        {"dropout", CLI_FLOAT, &o.dropout, "P", "hidden, attention and classifier dropout", &o.dropout_given, "the checkpoint's config"},
        {"optim", CLI_STRING, &optim, "NAME", "adamw or sgd", NULL},
        {"max-steps", CLI_LONG, &o.max_steps, "N", "train exactly N steps (overrides --epochs); 0 = epochs decide", NULL},
        {"eval-every", CLI_LONG, &o.eval_every, "N", "also evaluate on dev every N steps; 0 = at epoch ends only", NULL},
        {"save-every", CLI_LONG, &o.save_every, "N", "also write OUT/last every N steps; 0 = epoch ends only", NULL},
        {"stop-after", CLI_LONG, &o.stop_after, "N", "stop after step N of the schedule (OUT/last is written); 0 = run to the end", NULL},
        {"log-every", CLI_LONG, &o.log_every, "N", "progress line every N steps", NULL},
        {"resume", CLI_FLAG, &o.resume, NULL, "continue the run in OUT/last (same options)", NULL},
        {"threads", CLI_INT, &threads, "N", "OpenMP and BLAS threads", NULL},
    };
    memcpy(opts + n, own, sizeof own);
    n += (int)(sizeof own / sizeof own[0]);
    Err err;
    int rc = cli_parse(argc, argv, opts, n, usage, &err);
    if (rc == 1) return 0;
    if (rc == 0) rc = cli_finish_session(&o.data, &x, &err);
    if (rc == 0) {
        if (strcmp(optim, "adamw") == 0)
            o.optim = OPTIM_ADAMW;
        else if (strcmp(optim, "sgd") == 0)
            o.optim = OPTIM_SGD;
        else
            rc = err_set(&err, "--optim %s: expected adamw or sgd", optim);
    }
    if (rc == 0 && (o.epochs < 1 || o.lr <= 0 || o.warmup < 0 || o.warmup > 1 || o.weight_decay < 0 ||
                    o.clip < 0 || o.max_steps < 0 || o.eval_every < 0 || o.save_every < 0 ||
                    o.stop_after < 0 || o.log_every < 1 || threads < 1))
        rc = err_set(&err, "bad value: need --epochs >= 1, --lr > 0, --warmup in [0, 1], "
                           "--weight-decay >= 0, --clip >= 0, --log-every >= 1, --threads >= 1 "
                           "and non-negative step counts");
    if (rc == 0 && o.dropout_given && (o.dropout < 0 || o.dropout >= 1))
        rc = err_set(&err, "--dropout %g: expected a probability in [0, 1)", o.dropout);
    if (rc == 0) {
        bert_set_threads(threads);
        rc = finetune_run(&o, &err);
    }
    if (rc != 0) {
        fprintf(stderr, "finetune: %s\n", err.msg);
        return 1;
    }
    return 0;
}

// ./finetune: fine-tunes a Hugging Face BERT-family encoder on a GLUE or
// custom task.  Options are parsed here; everything else is train/.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/options.h"
#include "app/finetune.h"
#include "app/run_config.h"
#include "util/fileio.h"

static const char about[] =
    "Fine-tunes a Hugging Face BERT-family encoder on a GLUE or custom task.  Writes OUT/last and\n"
    "OUT/best (Hugging Face directories with optimizer and trainer state), OUT/log.jsonl (every\n"
    "step and evaluation) and OUT/results.json.";

int main(int argc, char **argv) {
    file_size_limit_as_error();
    Dist dist;
    Err err;
    if (dist_init(&dist, &argc, &argv, &err) != 0) {
        fprintf(stderr, "finetune: %s\n", err.msg);
        return 1;
    }
    TrainOptions o = {
        .data = CLI_SESSION_DEFAULTS,
        .out_dir = "runs/finetune",
        .epochs = 3,
        .lr = 5e-5f,
        .warmup = 0.1f,
        .weight_decay = 0.01f,
        .clip = 1.0f,
        .seed = 42,
        .log_every = 10,
        .save_every = 500,
        .grad_accum = 1,
        .dist = &dist,
    };
    CliSessionExtras x = {.separator = "tab"};
    const char *optim = "adamw", *config = NULL;
    int threads = omp_get_max_threads();
    cli_session_rows(&o.data, &x);
    const CliOption own[] = {
        {"out", CLI_STRING, &o.out_dir, "DIR", "output directory"},
        {"epochs", CLI_INT, &o.epochs, "N", "passes over the training set", .range = CLI_AT_LEAST(1)},
        {"lr", CLI_FLOAT, &o.lr, "LR", "peak learning rate", .range = CLI_ABOVE(0)},
        {"warmup", CLI_DOUBLE, &o.warmup, "FRAC", "linear warmup over this fraction of the steps, then linear decay to 0", .range = CLI_IN(0, 1)},
        {"weight-decay", CLI_FLOAT, &o.weight_decay, "WD", "decoupled weight decay (not on biases and LayerNorm)", .range = CLI_AT_LEAST(0)},
        {"clip", CLI_FLOAT, &o.clip, "NORM", "global gradient-norm clipping; 0 turns it off", .range = CLI_AT_LEAST(0)},
        {"seed", CLI_U64, &o.seed, "N", "seed of data order, dropout and new heads"},
        {"dropout", CLI_FLOAT, &o.dropout, "P", "hidden, attention and classifier dropout", &o.dropout_given, "the checkpoint's config", .range = CLI_IN_HALF_OPEN(0, 1)},
        {"optim", CLI_STRING, &optim, "NAME", "adamw or sgd"},
        {"max-steps", CLI_LONG, &o.max_steps, "N", "train exactly N steps (overrides --epochs); 0 = epochs decide", .range = CLI_AT_LEAST(0)},
        {"eval-every", CLI_LONG, &o.eval_every, "N", "also evaluate on dev every N steps; 0 = at epoch ends only", .range = CLI_AT_LEAST(0)},
        {"save-every", CLI_LONG, &o.save_every, "N", "also write OUT/last every N steps; 0 = epoch ends only", .range = CLI_AT_LEAST(0)},
        {"stop-after", CLI_LONG, &o.stop_after, "N", "stop after step N of the schedule (OUT/last is written); 0 = run to the end", .range = CLI_AT_LEAST(0)},
        {"log-every", CLI_LONG, &o.log_every, "N", "progress line every N steps", .range = CLI_AT_LEAST(1)},
        {"resume", CLI_FLAG, &o.resume, NULL, "continue the run in OUT/last (same options)"},
        CLI_THREADS_ROW(&threads),
        {"grad-accum", CLI_INT, &o.grad_accum, "K", "micro-batches per optimizer step: --batch-size is split over ranks x K", .range = CLI_AT_LEAST(1)},
        {"patience", CLI_INT, &o.patience, "N", "stop after N dev evaluations in a row without an improvement of more than --min-delta; 0 = never", .range = CLI_AT_LEAST(0)},
        {"min-delta", CLI_DOUBLE, &o.min_delta, "D", "the improvement of --metric-for-best that resets --patience", .range = CLI_AT_LEAST(0)},
        {"config", CLI_STRING, &config, "FILE.json", "options from a JSON object (keys as these options, or a checkpoint's trainer_state.json run_config); the command line overrides it"},
        {"metric-for-best", CLI_STRING, &o.metric_for_best, "NAME", "dev metric that picks OUT/best and drives --patience (accuracy, f1, matthews, pearson, spearman, micro_f1, macro_f1, exact_set; higher is better)", .default_text = "the task's primary score"},
    };
    const CliTable tables[] = {{x.rows, x.num_rows}, CLI_TABLE(own)};
    const CliCommand cmd = {"./finetune", about, CLI_FINETUNE, x.maps, cli_session_task_bits, &o.data};
    int nargs;
    char **args;
    int rc = config_expand_args(argc, argv, tables, CLI_COUNT(tables), &nargs, &args, &err);
    if (rc == 0) rc = cli_parse(nargs, args, &cmd, tables, CLI_COUNT(tables), &err);
    if (rc == 1) {
        config_args_free(nargs, args, argv);
        dist_finalize(&dist);
        return 0;
    }
    if (rc == 0) rc = cli_finish_session(&o.data, &x, &err);
    if (rc == 0) {
        if (strcmp(optim, "adamw") == 0)
            o.optim = OPTIM_ADAMW;
        else if (strcmp(optim, "sgd") == 0)
            o.optim = OPTIM_SGD;
        else
            rc = err_set(&err, "--optim %s: expected adamw or sgd", optim);
    }
    if (rc == 0) {
        bert_set_threads(threads);
        rc = finetune_run(&o, &err);
    }
    config_args_free(nargs, args, argv);
    return dist_exit("finetune", &dist, rc, &err);
}

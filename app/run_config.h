// --config FILE.json: a JSON object whose keys are the command's long
// options ("max-len" or "max_len"), or a trainer_state.json's run_config
// (so a checkpoint's run can be repeated exactly).  The file's options go
// before the command line's, so flags override the file.  Values: strings,
// numbers (written back with 17 digits: they read back exactly), true for a
// flag (false: the flag is left off).  run_config's own keys map to options
// through one table in app/run_config.c (train_file -> train, the three
// dropout rates -> dropout when equal, r only with a map that takes it).
#ifndef APP_RUN_CONFIG_H
#define APP_RUN_CONFIG_H

#include "app/options.h"
#include "util/err.h"

// When argv has --config FILE (or --config=FILE): *out_argc / *out_argv
// (caller frees with config_args_free) hold argv[0], the file's options,
// then the rest of argv.  Otherwise they are argc / argv unchanged.  Keys
// that are not options of the tables are errors naming the file and key.
int config_expand_args(int argc, char **argv, const CliTable *tables, int num_tables,
                       int *out_argc, char ***out_argv, Err *err);
void config_args_free(int argc, char **argv, char **original);

#endif

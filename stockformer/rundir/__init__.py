"""The one reader and writer of run directories `runs/<id>/`.

The trainer writes a run through it (config, universe, predictions, metrics), the backtest and
the daily job load it with `load_run`, the dashboard lists and opens it with `list_runs` /
`open_run`. Binary artifacts keep their own serialisers (the graph's `StockGraph.save/load`,
torch state dicts), at the paths named here.

- layout.py: file names, member folders of a seed ensemble, run folder naming, path safety;
- stored_config.py: config.yaml with its input paths absolute, readable from any folder;
- files.py: the run's JSON / Parquet files and the weights' hash;
- info.py: `RunInfo` and the readers;
- tune.py: a `stockformer tune` folder (trials table, best config).
"""

from stockformer.rundir.files import write_metrics, write_predictions, write_universe
from stockformer.rundir.info import (
    COMPARISON,
    EXTERNAL,
    TRAINED,
    TUNE,
    RunInfo,
    latest_run,
    list_runs,
    load_run,
    mtime_of,
    open_run,
    run_kind,
    run_warnings,
)
from stockformer.rundir.layout import (
    BACKTEST_DIR,
    COMPARISON_FILE,
    CONFIG_FILE,
    DAILY_IC_FILE,
    EXTERNAL_NAME,
    FEATURES_FILE,
    GRAPH_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PREDICTIONS_FILE,
    SIGNAL_FILE,
    SUMMARY_FILE,
    SYMBOLS_FILE,
    ensemble_size,
    external_run_dir,
    is_external_name,
    member_dir,
    member_model_paths,
    new_run_dir,
    safe_child,
    safe_run_path,
)
from stockformer.rundir.stored_config import absolute_inputs, load_run_config, save_run_config
from stockformer.rundir.tune import (
    BEST_CONFIG_FILE,
    SPACE_FILE,
    STUDY_FILE,
    TRIALS_FILE,
    read_trials,
    write_best_config,
    write_trials,
)

__all__ = [
    "BACKTEST_DIR",
    "BEST_CONFIG_FILE",
    "COMPARISON",
    "COMPARISON_FILE",
    "CONFIG_FILE",
    "DAILY_IC_FILE",
    "EXTERNAL",
    "EXTERNAL_NAME",
    "FEATURES_FILE",
    "GRAPH_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "PREDICTIONS_FILE",
    "SIGNAL_FILE",
    "SPACE_FILE",
    "STUDY_FILE",
    "SUMMARY_FILE",
    "SYMBOLS_FILE",
    "TRAINED",
    "TRIALS_FILE",
    "TUNE",
    "RunInfo",
    "absolute_inputs",
    "ensemble_size",
    "external_run_dir",
    "is_external_name",
    "latest_run",
    "list_runs",
    "load_run",
    "load_run_config",
    "member_dir",
    "member_model_paths",
    "mtime_of",
    "new_run_dir",
    "open_run",
    "read_trials",
    "run_kind",
    "run_warnings",
    "safe_child",
    "safe_run_path",
    "save_run_config",
    "write_metrics",
    "write_best_config",
    "write_predictions",
    "write_trials",
    "write_universe",
]

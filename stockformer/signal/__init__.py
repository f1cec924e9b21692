"""The ground floor of the domain: what a signal is and how it is scored.

- metrics.py: IC, RankIC, IR, t-stats, accuracy beside the majority rate, hit rate, quantiles
  (the definitions); fast_metrics.py: the same in one sort per day, for the backtest's grids;
  decay.py: IC decay over longer lags.
- trade_output.py: which model output is traded (regression, classification, blend), chosen
  on validation; ensemble.py: how seed-ensemble members combine into one score.
- predictions.py: the predictions table contract.

Every stage may import from here; nothing here imports a stage above (tests/test_architecture.py).
Submodules are imported by name (fast_metrics compiles numba kernels: not on every import).
"""

"""Baseline models with the same batch interface as Stockformer, plus non-learned references.

Neural baselines map a batch to `reg [B,T2,N]` and `logits [B,T2,N,2]` so the one trainer,
loss and predict path serve them all. LightGBM and the momentum / reversal scores are fitted
(or not fitted) outside torch: see `nonneural.py`.
"""

from stockformer.model.baselines.neural import NEURAL_BASELINES, build_baseline
from stockformer.model.baselines.nonneural import NON_NEURAL, fit_predict_nonneural

__all__ = ["NEURAL_BASELINES", "NON_NEURAL", "build_baseline", "fit_predict_nonneural"]

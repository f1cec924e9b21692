"""Collapse warning: a traded score whose cross-sectional spread is negligible against the
label's carries no usable ordering, whatever its IC says (its top-k is close to arbitrary).

Dense [days, stocks] arrays with a validity mask, like train/metrics.py.
"""

from __future__ import annotations

import numpy as np

# The MSE-optimal predictor's cross-sectional std is about IC x the label's std, so its
# dispersion ratio is about its IC: below 1% a score carries no usable ordering. (A real case:
# a regression head whose cross-sectional std was 5e-5 against a label std of ~1.5e-2.)
COLLAPSE_THRESHOLD = 0.01

# which outputs each traded output is made of (the blend z-scores each day, which would hide
# a collapsed component, so both are checked)
COMPONENTS = {
    "regression": ("regression",),
    "classification": ("classification",),
    "blend": ("regression", "classification"),
}


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None  # metrics.json stays strict JSON


def _row_std(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Per-day population std over the `ok` cells (NaN where fewer than 2)."""
    n = ok.sum(1)
    v = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = v.sum(1) / n
        var = (np.where(ok, v - mean[:, None], 0.0) ** 2).sum(1) / n
    out = np.sqrt(var)
    out[n < 2] = np.nan
    return out


def collapse_diagnostic(score: np.ndarray, labels: np.ndarray, mask: np.ndarray, *,
                        threshold: float = COLLAPSE_THRESHOLD) -> dict:
    """Median over days of the score's and the label's cross-sectional std over valid cells
    (mask & finite), their ratio, and `collapsed` (ratio < threshold, or a score with no finite
    spread on any day). Nothing to judge (no day with 2 valid labels): not collapsed."""
    score = np.asarray(score, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    has_label = np.asarray(mask, dtype=bool) & np.isfinite(labels)
    label_std = _row_std(labels, has_label)
    days = np.isfinite(label_std)
    score_std = _row_std(score, has_label & np.isfinite(score))[days]
    label_disp = float(np.median(label_std[days])) if days.any() else float("nan")
    spread = np.isfinite(score_std) & (score_std > 0)
    if not days.any():
        score_disp, collapsed = float("nan"), False
    elif not spread.any():  # constant or non-finite on every day
        score_disp, collapsed = 0.0, True
    else:
        score_disp = float(np.median(np.where(np.isfinite(score_std), score_std, 0.0)))
        collapsed = False
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = score_disp / label_disp if label_disp > 0 else float("nan")
    collapsed = bool(collapsed or (np.isfinite(ratio) and ratio < threshold))
    return {
        "ratio": _finite_or_none(ratio),
        "score_dispersion": _finite_or_none(score_disp),
        "label_dispersion": _finite_or_none(label_disp),
        "days": int(days.sum()),
        "collapsed": collapsed,
    }


def trade_output_collapse(trade_output: str, pred_return: np.ndarray, prob_up: np.ndarray,
                          labels: np.ndarray, mask: np.ndarray, *,
                          threshold: float = COLLAPSE_THRESHOLD) -> dict:
    """collapse_diagnostic of each component of the traded output. The regression output is
    judged against the label; the probability against the up/down indicator it predicts
    (label > 0), its own target, so the ratio means the same for both."""
    if trade_output not in COMPONENTS:
        raise ValueError(f"unknown trade output {trade_output!r} (known: {', '.join(COMPONENTS)})")
    labels = np.asarray(labels, dtype=np.float64)
    targets = {
        "regression": (pred_return, labels),
        "classification": (prob_up, np.where(np.isfinite(labels), (labels > 0).astype(np.float64), np.nan)),
    }
    components = {
        name: collapse_diagnostic(*targets[name], mask, threshold=threshold)
        for name in COMPONENTS[trade_output]
    }
    return {
        "trade_output": trade_output,
        "collapsed": any(c["collapsed"] for c in components.values()),
        "components": components,
        "threshold": threshold,
    }


def collapse_warnings(diag: dict, period: str = "test") -> list[str]:
    """One human line per collapsed component of a trade_output_collapse result."""
    out = []
    trade_output = diag.get("trade_output", "?")
    for name, c in (diag.get("components") or {}).items():
        if not c.get("collapsed"):
            continue
        ratio = c.get("ratio")
        share = f"{ratio:.2%} of the label's" if isinstance(ratio, float) else "zero"
        which = f"{trade_output} output" if name == trade_output else f"{name} component of the {trade_output} output"
        out.append(
            f"warning: the traded score has collapsed on the {period} period: its cross-sectional "
            f"dispersion is {share} ({which}); its picks are close to arbitrary"
        )
    return out

"""An embedded, deterministic, A-share-like daily market with planted learnable structure.

Return of stock i on day t (all terms known at t-1 except the shocks):
    r = beta_i * m_t + g_i * f_{ind(i),t}          market + industry factors (GARCH, student-t)
        + mu_{t-1,i}                                slow drift, AR(1) with phi ~ 0.98
        - sum_k a_k * e_{t-k,i}                     short-term reversal of idiosyncratic shocks
        + sum_l c_l * e_{t-l,leader(ind(i))}        industry lead-lag (followers only)
        + e_{t,i}                                   idiosyncratic shock (GARCH, t, jumps)
The reversal spreads over 5 days and the lead-lag over 2, so an oracle that knows day t also
predicts the label return t+1 -> t+2. Closes are clipped at +-10% of the previous close
(flagged limit_up / limit_down); suspended stocks have no rows; late listings start later.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from stockformer.data.store import save_dataset
from stockformer.data.validate import validate
from stockformer.signal.metrics import daily_rank_ic

INDUSTRIES: tuple[str, ...] = (
    "Banks", "Tech", "Healthcare", "Consumer", "Energy", "Materials", "Industrials", "Utilities",
    "Real Estate", "Telecom", "Autos", "Insurance", "Media", "Agriculture", "Transport",
)

_PHI = 0.98  # drift persistence
_MU_SD = 0.0022  # stationary std of the daily drift
_REV = 0.08 * 0.75 ** np.arange(5)  # reversal weights on e_{t-1} .. e_{t-5}
_LEADLAG = np.array([0.10, 0.067])  # follower loads on leader shocks at lags 1, 2
_T_DF = 4.0
_LIMIT = 0.10
_JUMP_P = 0.002
_JUMP_SD = 0.06


@dataclass
class SyntheticMarket:
    """The panel plus the planted truth, on a dense [days, stocks] grid."""

    panel: pl.DataFrame
    dates: np.ndarray  # [T] datetime64[D]
    symbols: list[str]
    present: np.ndarray  # [T, N] bool: a row exists
    close: np.ndarray  # [T, N] float64 (NaN where no row)
    expected_next: np.ndarray  # [T, N] E[r_{t+1} | info at t]
    expected_label: np.ndarray  # [T, N] E[r_{t+2} | info at t] (label close t+1 -> t+2)


def _business_days(start: date, days: int) -> np.ndarray:
    first = np.busday_offset(np.datetime64(start, "D"), 0, roll="forward")
    return np.busday_offset(first, np.arange(days), roll="forward")


def _garch_step(var: np.ndarray, shock: np.ndarray, uncond: np.ndarray) -> np.ndarray:
    # GARCH(1,1) with persistence 0.97, mean-reverting to `uncond`
    return 0.03 * uncond + 0.08 * shock**2 + 0.89 * var


def simulate_market(
    stocks: int = 300,
    days: int = 1500,
    seed: int = 0,
    start: date = date(2016, 1, 4),
    *,
    progress: bool = False,
) -> SyntheticMarket:
    """Simulate the market; `generate_market` returns only its panel."""
    if stocks < 2 or days < 2:
        raise ValueError("simulate_market needs at least 2 stocks and 2 days")
    rng = np.random.default_rng(seed)
    n, t_len = stocks, days
    dates = _business_days(start, t_len)
    # sorted, so the row-major [T, N] order is the panel's (date, symbol) order
    symbols = sorted(f"{600000 + i:06d}.SH" if i % 2 == 0 else f"{i:06d}.SZ" for i in range(n))

    # static characteristics
    n_ind = int(np.clip(round(n / 8), 1, len(INDUSTRIES)))
    industry = rng.integers(0, n_ind, n)
    industry[:n_ind] = np.arange(n_ind)  # every industry has at least one stock
    beta = rng.uniform(0.6, 1.4, n)
    gload = rng.uniform(0.5, 1.5, n)
    idio_sd = rng.uniform(0.012, 0.03, n)
    shares = np.exp(rng.normal(20.0, 1.0, n))  # ~5e8 shares, lognormal
    base_volume = shares * np.exp(rng.normal(-4.5, 0.5, n))  # ~1% daily turnover
    price0 = np.exp(rng.normal(2.6, 0.6, n))

    # listings: ~15% list later, never the first stock of an industry (the leader)
    list_day = np.zeros(n, dtype=np.int64)
    late = rng.random(n) < 0.15
    late[:n_ind] = False
    list_day[late] = rng.integers(1, max(2, t_len // 2), late.sum())
    leader = np.arange(n_ind)[industry]  # leader of each stock's industry
    follower = leader != np.arange(n)

    # suspensions: ~5% of stocks get 1-3 spells of 2-10 days
    suspended = np.zeros((t_len, n), dtype=bool)
    for i in np.flatnonzero(rng.random(n) < 0.05):
        for _ in range(rng.integers(1, 4)):
            s0 = rng.integers(list_day[i] + 1, t_len) if list_day[i] + 1 < t_len else t_len
            suspended[s0 : s0 + rng.integers(2, 11), i] = True

    present = (np.arange(t_len)[:, None] >= list_day[None, :]) & ~suspended
    out = {k: np.full((t_len, n), np.nan) for k in ("open", "high", "low", "close", "vwap", "volume")}
    lim_up = np.zeros((t_len, n), dtype=bool)
    lim_dn = np.zeros((t_len, n), dtype=bool)
    exp_next = np.full((t_len, n), np.nan)
    exp_label = np.full((t_len, n), np.nan)

    t_scale = np.sqrt((_T_DF - 2) / _T_DF)  # unit-variance student-t
    m_unc, f_unc, e_unc = 0.012**2, 0.008**2, idio_sd**2
    m_var, f_var, e_var = m_unc, np.full(n_ind, f_unc), e_unc.copy()
    m_prev, f_prev, e_prev = 0.0, np.zeros(n_ind), np.zeros(n)
    mu = rng.normal(0.0, _MU_SD, n)
    e_hist = np.zeros((len(_REV), n))  # e_{t-1}, e_{t-2}, ...
    prev_close = price0.copy()
    vol_state = np.zeros(n)  # persistent log-volume deviation
    n_rev, n_ll = len(_REV), len(_LEADLAG)

    steps: Iterable[int] = range(t_len)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="simulating", unit="day", leave=False)
    for t in steps:
        # predictable part of today's return, fixed by information up to t-1
        pred = mu - _REV @ e_hist + follower * (_LEADLAG @ e_hist[:n_ll, leader])
        m_var = _garch_step(m_var, m_prev, m_unc)
        f_var = _garch_step(f_var, f_prev, f_unc)
        e_var = _garch_step(e_var, e_prev, e_unc)
        m = np.sqrt(m_var) * t_scale * rng.standard_t(_T_DF)
        f = np.sqrt(f_var) * t_scale * rng.standard_t(_T_DF, n_ind)
        e = np.sqrt(e_var) * t_scale * rng.standard_t(_T_DF, n)
        e += (rng.random(n) < _JUMP_P) * rng.normal(0.0, _JUMP_SD, n)
        ret = beta * m + gload * f[industry] + pred + e

        live = present[t]
        # new listings start at their listing price; suspended stocks keep their close
        new = list_day == t
        up_px, dn_px = prev_close * (1 + _LIMIT), prev_close * (1 - _LIMIT)
        raw = prev_close * np.exp(ret)
        close = np.clip(raw, dn_px, up_px)
        close[new] = prev_close[new]
        close = np.where(live, close, prev_close)
        lim_up[t] = live & ~new & (raw >= up_px)
        lim_dn[t] = live & ~new & (raw <= dn_px)

        # open: part of the move happens overnight; high/low bracket open and close
        gap = 0.3 * ret + rng.normal(0.0, 0.3, n) * idio_sd
        opn = np.clip(prev_close * np.exp(gap), dn_px, up_px)
        opn[new] = prev_close[new] * np.exp(rng.normal(0.0, 0.01, new.sum()))
        span = np.abs(rng.normal(0.0, 0.6, (2, n))) * idio_sd
        high = np.minimum(np.maximum(opn, close) * (1 + span[0]), np.maximum(up_px, opn))
        low = np.maximum(np.minimum(opn, close) * (1 - span[1]), np.minimum(dn_px, opn))
        high = np.maximum(high, np.maximum(opn, close))
        low = np.minimum(low, np.minimum(opn, close))
        w = rng.uniform(0.2, 0.8, n)
        vwap = np.clip(w * (opn + close) / 2 + (1 - w) * (high + low) / 2, low, high)
        # volume rises with the absolute standardized move
        vol_state = 0.9 * vol_state + rng.normal(0.0, 0.15, n)
        volume = base_volume * np.exp(vol_state) * (1 + 1.5 * np.abs(ret) / idio_sd)
        volume = np.round(volume / 100) * 100 + 100  # board lots, never zero

        for k, v in (("open", opn), ("high", high), ("low", low), ("close", close),
                     ("vwap", vwap), ("volume", volume)):
            out[k][t, live] = v[live]

        # state update; suspended / unlisted stocks do not accumulate shocks
        e = np.where(live & ~new, e, 0.0)
        e_hist = np.roll(e_hist, 1, axis=0)
        e_hist[0] = e
        m_prev, f_prev, e_prev = m, f, np.where(live, e, 0.0)
        mu_next = _PHI * mu + rng.normal(0.0, _MU_SD * np.sqrt(1 - _PHI**2), n)
        # expected returns from information at t (mu_next is known at t: it drives t+1)
        exp_next[t] = mu_next - _REV @ e_hist + follower * (_LEADLAG @ e_hist[:n_ll, leader])
        rev2 = _REV[1:] @ e_hist[: n_rev - 1]
        ll2 = _LEADLAG[1:] @ e_hist[: n_ll - 1, leader]
        exp_label[t] = _PHI * mu_next - rev2 + follower * ll2
        mu = mu_next
        prev_close = close

    panel = _to_panel(out, lim_up, lim_dn, present, dates, symbols, industry, shares)
    return SyntheticMarket(panel, dates, symbols, present, out["close"], exp_next, exp_label)


def _to_panel(out, lim_up, lim_dn, present, dates, symbols, industry, shares) -> pl.DataFrame:
    t_idx, s_idx = np.nonzero(present)  # row-major: sorted by date, then symbol
    close = out["close"][t_idx, s_idx]
    vwap = out["vwap"][t_idx, s_idx]
    volume = out["volume"][t_idx, s_idx]
    names = np.array([INDUSTRIES[k] for k in industry])
    return pl.DataFrame(
        {
            "date": dates[t_idx].astype("datetime64[D]"),
            "symbol": np.array(symbols)[s_idx],
            "open": out["open"][t_idx, s_idx],
            "high": out["high"][t_idx, s_idx],
            "low": out["low"][t_idx, s_idx],
            "close": close,
            "volume": volume,
            "vwap": vwap,
            "amount": vwap * volume,
            "industry": names[s_idx],
            "market_cap": close * shares[s_idx],
            "limit_up": lim_up[t_idx, s_idx],
            "limit_down": lim_dn[t_idx, s_idx],
        }
    ).with_columns(pl.col("date").cast(pl.Date))


def generate_market(
    stocks: int = 300, days: int = 1500, seed: int = 0, start: date = date(2016, 1, 4)
) -> pl.DataFrame:
    """A valid panel (sorted by date, symbol) with industry, market_cap, limit flags."""
    return simulate_market(stocks, days, seed, start).panel


def save_synthetic_dataset(
    out, stocks: int = 300, days: int = 1500, seed: int = 0, start: date = date(2016, 1, 4),
    *, progress: bool = False,
):
    """Generate, validate and store the synthetic market as a dataset directory (what
    `stockformer data synth` and the demo write)."""
    market = simulate_market(stocks, days, seed, start, progress=progress)
    panel, report = validate(market.panel, "synthetic")
    return save_dataset(panel, out, report, meta={
        "source": "synthetic", "synth": {"stocks": stocks, "days": days, "seed": seed}})


def oracle_rank_ic(stocks: int = 300, days: int = 1500, seed: int = 0) -> dict[str, float]:
    """Mean daily rank IC of the planted truth and of simple signals vs realised returns.

    `oracle_next`: E[r_{t+1}|t] vs r_{t+1}; `oracle_label`: E[r_{t+2}|t] vs the label
    close t+1 -> t+2; `reversal_1d` (-r_t) and `momentum_20d` are scored on the label.
    """
    mk = simulate_market(stocks, days, seed)
    close = mk.close
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.full_like(close, np.nan)
        r[1:] = close[1:] / close[:-1] - 1.0  # NaN across gaps: only consecutive rows count
        r_next = np.full_like(r, np.nan)
        r_next[:-1] = r[1:]
        label = np.full_like(r, np.nan)
        label[:-2] = r[2:]
        mom = np.full_like(r, np.nan)
        mom[20:] = close[20:] / close[:-20] - 1.0

    def score(pred: np.ndarray, target: np.ndarray) -> float:
        mask = np.isfinite(pred) & np.isfinite(target)
        ic = daily_rank_ic(pred, target, mask)
        return float(np.nanmean(ic))

    return {
        "oracle_next": score(mk.expected_next, r_next),
        "oracle_label": score(mk.expected_label, label),
        "reversal_1d": score(-r, label),
        "momentum_20d": score(mom, label),
    }

"""Trading-cost and market-rule presets, resolved into one flat CostModel.

cn_a_share: commission 0.1% per side (the paper's setting; brokers charge 0.01-0.03% today, the paper
models a conservative 0.1%), minimum 5 CNY per order, stamp duty on sells 0.1% until 2023-08-27 and
0.05% from 2023-08-28 (the cut announced 2023-08-27), lots of 100 shares, a 10% daily price limit
and 5% for special-treatment stocks (rows with is_st = true, when the panel has that column).
us: 0.05% per side (a bps approximation of $0.005/share retail pricing), minimum $1, lot 1, no stamp
duty, no price limits. none: no costs, fractional shares, no limits. custom: starts from `none`.
Every explicit CostConfig field overrides the preset's value.

The per-order formulas the numba kernels apply (commission with a minimum, and its inverse: the
most shares a cash amount pays for) sit here too, so a new cost formula is one function.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import NamedTuple

import numpy as np
from numba import njit

from stockformer.config import CostConfig

TICK = 0.01  # price tick used by the limit-up / limit-down rule at the open
STAMP_CUT_DAY = date(2023, 8, 28)  # first trading day with the 0.05% stamp duty


class Fees(NamedTuple):
    """A CostModel's per-order numbers, in the form the numba kernels read."""

    buy_rate: float
    sell_rate: float
    min_comm: float
    slip: float  # fraction: buys fill at price * (1 + slip), sells at price * (1 - slip)
    lot: int  # 0 = fractional shares


@dataclass(frozen=True)
class CostModel:
    preset: str
    buy_commission: float
    sell_commission: float
    min_commission: float
    stamp_duty: float | None  # constant rate; None = the A-share schedule
    slippage_bps: float
    lot_size: int  # 0 = fractional shares
    price_limit: float  # 0 = no limit rule
    st_price_limit: float  # limit for is_st rows; 0 = they follow price_limit

    def stamp_rates(self, dates: np.ndarray) -> np.ndarray:
        """Stamp-duty rate on sells for each trading day (datetime64[D] array)."""
        if self.stamp_duty is not None:
            return np.full(len(dates), float(self.stamp_duty))
        cut = np.datetime64(STAMP_CUT_DAY, "D")
        return np.where(dates.astype("datetime64[D]") < cut, 0.001, 0.0005)

    def fees(self) -> Fees:
        return Fees(float(self.buy_commission), float(self.sell_commission),
                    float(self.min_commission), self.slippage_bps / 1e4, int(self.lot_size))

    def to_dict(self) -> dict:
        out = asdict(self)
        if out["stamp_duty"] is None:
            out["stamp_duty"] = "0.001 before 2023-08-28, 0.0005 from"
        return out


_PRESETS: dict[str, dict] = {
    "cn_a_share": dict(
        buy_commission=0.001,
        sell_commission=0.001,
        min_commission=5.0,
        stamp_duty=None,
        slippage_bps=0.0,
        lot_size=100,
        price_limit=0.10,
        st_price_limit=0.05,
    ),
    "us": dict(
        buy_commission=0.0005,
        sell_commission=0.0005,
        min_commission=1.0,
        stamp_duty=0.0,
        slippage_bps=0.0,
        lot_size=1,
        price_limit=0.0,
        st_price_limit=0.0,
    ),
    "none": dict(
        buy_commission=0.0,
        sell_commission=0.0,
        min_commission=0.0,
        stamp_duty=0.0,
        slippage_bps=0.0,
        lot_size=0,
        price_limit=0.0,
        st_price_limit=0.0,
    ),
}


@njit(cache=True)
def commission(rate: float, value: float, min_comm: float) -> float:
    """Broker commission on an order worth `value`: a rate, at least min_comm per order."""
    return max(rate * value, min_comm)


@njit(cache=True)
def affordable_qty(cash: float, adj: float, rate: float, min_comm: float, lot: int) -> float:
    """Most shares at price `adj` whose value plus commission fits in `cash` (commission's inverse)."""
    q = cash / (adj * (1.0 + rate))
    if min_comm > 0.0:
        q = min(q, (cash - min_comm) / adj)
    if lot > 0:
        q = np.floor(q / lot) * lot
    return max(q, 0.0)


def resolve_costs(cfg: CostConfig) -> CostModel:
    """Preset values overridden by every field the user set explicitly."""
    base = dict(_PRESETS["none" if cfg.preset == "custom" else cfg.preset])
    for key in base:
        value = getattr(cfg, key)
        if value is not None:
            base[key] = value
    return CostModel(preset=cfg.preset, **base)


def limit_grid(costs: CostModel, is_st: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """Daily price-limit fraction per (day, stock): the ST limit on is_st rows, else price_limit."""
    out = np.full(shape, float(costs.price_limit))
    if is_st is not None and costs.st_price_limit > 0:
        out[is_st] = costs.st_price_limit
    return out

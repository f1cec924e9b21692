"""The slow, obvious reference backtest: plain Python loops over days and stocks.

It is the readable statement of the execution rules (fill prices, price limits, lots, fees,
TopK-Dropout, target weights, the cash rounding rule) and the fast numba engine
(backtest/kernel.py) is checked against it: tests/test_backtest_engine.py requires the same
trades and an equity curve equal to 1e-12 on random panels; benchmarks/bench_backtest.py times
both. It re-derives everything from the dense panel (the window, the rebalance calendar, limit
flags, rankings, targets) and shares no logic with the engine (only the market's TICK), so the
check is end to end. Too slow for real runs (about 200x slower than the kernel at 5,000 x 2,500);
the product never calls it.
"""

from __future__ import annotations

import math

import numpy as np

from stockformer.backtest.costs import TICK


def _rank_key(scores, j):
    s = scores[j]
    return (0, -s, j) if math.isfinite(s) else (1, 0.0, j)


def reference_backtest(market, scores, cfg, costs):
    """market: build_market(panel); scores: the dense [days, stocks] score grid (engine.prepare's
    third result); cfg: BacktestConfig; costs: resolve_costs(cfg.costs).

    Returns (dates, values, trades) with trades = list of (row, symbol index, signed qty, px,
    commission, stamp, slippage); row 0 = first signal day."""
    n_days, n = market.close.shape
    price_all = market.open if cfg.fill_price == "open" else market.close
    signal_days = [t for t in range(n_days) if any(math.isfinite(x) for x in scores[t])]
    s0, s_last = signal_days[0], signal_days[-1]
    end = min(s_last + 1, n_days - 1)
    rebalance = set(signal_days[:: cfg.rebalance_every])
    last_close = [math.nan] * n
    prev_close_at = {}
    for t in range(n_days):
        prev_close_at[t] = list(last_close)
        for j in range(n):
            if math.isfinite(market.close[t, j]):
                last_close[j] = market.close[t, j]
    mark = [[math.nan] * n for _ in range(n_days)]
    for j in range(n):
        last = math.nan
        for t in range(n_days):
            if math.isfinite(market.close[t, j]):
                last = market.close[t, j]
            mark[t][j] = last

    def limits(t, j):
        limit = costs.price_limit
        if market.is_st is not None and market.is_st[t, j] and costs.st_price_limit > 0:
            limit = costs.st_price_limit
        if limit <= 0:
            return False, False
        p, prev = price_all[t, j], prev_close_at[t][j]
        up = p >= prev * (1 + limit) - TICK if math.isfinite(prev) else False
        down = p <= prev * (1 - limit) + TICK if math.isfinite(prev) else False
        if cfg.fill_price == "close" and market.limit_up is not None:
            up = bool(market.limit_up[t, j])
        if cfg.fill_price == "close" and market.limit_down is not None:
            down = bool(market.limit_down[t, j])
        return up, down

    def stamp_rate(t):
        if costs.stamp_duty is not None:
            return costs.stamp_duty
        return 0.001 if market.dates[t] < np.datetime64("2023-08-28") else 0.0005

    lot, slip = costs.lot_size, costs.slippage_bps / 1e4
    cash = float(cfg.initial_cash)
    shares = [0.0] * n
    val_price = [math.nan] * n
    values, trades = [], []

    def commission(rate, value):
        return max(rate * value, costs.min_commission)

    def max_affordable(budget, adj):
        q = budget / (adj * (1 + costs.buy_commission))
        if costs.min_commission > 0:
            q = min(q, (budget - costs.min_commission) / adj)
        if lot > 0:
            q = math.floor(q / lot) * lot
        return max(q, 0.0)

    def sell(t, row, j, qty):
        nonlocal cash
        px = price_all[t, j]
        adj = px * (1 - slip)
        proceeds = qty * adj
        comm = commission(costs.sell_commission, proceeds)
        duty = stamp_rate(t) * proceeds
        cash = cash + (proceeds - comm - duty)
        shares[j] -= qty
        trades.append((row, j, -qty, adj, comm, duty, qty * (px - adj)))

    def buy(t, row, j, qty):
        nonlocal cash
        px = price_all[t, j]
        adj = px * (1 + slip)
        value = qty * adj
        comm = commission(costs.buy_commission, value)
        total = value + comm
        if total > cash and abs(total - cash) > 1e-9 * max(abs(total), abs(cash)):
            qty = max_affordable(cash, adj)
            if qty <= 0:
                return
            value = qty * adj
            comm = commission(costs.buy_commission, value)
            total = value + comm
        if abs(cash - total) <= max(1e-9 * max(abs(cash), abs(total)), 1e-12):
            comm += cash - total  # the buy spent all the cash: rounding residual -> commission
            total = cash
        cash = cash - total
        shares[j] += qty
        trades.append((row, j, qty, adj, comm, 0.0, qty * (adj - px)))

    for t in range(s0, end + 1):
        row = t - s0
        for j in range(n):
            if math.isfinite(price_all[t, j]):
                val_price[j] = price_all[t, j]
        sig = t - 1
        if t > s0 and sig in rebalance:
            sc = scores[sig]
            tradable = [math.isfinite(price_all[t, j]) for j in range(n)]
            lim = [limits(t, j) if tradable[j] else (True, True) for j in range(n)]
            can_buy = [tradable[j] and not lim[j][0] for j in range(n)]
            can_sell = [tradable[j] and not lim[j][1] for j in range(n)]
            finite = [j for j in range(n) if math.isfinite(sc[j])]
            ranked = sorted(finite, key=lambda j: _rank_key(sc, j))
            low = min((sc[j] for j in finite), default=0.0)
            rel = {j: (sc[j] - low if cfg.weighting == "score" else 1.0) for j in finite}
            if cfg.strategy == "topk_dropout":
                held = [j for j in range(n) if shares[j] > 0]
                want = cfg.n_drop + cfg.topk - len(held)
                today = [j for j in ranked if shares[j] <= 0][: max(want, 0)]
                comb = sorted(held + today, key=lambda j: _rank_key(sc, j))
                worst = comb[max(0, len(comb) - cfg.n_drop) :]
                for j in worst:
                    if shares[j] > 0 and can_sell[j]:
                        sell(t, row, j, shares[j])
                        shares[j] = 0.0
                n_buy = cfg.topk - sum(1 for j in range(n) if shares[j] > 0)
                buys = today[: max(n_buy, 0)]
                budget_cash = cash
                wsum = sum(rel[j] for j in buys)
                for j in buys:
                    if not can_buy[j]:
                        continue
                    budget = budget_cash * rel[j] / wsum if wsum > 0 else budget_cash / len(buys)
                    qty = max_affordable(min(budget, cash), price_all[t, j] * (1 + slip))
                    if qty > 0 and cash > 0:
                        buy(t, row, j, qty)
                values.append(None)
            else:
                target_w = {j: 0.0 for j in range(n)}
                if cfg.strategy == "topk":
                    top = ranked[: cfg.topk]
                    if cfg.weighting == "score" and sum(rel[j] for j in top) > 0:
                        for j in top:
                            target_w[j] = rel[j] / sum(rel[j] for j in top)
                    else:
                        for j in top:
                            target_w[j] = 1.0 / cfg.topk
                else:
                    q = len(finite) // cfg.quantiles
                    if q:
                        for j in ranked[:q]:
                            target_w[j] = 1.0 / q
                        for j in ranked[len(ranked) - q :]:
                            target_w[j] = -1.0 / q
                value_now = cash
                for j in range(n):
                    if shares[j] != 0:
                        value_now += shares[j] * val_price[j]
                orders = []
                for j in range(n):
                    if not tradable[j] or value_now <= 0:
                        continue
                    tgt = target_w[j] * value_now / val_price[j]
                    orders.append((target_w[j] * value_now - shares[j] * val_price[j], j, tgt))
                orders.sort(key=lambda o: o[0])  # stable: equal keys keep stock order
                for _, j, tgt in orders:
                    delta = tgt - shares[j]
                    if delta < 0 and can_sell[j] and abs(delta) > 1e-12:
                        qty = -delta
                        if lot > 0 and not (tgt == 0 and shares[j] > 0):
                            qty = math.floor(qty / lot) * lot
                        if qty > 0:
                            sell(t, row, j, qty)
                            if tgt == 0 and abs(shares[j]) <= 1e-9 * qty:
                                shares[j] = 0.0
                for _, j, tgt in orders:
                    qty = tgt - shares[j]
                    if qty > 0 and abs(qty) > 1e-12 and can_buy[j] and cash > 0:
                        if lot > 0:
                            qty = math.floor(qty / lot) * lot
                        if qty > 0:
                            buy(t, row, j, qty)
                values.append(None)
        else:
            values.append(None)
        v = cash
        for j in range(n):
            if shares[j] != 0:
                v += shares[j] * mark[t][j]
        values[-1] = v
    return market.dates[s0 : end + 1], np.array(values), trades

"""qlib's Alpha158 (Alpha158DL's default config): 9 KBAR, 4 price and 29 rolling operators over
5, 10, 20, 30 and 60 days, with qlib's names, order and formulas. `$x` is today's value of a
field, Ref(x, d) its value d rows back, windows end today (min_periods = 1: a young stock uses
the days it has; Std / Corr / Slope need two).

    KMID (C-O)/O   KLEN (H-L)/O   KMID2 (C-O)/(H-L+e)   KUP (H-max(O,C))/O   KUP2 .../(H-L+e)
    KLOW (min(O,C)-L)/O   KLOW2 .../(H-L+e)   KSFT (2C-H-L)/O   KSFT2 .../(H-L+e)
    OPEN0 O/C   HIGH0 H/C   LOW0 L/C   VWAP0 VWAP/C
    ROC Ref(C,d)/C   MA Mean(C,d)/C   STD Std(C,d)/C   BETA Slope(C,d)/C   RSQR Rsquare(C,d)
    RESI Resi(C,d)/C   MAX Max(H,d)/C   MIN Min(L,d)/C   QTLU / QTLD Quantile(C,d,0.8 / 0.2)/C
    RANK Rank(C,d) (percentile of today's close)   RSV (C-Min(L,d))/(Max(H,d)-Min(L,d)+e)
    IMAX IdxMax(H,d)/d   IMIN IdxMin(L,d)/d   IMXD (IdxMax(H,d)-IdxMin(L,d))/d
    CORR Corr(C, Log(V+1), d)   CORD Corr(C/Ref(C,1), Log(V/Ref(V,1)+1), d)
    CNTP Mean(C>Ref(C,1),d)   CNTN Mean(C<Ref(C,1),d)   CNTD CNTP-CNTN
    SUMP Sum(max(dC,0),d)/(Sum(|dC|,d)+e)   SUMN ...max(-dC,0)...   SUMD (up-down)/(...)
    VMA Mean(V,d)/(V+e)   VSTD Std(V,d)/(V+e)
    WVMA Std(|C/Ref(C,1)-1|*V,d)/(Mean(|C/Ref(C,1)-1|*V,d)+e)   VSUMP / VSUMN / VSUMD on dV

e = 1e-12; Std is the sample std (ddof 1); Slope / Rsquare / Resi regress the window on the day
index (Resi: today's residual); Quantile interpolates linearly; Rank averages ties; IdxMax /
IdxMin count 1..d from the oldest day (ties: the oldest). As in qlib, RSQR is NaN where
Std(C,d) is ~0 and CORR / CORD where either input's Std is ~0 (|std| <= 2e-5).

Rows are the stock's own trading days (history.py), like Alpha360. NaN values (a missing field
when fillna is off, the first day's Ref) are skipped; for the two correlations a day counts when
both inputs are known (pandas means each input over its own known days: the same whenever no
volume is missing). The readable reference is benchmarks/pandas_alpha158.py.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from stockformer.factors.history import CLOSE, HIGH, LOW, OPEN, QLIB_EPS, VOLUME, VWAP

WINDOWS = (5, 10, 20, 30, 60)
KBAR = ("KMID", "KLEN", "KMID2", "KUP", "KUP2", "KLOW", "KLOW2", "KSFT", "KSFT2")
PRICE = ("OPEN0", "HIGH0", "LOW0", "VWAP0")
# rolling operators in qlib's order; rolling_values() returns them in this order
ROLLING = ("ROC", "MA", "STD", "BETA", "RSQR", "RESI", "MAX", "MIN", "QTLU", "QTLD", "RANK",
           "RSV", "IMAX", "IMIN", "IMXD", "CORR", "CORD", "CNTP", "CNTN", "CNTD", "SUMP", "SUMN",
           "SUMD", "VMA", "VSTD", "WVMA", "VSUMP", "VSUMN", "VSUMD")
FIRST_ROLLING = len(KBAR) + len(PRICE)
N_FEATURES = FIRST_ROLLING + len(ROLLING) * len(WINDOWS)
STD_ZERO = 2e-5  # qlib: np.isclose(std, 0, atol=2e-5) switches RSQR / CORR / CORD to NaN

_WIN = np.array(WINDOWS, dtype=np.int64)
_MAX_WIN = max(WINDOWS)


def feature_names() -> list[str]:
    return [*KBAR, *PRICE, *(f"{op}{d}" for op in ROLLING for d in WINDOWS)]


def lookback() -> int:
    """Own-history days one date's factors read: the 60-day window of 1-day changes."""
    return _MAX_WIN + 1


@nb.njit(cache=True, inline="always")
def _greater(a, b):  # pragma: no cover - compiled
    """qlib's Greater (np.maximum): NaN when either is NaN."""
    if np.isnan(a) or np.isnan(b):
        return np.nan
    return a if a > b else b


@nb.njit(cache=True, inline="always")
def _less(a, b):  # pragma: no cover - compiled
    if np.isnan(a) or np.isnan(b):
        return np.nan
    return a if a < b else b


@nb.njit(cache=True, inline="always")
def _shifted(x, ref, cnt, s, ss):  # pragma: no cover - compiled
    """Add x to a running (count, sum, sum of squares) of values shifted by the first one, ref.
    Returns the updated (ref, cnt, s, ss) and x's shifted value."""
    if np.isnan(ref):
        ref = x
    d = x - ref
    return ref, cnt + 1, s + d, ss + d * d, d


@nb.njit(cache=True, inline="always")
def _changes(d, cnt, up, down, size):  # pragma: no cover - compiled
    """Add a one-day change to the running count, gains, losses and absolute changes."""
    return cnt + 1, up + max(d, 0.0), down + max(-d, 0.0), size + abs(d)


@nb.njit(cache=True, inline="always")
def _std(cnt, s, ss):  # pragma: no cover - compiled
    """Sample std from the count, sum and sum of squares of values shifted by one of them
    (the shift keeps the difference of squares well conditioned; all equal -> exactly 0)."""
    if cnt < 2:
        return np.nan
    return np.sqrt(max((ss - s * s / cnt) / (cnt - 1), 0.0))


@nb.njit(cache=True, inline="always")
def _corr(cnt, sx, sxx, sy, syy, sxy):  # pragma: no cover - compiled
    if cnt < 2:
        return np.nan
    den = (cnt * sxx - sx * sx) * (cnt * syy - sy * sy)
    if not den > 0:
        return np.nan
    return (cnt * sxy - sx * sy) / np.sqrt(den)


@nb.njit(cache=True, inline="always")
def _ratio(num, den, cnt):  # pragma: no cover - compiled
    """Sum(num) / (Sum(den) + e); NaN when the window has no known value (pandas' empty Sum)."""
    return num / (den + QLIB_EPS) if cnt > 0 else np.nan


@nb.njit(cache=True, inline="always")
def _quantile(srt, m, q):  # pragma: no cover - compiled
    """pandas' linear-interpolation quantile of the sorted srt[:m]."""
    pos = q * (m - 1)
    i = int(pos)
    if i == pos:
        return srt[i]
    return srt[i] + (srt[i + 1] - srt[i]) * (pos - i)


@nb.njit(cache=True)
def _kbar_price(o, h, lo, c, vw, row, off):  # pragma: no cover - compiled
    rng = h - lo + QLIB_EPS
    top = _greater(o, c)
    bottom = _less(o, c)
    row[off + 0] = (c - o) / o
    row[off + 1] = (h - lo) / o
    row[off + 2] = (c - o) / rng
    row[off + 3] = (h - top) / o
    row[off + 4] = (h - top) / rng
    row[off + 5] = (bottom - lo) / o
    row[off + 6] = (bottom - lo) / rng
    row[off + 7] = (2 * c - h - lo) / o
    row[off + 8] = (2 * c - h - lo) / rng
    row[off + 9] = o / c
    row[off + 10] = h / c
    row[off + 11] = lo / c
    row[off + 12] = vw / c


@nb.njit(cache=True, error_model="numpy")
def _rolling_stock(close, high, low, vol, s, row, off, srt):  # pragma: no cover - compiled
    """All rolling operators of one stock on its own day s, into row[off + FIRST_ROLLING:].

    One pass from today back over up to 60 days keeps running sums; each window's operators
    are read off when the pass has covered it (or the stock's whole history). srt: scratch of
    >= 60 float64 (today's window of closes, kept sorted for the quantiles)."""
    c = close[s]
    v = vol[s]
    n_win = _WIN.shape[0]
    base = off + FIRST_ROLLING
    # close: shifted by today's close; x = -age (the regressor; slope is shift-invariant)
    sz = szz = sx = sxx = sxz = 0.0
    less = equal = 0
    h_max = np.nan
    l_min = np.nan
    h_age = l_age = 0
    # Corr(C, Log(V+1)): pairs with a known volume
    n_cv = 0
    scp = scc = slv = slvv = sclv = 0.0
    lv_ref = np.nan
    # Corr(C/Ref(C,1), Log(V/Ref(V,1)+1))
    n_cd = 0
    sr = srr = sq = sqq = srq = 0.0
    r_ref = q_ref = np.nan
    up = down = 0
    n_dc = 0
    dc_up = dc_down = dc_abs = 0.0
    n_v = 0
    sv = svv = 0.0
    v_ref = np.nan
    n_w = 0
    sw = sww = 0.0
    w_ref = np.nan
    n_dv = 0
    dv_up = dv_down = dv_abs = 0.0
    wi = 0
    last = min(_MAX_WIN - 1, s)
    for a in range(last + 1):
        r = s - a
        y = close[r]
        z = y - c
        x = -float(a)
        sz += z
        szz += z * z
        sx += x
        sxx += x * x
        sxz += x * z
        less += y < c
        equal += y == c
        k = a  # insertion into the sorted window
        while k > 0 and srt[k - 1] > y:
            srt[k] = srt[k - 1]
            k -= 1
        srt[k] = y
        hv = high[r]
        if not np.isnan(hv) and (np.isnan(h_max) or hv >= h_max):  # >=: ties go to the oldest
            h_max = hv
            h_age = a
        lv = low[r]
        if not np.isnan(lv) and (np.isnan(l_min) or lv <= l_min):
            l_min = lv
            l_age = a
        vv = vol[r]
        logv = np.log(vv + 1.0)
        if np.isfinite(logv):
            lv_ref, n_cv, slv, slvv, d = _shifted(logv, lv_ref, n_cv, slv, slvv)
            scp += z
            scc += z * z
            sclv += z * d
        if np.isfinite(vv):
            v_ref, n_v, sv, svv, _ = _shifted(vv, v_ref, n_v, sv, svv)
        if r >= 1:
            yp = close[r - 1]
            dc = y - yp
            up += dc > 0
            down += dc < 0
            n_dc, dc_up, dc_down, dc_abs = _changes(dc, n_dc, dc_up, dc_down, dc_abs)
            ret = y / yp
            vp = vol[r - 1]
            q = np.log(vv / vp + 1.0)
            if np.isfinite(q):
                q_ref, _, sq, sqq, d2 = _shifted(q, q_ref, n_cd, sq, sqq)
                r_ref, n_cd, sr, srr, d1 = _shifted(ret, r_ref, n_cd, sr, srr)
                srq += d1 * d2
            w = abs(ret - 1.0) * vv
            if np.isfinite(w):
                w_ref, n_w, sw, sww, _ = _shifted(w, w_ref, n_w, sw, sww)
            dv = vv - vp
            if np.isfinite(dv):
                n_dv, dv_up, dv_down, dv_abs = _changes(dv, n_dv, dv_up, dv_down, dv_abs)
        while wi < n_win and (a == _WIN[wi] - 1 or a == last):
            win = _WIN[wi]
            m = a + 1
            std_c = _std(m, sz, szz)
            den = m * sxx - sx * sx
            beta = (m * sxz - sx * sz) / den if den > 0 else np.nan
            rsq = _corr(m, sx, sxx, sz, szz, sxz)
            rsq = np.nan if std_c <= STD_ZERO else rsq * rsq
            corr = _corr(n_cv, scp, scc, slv, slvv, sclv)
            if std_c <= STD_ZERO or _std(n_cv, slv, slvv) <= STD_ZERO:
                corr = np.nan
            cord = _corr(n_cd, sr, srr, sq, sqq, srq)
            if _std(n_cd, sr, srr) <= STD_ZERO or _std(n_cd, sq, sqq) <= STD_ZERO:
                cord = np.nan
            vmean = v_ref + sv / n_v if n_v > 0 else np.nan
            wmean = w_ref + sw / n_w if n_w > 0 else np.nan
            i_max = m - h_age  # 1-based position from the window's oldest day
            i_min = m - l_age
            if np.isnan(h_max):
                i_max = -1
            if np.isnan(l_min):
                i_min = -1
            roc = close[s - win] / c if s >= win else np.nan
            vals = (
                roc,  # ROC
                (c + sz / m) / c,  # MA
                std_c / c,  # STD
                beta / c,  # BETA
                rsq,  # RSQR
                (sx / m * beta - sz / m) / c,  # RESI: today's residual (x = 0) around the fit
                h_max / c,  # MAX
                l_min / c,  # MIN
                _quantile(srt, m, 0.8) / c,  # QTLU
                _quantile(srt, m, 0.2) / c,  # QTLD
                (less + (equal + 1) / 2) / m,  # RANK
                (c - l_min) / (h_max - l_min + QLIB_EPS),  # RSV
                i_max / win if i_max > 0 else np.nan,  # IMAX
                i_min / win if i_min > 0 else np.nan,  # IMIN
                (i_max - i_min) / win if i_max > 0 and i_min > 0 else np.nan,  # IMXD
                corr,  # CORR
                cord,  # CORD
                up / m,  # CNTP
                down / m,  # CNTN
                up / m - down / m,  # CNTD
                _ratio(dc_up, dc_abs, n_dc),  # SUMP
                _ratio(dc_down, dc_abs, n_dc),  # SUMN
                _ratio(dc_up - dc_down, dc_abs, n_dc),  # SUMD
                vmean / (v + QLIB_EPS),  # VMA
                _std(n_v, sv, svv) / (v + QLIB_EPS),  # VSTD
                _std(n_w, sw, sww) / (wmean + QLIB_EPS),  # WVMA
                _ratio(dv_up, dv_abs, n_dv),  # VSUMP
                _ratio(dv_down, dv_abs, n_dv),  # VSUMN
                _ratio(dv_up - dv_down, dv_abs, n_dv),  # VSUMD
            )
            j = 0
            for val in vals:
                row[base + j * n_win + wi] = val
                j += 1
            wi += 1


@nb.njit(cache=True)
def alpha158_date(comp, src, out, off):  # pragma: no cover - compiled
    """One date's Alpha158 into out[n, off : off + 158]; comp [6, N, H] own history (history.py
    FIELDS order), src [N] the own-history day of each stock (-1: none)."""
    srt = np.empty(_MAX_WIN)
    for n in range(src.shape[0]):
        s = src[n]
        row = out[n]
        if s < 0:
            row[off : off + N_FEATURES] = np.nan
            continue
        _kbar_price(comp[OPEN, n, s], comp[HIGH, n, s], comp[LOW, n, s], comp[CLOSE, n, s],
                    comp[VWAP, n, s], row, off)
        _rolling_stock(comp[CLOSE, n], comp[HIGH, n], comp[LOW, n], comp[VOLUME, n], s, row, off,
                       srt)

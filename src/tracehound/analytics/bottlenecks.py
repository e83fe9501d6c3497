"""Where a run's time and money go: its slowest and costliest spans, the critical path that
sets its wall-clock time, that time by kind, its parallelism, and the spans slow for their
operation (docs/analytics.md defines every figure). O(n log n) over plain span records: children
lists built once, each sorted once, and an iterative walk, so deep trees hit no recursion limit."""

from __future__ import annotations

import heapq
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import sub
from typing import Any, cast

from tracehound.analytics.percentiles import nearest_rank
from tracehound.config import AnalyticsSettings
from tracehound.model import KIND_LLM, KIND_OTHER, KIND_TOOL
from tracehound.storage.protocols import TraceStore
from tracehound.storage.types import OpModel, RunTimings, SpanTiming

# The bounds (spans read per run; the outlier reference's minimum sample, sample, scan, pairs and
# cache lifetime) are settings: config.AnalyticsSettings. The reference is the most recent spans
# of the (operation, model), found among the most recent spans of the operation: enough for a
# stable p95 (the 190th of 200), and a bound on the work for busy operations (hundreds of
# thousands of spans a week) and for models rare in them. Only the pairs whose spans in the run
# last longest get one: a run with many distinct operation names would otherwise cost one walk
# each.
_DEFAULTS = AnalyticsSettings()
# The reference population for outliers: same operation and model, started this long before now.
BASELINE_WINDOW_DAYS = 7
# How many references are kept per store.
REFERENCE_CACHE_SIZE = 10_000

GAP = -1  # the owner of critical-path time where no span of the path runs
_DAY_US = 86_400 * 1_000_000


# Columns of a run's spans, in SpanTiming's order: one transposition (zip, in C) instead of an
# attribute read per span and field.
Columns = tuple[
    tuple[str, ...],  # span_id
    tuple[str | None, ...],  # parent_span_id
    tuple[str, ...],  # operation_name
    tuple[str, ...],  # kind
    tuple[str | None, ...],  # model
    tuple[int, ...],  # start_us
    tuple[int, ...],  # finish_us
    tuple[float | None, ...],  # cost
    tuple[int, ...],  # usage_counted
]
_NO_COLUMNS: Columns = ((), (), (), (), (), (), (), (), ())


def _columns(spans: Sequence[SpanTiming]) -> Columns:
    return cast(Columns, tuple(zip(*spans, strict=True))) if spans else _NO_COLUMNS


@dataclass(frozen=True, slots=True)
class Tree:
    """A run's spans as a forest. Spans whose parent is not in the run (roots, and children of
    spans that have not arrived yet) are its tops. Finishes before starts are read as zero
    durations."""

    start: list[int]
    finish: list[int]
    children: list[list[int]]  # indexes, by start time
    tops: list[int]  # by start time


def build_tree(spans: Sequence[SpanTiming]) -> Tree:
    ids, parents, _, _, _, starts, finishes, _, _ = _columns(spans)
    return _tree(ids, parents, starts, finishes)


def _tree(
    ids: Sequence[str], parents: Sequence[str | None], starts: Sequence[int], finishes: Sequence[int]
) -> Tree:
    n = len(ids)
    start = list(starts)
    finish = [f if f > s else s for s, f in zip(starts, finishes, strict=True)]
    # Of two spans with one id (a broken exporter), the first: built backwards, it is set last.
    index = dict(zip(reversed(ids), range(n - 1, -1, -1), strict=True))
    parent = list(map(index.get, parents))  # type: ignore[arg-type]  # None is no span's id
    children: list[list[int]] = [[] for _ in range(n)]
    tops: list[int] = []
    for i in sorted(range(n), key=start.__getitem__):
        p = parent[i]
        if p is None or p == i:
            tops.append(i)
        else:
            children[p].append(i)
    return Tree(start, finish, children, tops)


def self_times(tree: Tree) -> list[int]:
    """Per span, µs of its own interval not covered by the union of its children's intervals
    (clipped to it), so overlapping children are not subtracted twice."""
    start, finish = tree.start, tree.finish
    out = [f - s for s, f in zip(start, finish, strict=True)]  # a leaf's (most spans') answer
    for i in compress(range(len(out)), tree.children):  # the spans with children
        s, f = start[i], finish[i]
        covered = 0
        run_s = run_e = s  # the union's current stretch, empty to begin with
        for c in tree.children[i]:  # by start, and clipping keeps that order
            cs = start[c] if start[c] > s else s
            ce = finish[c] if finish[c] < f else f
            if ce <= cs:
                continue
            if cs > run_e:
                covered += run_e - run_s
                run_s, run_e = cs, ce
            elif ce > run_e:
                run_e = ce
        out[i] = f - s - covered - (run_e - run_s)
    return out


def _extents(tree: Tree) -> tuple[list[int], list[int]]:
    """Earliest start and latest finish over each span's subtree. A child that outlives its
    parent (async work) or starts before it (clock skew) widens the parent's extent, so the walk
    below still finds it. Spans not reachable from a top (a parent cycle) keep their own interval
    and are never walked. Only spans with children are visited: a leaf's extent is itself."""
    lo, hi, children = tree.start[:], tree.finish[:], tree.children
    order: list[int] = []
    stack = [i for i in tree.tops if children[i]]
    while stack:
        i = stack.pop()
        order.append(i)
        stack.extend(c for c in children[i] if children[c])
    for i in reversed(order):  # children before their parents
        kids = children[i]
        lo[i] = min(lo[i], min(map(lo.__getitem__, kids)))
        hi[i] = max(hi[i], max(map(hi.__getitem__, kids)))
    return lo, hi


def critical_path(tree: Tree, run_start: int, run_end: int, span_ids: Sequence[str]) -> list[tuple[int, int]]:
    """The critical path as (span index or GAP, µs on the path), in the order the path reaches
    them; the µs add up to run_end - run_start (widened to the spans if they reach further).

    The backward walk: start at the run's end, inside a virtual span covering the run whose
    children are the tops. In a span, take the child that ends last no later than the current
    point t; the time after that child's end is the span's own; continue into the child from its
    end; back in the span, t becomes the child's start and the next child must end by then, so
    a sibling that overlaps a child on the path is skipped. What remains before the last child
    belongs to the span. Time a span owns outside its own interval (between an async child and
    the span, or the virtual span's time) is a gap. Of children ending together, the longer one
    is taken, then the lower span id."""
    start, finish, children = tree.start, tree.finish, tree.children
    lo_ext, hi_ext = _extents(tree)
    for i in tree.tops:
        run_start = min(run_start, lo_ext[i])
        run_end = max(run_end, hi_ext[i])
    # Time is attributed latest first, in contiguous stretches: a span's own time adds to its
    # entry; stretches of gap next to each other merge into one gap, [start, µs].
    on_path: dict[int, int] = {}
    depth: dict[int, int] = {}  # of the spans on the path, below a top
    gaps: list[list[int]] = []
    after_gap = False  # the stretch attributed last (the next one later in time) was a gap

    def gap(a: int, b: int) -> None:
        nonlocal after_gap
        if after_gap:
            gaps[-1][0] = a
            gaps[-1][1] += b - a
        else:
            gaps.append([a, b - a])
            after_gap = True

    def attribute(node: int, a: int, b: int) -> None:
        # The general case; the walk below adds a span's time inside its own interval itself.
        nonlocal after_gap
        if node == GAP:
            gap(a, b)
            return
        s, f = start[node], finish[node]
        if b > f:
            gap(max(a, f), b)
        x, y = max(a, s), min(b, f)
        if y > x:
            on_path[node] += y - x
            after_gap = False
        if a < s:
            gap(a, min(b, s))

    def latest_first(kids: list[int]) -> list[int]:
        live = [k for k in kids if hi_ext[k] > lo_ext[k]]  # zero-length subtrees carry no time
        if len(live) > 1:
            ends = list(map(hi_ext.__getitem__, live))
            if len(set(ends)) == len(ends):
                # No two end together (the usual case): the end alone orders them, and sorting
                # plain ints is far cheaper than the tuples below.
                ordered = sorted(zip(ends, live, strict=True), reverse=True)
                return [k for _, k in ordered]
            # Decorated rather than a key function (a run's top may have thousands of children),
            # the tuples built by zip. The position keeps the sort stable.
            keyed = sorted(
                zip(
                    [-e for e in ends],
                    map(lo_ext.__getitem__, live),
                    map(span_ids.__getitem__, live),
                    range(len(live)),
                    live,
                    strict=True,
                )
            )
            live = [k for *_, k in keyed]
        return live

    # The span being walked: its children latest first, the next one to look at, the point t
    # (everything after it is attributed) and the start of its extent. Its parents wait on
    # `stack`, each with its t already moved to the start of the child being walked. `s` and `f`
    # are the span's own interval (empty for the virtual span, so that all its time is a gap);
    # its depth is len(stack) - 1.
    node, kids, pos, t, low = GAP, latest_first(tree.tops), 0, run_end, run_start
    s, f = run_end, run_end
    stack: list[tuple[int, list[int], int, int, int]] = []
    while True:
        child = GAP
        while pos < len(kids) and t > low:
            k = kids[pos]
            pos += 1
            if hi_ext[k] <= t:
                child = k
                break
        if child != GAP:
            end = hi_ext[child]
            if end < t:
                if s <= end and t <= f:  # all of it the span's own, and no gap (most often)
                    on_path[node] += t - end
                    after_gap = False
                else:
                    attribute(node, end, t)
            depth[child] = len(stack)
            if not children[child]:
                # A leaf (most spans): its extent is itself, all of it on the path; the walk
                # goes on in this span from the leaf's start.
                on_path[child] = end - lo_ext[child]
                after_gap = False
                t = lo_ext[child]
                continue
            stack.append((node, kids, pos, lo_ext[child], low))
            on_path[child] = 0
            kids = latest_first(children[child])
            node, pos, t, low = child, 0, end, lo_ext[child]
            s, f = start[node], finish[node]
            continue
        if t > low:
            attribute(node, low, t)
        if not stack:
            break
        node, kids, pos, t, low = stack.pop()
        s, f = (start[node], finish[node]) if node != GAP else (run_end, run_end)

    # Spans in the order the walk reaches them in time (a parent before a child starting with
    # it); a gap after any span that starts at the same instant. The keys are unique.
    keyed = [(lo_ext[i], depth[i], i, i, us) for i, us in on_path.items()]
    n = len(start)
    keyed += [(a, n, 0, GAP, us) for a, us in gaps]
    keyed.sort()
    return [(owner, us) for _, _, _, owner, us in keyed]


def _ms(us: int) -> float:
    return us / 1000


def _percent(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 2) if whole > 0 else None


@dataclass(frozen=True, slots=True)
class Reference:
    """The reference population of one (operation, model): its nearest-rank p95 and size."""

    p95_us: float | None
    sample_size: int


def reference(durations: Sequence[int]) -> Reference:
    """The reference of ascending durations (µs)."""
    return Reference(nearest_rank(durations, 95), len(durations))


def _largest(
    limit: int, values: Sequence[float], candidates: Sequence[int], starts: Sequence[int], ids: Sequence[str]
) -> list[int]:
    """Of the `candidates` (indexes), the `limit` with the largest values, ties broken on start
    time, then span id. Only those at or above the limit-th largest value are ranked: a sort of
    plain numbers (in C) instead of a Python-level heap over a tuple per span."""
    if limit <= 0:
        return []
    if len(candidates) > limit:
        bound = sorted([values[i] for i in candidates], reverse=True)[limit - 1]
        candidates = [i for i in candidates if values[i] >= bound]
    keyed = [(-values[i], starts[i], ids[i], i) for i in candidates]
    return [i for *_, i in heapq.nsmallest(limit, keyed)]


def _outliers(
    cols: Columns,
    durations: list[int],
    references: Mapping[OpModel, Reference],
    limit: int,
    min_sample: int,
) -> list[dict[str, Any]]:
    ids, _, ops, _, models, starts, _, _, _ = cols
    usable = {
        pair: (ref.p95_us, ref)
        for pair, ref in references.items()
        if ref.p95_us is not None and ref.sample_size >= min_sample
    }
    found: list[tuple[float, int, str, int, Reference]] = []
    if usable:
        for i, (hit, d) in enumerate(
            zip(map(usable.get, zip(ops, models, strict=True)), durations, strict=True)
        ):
            if hit is not None and d > hit[0]:
                found.append((hit[0] - d, starts[i], ids[i], i, hit[1]))
    out = []
    for _, _, _, i, ref in heapq.nsmallest(limit, found):
        out.append(
            {
                "span_id": ids[i],
                "operation_name": ops[i],
                "model": models[i],
                "duration_ms": _ms(durations[i]),
                "p95_ms": (ref.p95_us or 0.0) / 1000,
                "sample_size": ref.sample_size,
            }
        )
    return out


def analyze(
    run: RunTimings,
    references: Mapping[OpModel, Reference],
    limit: int,
    limits: AnalyticsSettings = _DEFAULTS,
) -> dict[str, Any]:
    """The bottleneck report of one run (the JSON object every front door answers with), with
    the reference of each (operation, model) that has one, and `limits` the outlier bounds it
    was read with. Ties in every list break on start time, then span id."""
    return _analyze(run, _columns(run.spans), references, limit, limits)


def _analyze(
    run: RunTimings,
    cols: Columns,
    references: Mapping[OpModel, Reference],
    limit: int,
    limits: AnalyticsSettings,
) -> dict[str, Any]:
    ids, parents, ops, kinds, models, starts, finishes, costs, counted = cols
    tree = _tree(ids, parents, starts, finishes)
    lo = min(run.start_us, min(tree.start, default=run.start_us))
    hi = max(run.finish_us, max(tree.finish, default=run.finish_us))
    wall = hi - lo
    durations = [f - s for s, f in zip(tree.start, tree.finish, strict=True)]
    own = self_times(tree)
    path = critical_path(tree, lo, hi, ids)

    slowest = _largest(limit, durations, range(len(ids)), starts, ids)
    billed = [i for i, (c, u) in enumerate(zip(costs, counted, strict=True)) if u and c is not None and c > 0]
    costly = _largest(limit, costs, billed, starts, ids)  # type: ignore[arg-type]  # billed: not None

    llm_us = tool_us = 0
    entries = []
    for owner, us in path:
        if owner == GAP:
            entries.append(
                {"span_id": None, "operation_name": "other", "kind": KIND_OTHER, "path_ms": us / 1000}
            )
            continue
        kind = kinds[owner]
        if kind == KIND_LLM:
            llm_us += us
        elif kind == KIND_TOOL:
            tool_us += us
        entries.append(
            {"span_id": ids[owner], "operation_name": ops[owner], "kind": kind, "path_ms": us / 1000}
        )

    return {
        "run_id": run.run_id,
        "status": run.status,
        "span_count": run.span_count,
        "truncated": run.truncated,
        "wall_time_ms": _ms(wall),
        "slowest_spans": [
            {
                "span_id": ids[i],
                "operation_name": ops[i],
                "kind": kinds[i],
                "duration_ms": _ms(durations[i]),
                "percent_of_total": _percent(durations[i], wall),
                "self_time_ms": _ms(own[i]),
            }
            for i in slowest
        ],
        "expensive_spans": [
            {
                "span_id": ids[i],
                "operation_name": ops[i],
                "model": models[i],
                "cost": costs[i],
                "percent_of_cost": _percent(costs[i] or 0.0, run.cost),
            }
            for i in costly
        ],
        "critical_path": entries,
        "time_by_kind": {
            "llm_ms": _ms(llm_us),
            "tool_ms": _ms(tool_us),
            "other_ms": _ms(wall - llm_us - tool_us),
        },
        "parallelism": round(sum(own) / wall, 3) if wall > 0 else None,
        "outliers": _outliers(cols, durations, references, limit, limits.outlier_min_sample),
        "outlier_reference": {
            "window_days": BASELINE_WINDOW_DAYS,
            "min_sample": limits.outlier_min_sample,
            "max_sample": limits.outlier_max_sample,
            "max_scan": limits.outlier_max_scan,
            "cache_ttl_s": limits.outlier_cache_ttl_s,
        },
    }


def reference_pairs(
    spans: Sequence[SpanTiming], max_pairs: int = _DEFAULTS.outlier_max_pairs
) -> list[OpModel]:
    """The (operation, model) pairs of a run that get an outlier reference: those whose longest
    span in the run is longest, at most `max_pairs`."""
    return _reference_pairs(_columns(spans), max_pairs)


def _reference_pairs(cols: Columns, max_pairs: int) -> list[OpModel]:
    _, _, ops, _, models, starts, finishes, _, _ = cols
    # Each pair's longest duration above -1 (durations here are not clamped at zero), in C: the
    # pairs in the order their first such span appears (which orders ties below), then the
    # durations written in ascending order, so the longest is written last.
    durations = list(map(sub, finishes, starts))
    keys = list(zip(ops, models, strict=True))
    counted = list(compress(range(len(keys)), map((-1).__lt__, durations)))
    longest: dict[OpModel, int] = dict.fromkeys(map(keys.__getitem__, counted), 0)
    counted.sort(key=durations.__getitem__)
    longest.update(zip(map(keys.__getitem__, counted), map(durations.__getitem__, counted), strict=True))
    ranked = sorted(longest, key=lambda k: (-longest[k], k[0], k[1] or ""))
    return ranked[:max_pairs]


class ReferenceCache:
    """References per store and (project, operation, model), reused for the settings'
    `outlier_cache_ttl_s`: a 7-day p95 moves slowly, and reading one costs up to
    `outlier_max_scan` row reads, most of a cold request's time. Safe to share between threads."""

    def __init__(self, max_entries: int = REFERENCE_CACHE_SIZE) -> None:
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._stores: weakref.WeakKeyDictionary[TraceStore, dict[tuple[str, OpModel], tuple[int, Reference]]]
        self._stores = weakref.WeakKeyDictionary()

    def get(
        self,
        store: TraceStore,
        project_id: str,
        pairs: Sequence[OpModel],
        now_us: int,
        limits: AnalyticsSettings = _DEFAULTS,
    ) -> dict[OpModel, Reference]:
        ttl_us = int(limits.outlier_cache_ttl_s * 1_000_000)
        out: dict[OpModel, Reference] = {}
        missing: list[OpModel] = []
        with self._lock:
            entries = self._stores.setdefault(store, {})
            for pair in pairs:
                hit = entries.get((project_id, pair))
                if hit is not None and now_us - hit[0] < ttl_us:
                    out[pair] = hit[1]
                else:
                    missing.append(pair)
        if not missing:
            return out
        since = now_us - BASELINE_WINDOW_DAYS * _DAY_US
        fetched = store.recent_durations(
            project_id, missing, since, now_us, limits.outlier_max_sample, limits.outlier_max_scan
        )
        with self._lock:
            entries = self._stores.setdefault(store, {})
            for pair in missing:
                out[pair] = ref = reference(fetched.get(pair, []))
                entries.pop((project_id, pair), None)  # re-inserted last: the oldest go first
                entries[(project_id, pair)] = (now_us, ref)
            while len(entries) > self._max_entries:
                del entries[next(iter(entries))]
        return out


_REFERENCES = ReferenceCache()


def run_bottlenecks(
    store: TraceStore,
    project_id: str,
    run_id: str,
    limit: int,
    limits: AnalyticsSettings,
    cache: ReferenceCache = _REFERENCES,
) -> dict[str, Any] | None:
    """The bottleneck report of a run within `limits`, or None when the project has no such run."""
    run = store.run_timings(project_id, run_id, limits.bottleneck_max_spans)
    if run is None:
        return None
    cols = _columns(run.spans)  # once for both
    pairs = _reference_pairs(cols, limits.outlier_max_pairs)
    references = cache.get(store, project_id, pairs, store.now_us(), limits)
    return _analyze(run, cols, references, limit, limits)

"""Employee anonymity against differencing: which employee figures a filter may release.

Every employee figure (n, sums, distribution, boxes, and whatever is derived from them) is a sum
over the employee answers it covers, so the difference (or any linear combination) of released
figures is a sum over the answers in the difference. Withholding each figure whose own n is
under k is not enough: "all units" minus "all units but one" isolates the one unit.

The rule here is sound by linear algebra. The employee answers of a journey are partitioned into
**atoms** that depend on the data only, never on the filter being viewed:

- time: calendar months (the organisation's time zone) grouped into **blocks**, from the first
  month with employee answers on, each block closed once it holds k employees (a trailing block
  still under k joins the block before it);
- within a block: the (questionnaire, attribute set) units with employee answers, pooled along a
  fixed hierarchy (questionnaire, then attributes from the fewest distinct values to the most),
  so that a unit with k or more employees is an atom of its own and smaller ones are pooled with
  their nearest relatives until the pool holds k; what is still under k at the top joins the
  smallest atom of the block (secondary suppression).

A filter's employee figures cover the blocks its period touches, whole (the period snapped
outwards: `StaffPartition.window`). For one cell (an item or a touchpoint score), the figure is
released only if, in every atom of the window, the selected employees with an answer in that
cell are none of the atom's or all of them, and every atom counted holds k or more such answers.
Every released figure of that cell is then a sum over whole atoms of at least k answers, so any
linear combination of released figures (of any filters) is a combination of such atom sums: no
difference of them can single out fewer than k employees.

The weights that shape blocks and pools are the employees' touchpoint n (the most of any
touchpoint per unit and month): only how much is withheld depends on them, never soundness,
which the per-cell check carries alone. The atoms change as new answers arrive: comparing what
the page showed yesterday with what it shows today reveals the new answers by difference (the
README says so).
"""

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

WithheldReason = Literal["too_few", "difference", "period"]
TOO_FEW: WithheldReason = "too_few"
DIFFERENCE: WithheldReason = "difference"
PERIOD: WithheldReason = "period"

# (questionnaire id, attribute set id): what a filter selects or not, as a whole.
Unit = tuple[int, int]
# (questionnaire id, attribute set id, first day of the month)
UnitMonth = tuple[int, int, date]


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def month_end(month: date) -> date:
    return next_month(month) - timedelta(days=1)


def months(first: date, last: date) -> list[date]:
    result, month = [], month_start(first)
    while month <= last:
        result.append(month)
        month = next_month(month)
    return result


@dataclass(frozen=True)
class StaffPartition:
    """The atoms of a journey's employee answers (see the module docstring)."""

    k: int
    # (first month, last month) of each block, ascending, covering every month from the first
    # to the last with employee answers.
    blocks: tuple[tuple[date, date], ...] = ()
    # (block index, unit) -> atom id.
    atom_of: Mapping[tuple[int, Unit], int] = field(default_factory=dict)

    def block_index(self, month: date) -> int | None:
        for index, (first, last) in enumerate(self.blocks):
            if first <= month <= last:
                return index
        return None

    def window(self, date_from: date, date_to: date) -> tuple[date, date]:
        """The days employee figures cover for a period: whole months, and whole blocks."""
        first, last = month_start(date_from), month_start(date_to)
        start = self.block_index(first)
        if start is not None:
            first = self.blocks[start][0]
        end = self.block_index(last)
        if end is not None:
            last = self.blocks[end][1]
        return first, month_end(last)

    def aligned(self, first: date, last: date) -> bool:
        """Whether the days first..last are whole blocks (months outside any block count as
        blocks of their own): what a series period must be to show employee figures."""
        return self.window(first, last) == (first, last)

    def atom(self, unit_month: UnitMonth) -> Hashable:
        questionnaire_id, set_id, month = unit_month
        block = self.block_index(month)
        if block is None:
            # Answers outside the weighted data (items without any touchpoint answer): an atom
            # per unit and month, still filter-independent.
            return ("solo", questionnaire_id, set_id, month)
        atom = self.atom_of.get((block, (questionnaire_id, set_id)))
        if atom is None:
            return ("solo", questionnaire_id, set_id, self.blocks[block][0])
        return atom


def _blocks(monthly: Mapping[date, int], k: int) -> list[tuple[date, date]]:
    if not monthly:
        return []
    all_months = months(min(monthly), max(monthly))
    blocks: list[list[date]] = []
    current: list[date] = []
    weight = 0
    for month in all_months:
        current.append(month)
        weight += monthly.get(month, 0)
        if weight >= k:
            blocks.append(current)
            current, weight = [], 0
    if current:
        if blocks and weight > 0:
            blocks[-1].extend(current)
        elif blocks:
            # Trailing months without answers: blocks of their own, nothing to hide.
            blocks.extend([m] for m in current)
        else:
            blocks.append(current)
    return [(block[0], block[-1]) for block in blocks]


def _pool(
    units: list[Unit],
    weights: Mapping[Unit, int],
    keys: Mapping[Unit, tuple[Any, ...]],
    depth: int,
    k: int,
) -> tuple[list[list[Unit]], list[Unit]]:
    """Atoms of `units` (grouped by their key from `depth` on) and the leftover under k."""
    if len(units) == 1 or all(keys[u][depth:] == keys[units[0]][depth:] for u in units):
        atoms: list[list[Unit]] = []
        leftover: list[Unit] = []
        for unit in units:
            if weights.get(unit, 0) >= k:
                atoms.append([unit])
            else:
                leftover.append(unit)
        if leftover and sum(weights.get(u, 0) for u in leftover) >= k:
            atoms.append(leftover)
            leftover = []
        return atoms, leftover
    groups: dict[Any, list[Unit]] = defaultdict(list)
    for unit in units:
        groups[keys[unit][depth]].append(unit)
    atoms, leftover = [], []
    for value in sorted(groups, key=str):
        sub_atoms, sub_leftover = _pool(groups[value], weights, keys, depth + 1, k)
        atoms.extend(sub_atoms)
        leftover.extend(sub_leftover)
    if leftover and sum(weights.get(u, 0) for u in leftover) >= k:
        atoms.append(leftover)
        leftover = []
    return atoms, leftover


def build_partition(
    *,
    k: int,
    weights: Mapping[UnitMonth, int],
    set_values: Mapping[int, Mapping[str, Any]],
) -> StaffPartition:
    """The atoms of a journey's employee answers from their weights per unit and month (how
    many employees answered, at most) and the attribute sets' values. Filter-independent."""
    k = max(int(k), 1)
    monthly: dict[date, int] = defaultdict(int)
    for (_q, _s, month), weight in weights.items():
        monthly[month] += max(int(weight), 0)
    blocks = _blocks(monthly, k)
    # Coarse attributes first: a filter on a region then keeps its pools whole more often than
    # one on a store would.
    distinct: dict[str, set[str]] = defaultdict(set)
    for set_id in {s for _q, s, _m in weights}:
        for name, value in (set_values.get(set_id) or {}).items():
            distinct[name].add(str(value))
    order = sorted(distinct, key=lambda name: (len(distinct[name]), name))
    atom_of: dict[tuple[int, Unit], int] = {}
    next_id = 0
    for index, (first, last) in enumerate(blocks):
        block_weights: dict[Unit, int] = defaultdict(int)
        for (q, s, month), weight in weights.items():
            if first <= month <= last:
                block_weights[(q, s)] += max(int(weight), 0)
        units = sorted(block_weights)
        if not units:
            continue
        keys = {
            (q, s): (q, *(str((set_values.get(s) or {}).get(name, "")) for name in order), s)
            for q, s in units
        }
        atoms, leftover = _pool(units, block_weights, keys, 0, k)
        if leftover:
            if atoms:
                smallest = min(
                    range(len(atoms)),
                    key=lambda i: (sum(block_weights[u] for u in atoms[i]), i),
                )
                atoms[smallest] = atoms[smallest] + leftover
            else:
                atoms.append(leftover)
        for members in atoms:
            for unit in members:
                atom_of[(index, unit)] = next_id
            next_id += 1
    return StaffPartition(k=k, blocks=tuple(blocks), atom_of=atom_of)


class Summer[T]:
    """How to count and add one kind of cell value (moments, value counts)."""

    def __init__(self, n: Callable[[T], int], add: Callable[[T, T], T], zero: Callable[[], T]):
        self.n, self.add, self.zero = n, add, zero


def release[C: Hashable, T](
    *,
    partition: StaffPartition,
    window: tuple[date, date],
    selected: Callable[[int, int], bool],
    unit_cells: Mapping[UnitMonth, Mapping[C, T]],
    summer: Summer[T],
    cells: Iterable[C] = (),
) -> tuple[dict[C, T], dict[C, WithheldReason]]:
    """The employee cells a selection of units may show over `window` (whole blocks), summed,
    and the reason each other cell is withheld. `cells` names cells to judge even without any
    answer (they come out withheld, too few)."""
    first, last = window
    per_atom: dict[C, dict[Hashable, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    sums: dict[C, T] = {}
    for unit_month, by_cell in unit_cells.items():
        questionnaire_id, set_id, month = unit_month
        if not first <= month <= last:
            continue
        atom = partition.atom(unit_month)
        chosen = selected(questionnaire_id, set_id)
        for cell, value in by_cell.items():
            n = summer.n(value)
            if n <= 0:
                continue
            counts = per_atom[cell][atom]
            counts[0] += n
            if chosen:
                counts[1] += n
                sums[cell] = summer.add(sums[cell], value) if cell in sums else value
    released: dict[C, T] = {}
    withheld: dict[C, WithheldReason] = {}
    k = partition.k
    for cell in set(per_atom) | set(cells):
        atoms = per_atom.get(cell, {})
        total = sum(chosen for _all, chosen in atoms.values())
        if total < k:
            withheld[cell] = TOO_FEW
        elif any(0 < chosen < k or 0 < chosen < every for every, chosen in atoms.values()):
            withheld[cell] = DIFFERENCE
        else:
            released[cell] = sums.get(cell, summer.zero())
    return released, withheld

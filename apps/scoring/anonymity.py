"""Employee anonymity against differencing: which employee figures a filter may release.

Every employee figure (n, sums, distribution, boxes, and whatever is derived from them) is a sum
over the employee answers it covers, so the difference (or any linear combination) of released
figures is a sum over the answers in the difference. Withholding each figure whose own n is
under k is not enough: "all units" minus "all units but one" isolates the one unit.

The rule here is sound by linear algebra. The employee answers of a journey are partitioned into
**atoms** that depend on the data only, never on the filter being viewed:

- time: calendar-aligned **blocks** of 1, 3, 6 or 12 months (the shortest length that leaves
  at least 80% of the employee answers in units holding k on their own; `BLOCK_MONTHS`), from
  the first month with employee answers on; a block still under k joins the next one (a
  trailing one the one before it);
- within a block: the (questionnaire, attribute set) units with employee answers, pooled along a
  fixed hierarchy (questionnaire, then attributes from the fewest distinct values to the most),
  so that a unit holding k is an atom of its own and smaller ones are pooled with their nearest
  relatives until the pool holds k; what is still under k at the top joins the smallest atom of
  the block (secondary suppression). "Holding k" means k employees and, in every cell (item or
  touchpoint) it has answers in, k answers or none, so that atoms seldom fail the cell check
  below.

A filter's employee figures cover the blocks its period touches, whole (the period snapped
outwards: `StaffPartition.window`). For one cell (an item or a touchpoint score), the figure is
released only if, in every atom of the window, the selected employees with an answer in that
cell are none of the atom's or all of them, and every atom counted holds k or more such answers.
Every released figure of that cell is then a sum over whole atoms of at least k answers, so any
linear combination of released figures (of any filters) is a combination of such atom sums: no
difference of them can single out fewer than k employees.

How blocks and pools are shaped (the counts per unit, month and cell) decides only how much is
withheld, never soundness, which the per-cell check carries alone. The atoms change as new
answers arrive: comparing what the page showed yesterday with what it shows today reveals the
new answers by difference (the README says so).
"""

from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
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


Counts = Mapping[Hashable, int]  # cell -> employee answers


def _add(total: dict[Hashable, int], counts: Counts) -> None:
    for cell, n in counts.items():
        total[cell] = total.get(cell, 0) + n


def _sufficient(counts: Counts, k: int) -> bool:
    """Whether a group of answers may stand as an atom: k employees at least, and every cell
    it has answers in with k of them or more (else the cell would be withheld wherever the
    atom is counted)."""
    return bool(counts) and max(counts.values()) >= k and all(n >= k for n in counts.values() if n)


# Block lengths tried, in months (calendar-aligned: months, quarters, half-years, years), and
# the share of employee answers that must fall in units holding k on their own within a block
# for a length to do: shorter blocks show staff figures closer to the period asked, longer ones
# let more units (teams, stores) show on their own.
BLOCK_MONTHS = (1, 3, 6, 12)
SUFFICIENT_SHARE = 0.8


def _chunks(first: date, last: date, length: int) -> list[list[date]]:
    """Calendar-aligned runs of `length` months covering first..last."""
    chunks: list[list[date]] = []
    for month in months(first, last):
        if not chunks or (month.year * 12 + month.month - 1) % length == 0:
            chunks.append([])
        chunks[-1].append(month)
    return chunks


def _merged(
    chunks: list[list[date]], monthly: Mapping[date, Counts], k: int
) -> list[tuple[date, date]]:
    """Chunks joined until each holds k employees (a trailing one still short joins the one
    before it); chunks without answers stay on their own."""
    blocks: list[list[date]] = []
    current: list[date] = []
    counts: dict[Hashable, int] = {}
    for chunk in chunks:
        chunk_counts: dict[Hashable, int] = {}
        for month in chunk:
            _add(chunk_counts, monthly.get(month, {}))
        if not current and not any(chunk_counts.values()):
            blocks.append(chunk)
            continue
        current.extend(chunk)
        _add(counts, chunk_counts)
        if _sufficient(counts, k):
            blocks.append(current)
            current, counts = [], {}
    if current:
        with_data = [i for i, block in enumerate(blocks) if any(monthly.get(m) for m in block)]
        if with_data and any(counts.values()):
            last = with_data[-1]
            joined = [m for block in blocks[last:] for m in block] + current
            blocks = [*blocks[:last], joined]
        else:
            blocks.append(current)
    return [(block[0], block[-1]) for block in blocks]


def _blocks(
    unit_cells: Mapping[UnitMonth, Counts], monthly: Mapping[date, Counts], k: int
) -> list[tuple[date, date]]:
    if not monthly:
        return []
    first, last = min(monthly), max(monthly)
    blocks: list[tuple[date, date]] = []
    for length in BLOCK_MONTHS:
        blocks = _merged(_chunks(first, last, length), monthly, k)
        per_unit: dict[tuple[int, Unit], dict[Hashable, int]] = defaultdict(dict)
        for (q, s, month), counts in unit_cells.items():
            index = next(i for i, (a, b) in enumerate(blocks) if a <= month <= b)
            _add(per_unit[(index, (q, s))], counts)
        weights = {key: max(counts.values(), default=0) for key, counts in per_unit.items()}
        total = sum(weights.values())
        alone = sum(weights[key] for key, counts in per_unit.items() if _sufficient(counts, k))
        if total == 0 or alone >= SUFFICIENT_SHARE * total:
            break
    return blocks


def _summed(units: Iterable[Unit], counts: Mapping[Unit, Counts]) -> dict[Hashable, int]:
    total: dict[Hashable, int] = {}
    for unit in units:
        _add(total, counts.get(unit, {}))
    return total


def _pool(
    units: list[Unit],
    counts: Mapping[Unit, Counts],
    keys: Mapping[Unit, tuple[Any, ...]],
    depth: int,
    k: int,
) -> tuple[list[list[Unit]], list[Unit]]:
    """Atoms of `units` (grouped by their key from `depth` on) and what is left insufficient."""
    atoms: list[list[Unit]] = []
    leftover: list[Unit] = []
    if len(units) == 1 or depth >= len(keys[units[0]]):
        for unit in units:
            if _sufficient(counts.get(unit, {}), k):
                atoms.append([unit])
            else:
                leftover.append(unit)
    else:
        groups: dict[Any, list[Unit]] = defaultdict(list)
        for unit in units:
            groups[keys[unit][depth]].append(unit)
        for value in sorted(groups, key=str):
            sub_atoms, sub_leftover = _pool(groups[value], counts, keys, depth + 1, k)
            atoms.extend(sub_atoms)
            leftover.extend(sub_leftover)
    if leftover and _sufficient(_summed(leftover, counts), k):
        atoms.append(leftover)
        leftover = []
    return atoms, leftover


def build_partition(
    *,
    k: int,
    unit_cells: Mapping[UnitMonth, Counts],
    set_values: Mapping[int, Mapping[str, Any]],
) -> StaffPartition:
    """The atoms of a journey's employee answers from their counts per unit, month and cell
    (`unit_cells`, the whole history) and the attribute sets' values. Filter-independent."""
    k = max(int(k), 1)
    monthly: dict[date, dict[Hashable, int]] = defaultdict(dict)
    for (_q, _s, month), counts in unit_cells.items():
        _add(monthly[month], counts)
    blocks = _blocks(unit_cells, monthly, k)
    # Coarse attributes first: a filter on a region then keeps its pools whole more often than
    # one on a store would.
    distinct: dict[str, set[str]] = defaultdict(set)
    for set_id in {s for _q, s, _m in unit_cells}:
        for name, value in (set_values.get(set_id) or {}).items():
            distinct[name].add(str(value))
    order = sorted(distinct, key=lambda name: (len(distinct[name]), name))
    atom_of: dict[tuple[int, Unit], int] = {}
    next_id = 0
    for index, (first, last) in enumerate(blocks):
        block_counts: dict[Unit, dict[Hashable, int]] = defaultdict(dict)
        for (q, s, month), counts in unit_cells.items():
            if first <= month <= last:
                _add(block_counts[(q, s)], counts)
        units = sorted(block_counts)
        if not units:
            continue
        keys = {
            (q, s): (q, *(str((set_values.get(s) or {}).get(name, "")) for name in order))
            for q, s in units
        }
        atoms, leftover = _pool(units, block_counts, keys, 0, k)
        if leftover:
            # Secondary suppression: what is still too small joins the smallest atom.
            if atoms:
                smallest = min(
                    range(len(atoms)),
                    key=lambda i: (max(_summed(atoms[i], block_counts).values()), i),
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
    atoms: Mapping[UnitMonth, Hashable] | None = None,
    only: Collection[C] | None = None,
) -> tuple[dict[C, T], dict[C, WithheldReason]]:
    """The employee cells a selection of units may show over `window` (whole blocks), summed,
    and the reason each other cell is withheld. `cells` names cells to judge even without any
    answer (they come out withheld, too few). `atoms` may give each unit-month's atom
    (`partition.atom`, precomputed: the same result, cheaper); `only` limits the cells judged
    to those it holds (as if `unit_cells` held no others)."""
    first, last = window
    per_atom: dict[C, dict[Hashable, list[int]]] = {}
    sums: dict[C, T] = {}
    # The selection depends on the unit only: asked once per unit, not per month.
    chosen_of: dict[Unit, bool] = {}
    for unit_month, by_cell in unit_cells.items():
        questionnaire_id, set_id, month = unit_month
        if not first <= month <= last:
            continue
        atom = atoms.get(unit_month) if atoms is not None else None
        if atom is None:
            atom = partition.atom(unit_month)
        unit = (questionnaire_id, set_id)
        chosen = chosen_of.get(unit)
        if chosen is None:
            chosen = chosen_of[unit] = selected(questionnaire_id, set_id)
        pairs: Iterable[tuple[C, T]]
        if only is None:
            pairs = by_cell.items()
        elif len(only) < len(by_cell):
            pairs = [(cell, by_cell[cell]) for cell in only if cell in by_cell]
        else:
            pairs = [(cell, value) for cell, value in by_cell.items() if cell in only]
        for cell, value in pairs:
            n = summer.n(value)
            if n <= 0:
                continue
            by_atom = per_atom.get(cell)
            if by_atom is None:
                by_atom = per_atom[cell] = {}
            counts = by_atom.get(atom)
            if counts is None:
                counts = by_atom[atom] = [0, 0]
            counts[0] += n
            if chosen:
                counts[1] += n
                sums[cell] = summer.add(sums[cell], value) if cell in sums else value
    released: dict[C, T] = {}
    withheld: dict[C, WithheldReason] = {}
    k = partition.k
    for cell in set(per_atom) | set(cells):
        cell_atoms = per_atom.get(cell, {})
        total = sum(chosen for _all, chosen in cell_atoms.values())
        if total < k:
            withheld[cell] = TOO_FEW
        elif any(0 < chosen < k or 0 < chosen < every for every, chosen in cell_atoms.values()):
            withheld[cell] = DIFFERENCE
        else:
            released[cell] = sums.get(cell, summer.zero())
    return released, withheld

"""The differencing rule (apps.scoring.anonymity) on plain data: whatever two filters are asked,
the employees one counts and the other does not are none or at least k."""

from collections import defaultdict
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.scoring import anonymity
from apps.scoring.filters import ReportFilter

K = 5
TEAMS = ("a", "b", "c", "d")
STORES = ("x", "y")
MONTHS = [date(2026, m, 1) for m in range(1, 9)]
FIRST, LAST = date(2026, 1, 1), date(2026, 8, 31)
CELLS = ("tp", "item")
# attribute set id -> values: every team in every store, and one set without a store.
SETS = {
    index + 1: values
    for index, values in enumerate(
        [{"team": t, "store": s} for t in TEAMS for s in STORES] + [{"team": "a"}]
    )
}
SUMMER = anonymity.Summer[tuple[int, int]](
    n=lambda v: v[0], add=lambda a, b: (a[0] + b[0], a[1] + b[1]), zero=lambda: (0, 0)
)

# One employee answer: (questionnaire, set, month, cell, person number, value)
answers_strategy = st.lists(
    st.tuples(
        st.sampled_from((1, 2)),
        st.sampled_from(sorted(SETS)),
        st.sampled_from(MONTHS),
        st.sampled_from(CELLS),
        st.integers(0, 4),
    ),
    max_size=160,
)


@st.composite
def filters(draw):
    start = FIRST + timedelta(days=draw(st.integers(0, 240)))
    end = start + timedelta(days=draw(st.integers(0, 240)))
    attributes = {}
    for name, values in (("team", TEAMS), ("store", STORES)):
        chosen = draw(st.lists(st.sampled_from(values), unique=True, max_size=len(values)))
        if chosen:
            attributes[name] = sorted(chosen)
    questionnaire = draw(st.sampled_from((None, 1, 2)))
    return ReportFilter(start, end, attributes, questionnaire)


def _data(answers):
    unit_cells = defaultdict(lambda: defaultdict(lambda: (0, 0)))
    counts = defaultdict(lambda: defaultdict(int))
    people = []
    for number, (q, s, month, cell, value) in enumerate(answers):
        unit = (q, s, month)
        n, total = unit_cells[unit][cell]
        unit_cells[unit][cell] = (n + 1, total + value)
        counts[unit][cell] += 1
        people.append((number, q, s, month, cell, value))
    partition = anonymity.build_partition(k=K, unit_cells=counts, set_values=SETS)
    return partition, {u: dict(c) for u, c in unit_cells.items()}, people


def _released(partition, unit_cells, flt):
    window = partition.window(flt.date_from, flt.date_to)

    def selected(q, s):
        return flt.questionnaire_id in (None, q) and flt.matches(SETS[s])

    released, withheld = anonymity.release(
        partition=partition,
        window=window,
        selected=selected,
        unit_cells=unit_cells,
        summer=SUMMER,
        cells=CELLS,
    )
    return released, withheld, window, selected


def _covered(people, flt, window, selected, cell):
    return {
        number
        for number, q, s, month, c, _value in people
        if c == cell and window[0] <= month <= window[1] and selected(q, s)
    }


@settings(max_examples=300, deadline=None)
@given(answers_strategy, st.lists(filters(), min_size=2, max_size=6))
def test_no_two_released_figures_differ_by_fewer_than_k_employees(answers, flts):
    partition, unit_cells, people = _data(answers)
    value_of = {number: value for number, *_rest, value in people}
    shown = defaultdict(list)
    for flt in flts:
        released, withheld, window, selected = _released(partition, unit_cells, flt)
        assert set(released) | set(withheld) == set(CELLS)
        assert window[0].day == 1 and (window[1] + timedelta(days=1)).day == 1
        assert window[0] <= flt.date_from and flt.date_to <= window[1]
        for cell in CELLS:
            covered = _covered(people, flt, window, selected, cell)
            if cell in released:
                # Released figures are exact: n and the sum of the covered answers.
                assert released[cell] == (len(covered), sum(value_of[p] for p in covered))
                shown[cell].append(covered)
    for cell, groups in shown.items():
        for one in groups:
            assert len(one) >= K
            for other in groups:
                for part in (one - other, other - one, one & other):
                    assert len(part) == 0 or len(part) >= K, (cell, len(part))


def _answers(spec):
    """{(q, set, month number): employees} -> answers to both cells by each."""
    return [
        (q, s, date(2026, m, 1), cell, 3)
        for (q, s, m), n in spec.items()
        for _ in range(n)
        for cell in CELLS
    ]


def test_all_units_minus_all_but_one_is_withheld():
    # Team a: 2 employees in store x; the rest 6 each. One month.
    spec = {(1, 1, 3): 2, (1, 3, 3): 6, (1, 5, 3): 6, (1, 7, 3): 6}
    partition, unit_cells, _people = _data(_answers(spec))
    march = (date(2026, 3, 1), date(2026, 3, 31))
    everyone = ReportFilter(*march)
    released, _withheld, *_ = _released(partition, unit_cells, everyone)
    assert released["tp"][0] == 20
    all_but_a = ReportFilter(*march, {"team": ["b", "c", "d"]})
    released, withheld, *_ = _released(partition, unit_cells, all_but_a)
    assert withheld == {"tp": "difference", "item": "difference"}
    # The small team is pooled with the smallest other one: that one is withheld alone too.
    for team, shown in (("a", False), ("b", False), ("c", True), ("d", True)):
        flt = ReportFilter(*march, {"team": [team]})
        released, withheld, *_ = _released(partition, unit_cells, flt)
        assert ("tp" in released) is shown, team
    pooled = ReportFilter(*march, {"team": ["a", "b"]})
    assert _released(partition, unit_cells, pooled)[0]["tp"][0] == 8


def test_a_short_month_joins_its_block_so_windows_cannot_differ_by_it():
    # 2 employees in November (2025 here as months 11), 8 in December: one block.
    answers = [
        (1, 1, date(2025, 11, 1), "tp", 3),
        (1, 1, date(2025, 11, 1), "tp", 4),
    ] + [(1, 1, date(2025, 12, 1), "tp", 2)] * 8
    partition, unit_cells, _people = _data(answers)
    assert partition.window(date(2025, 12, 1), date(2025, 12, 31)) == (
        date(2025, 11, 1),
        date(2025, 12, 31),
    )
    both = _released(partition, unit_cells, ReportFilter(date(2025, 11, 1), date(2025, 12, 31)))
    december = _released(partition, unit_cells, ReportFilter(date(2025, 12, 2), date(2025, 12, 30)))
    assert both[0]["tp"] == december[0]["tp"] == (10, 23)


def test_thirty_and_twenty_nine_days_give_the_same_staff_figures():
    answers = [(1, 1, date(2026, 4, 1), "tp", v % 5) for v in range(12)]
    partition, unit_cells, _people = _data(answers)
    thirty = _released(partition, unit_cells, ReportFilter(date(2026, 4, 1), date(2026, 4, 30)))
    twenty_nine = _released(
        partition, unit_cells, ReportFilter(date(2026, 4, 2), date(2026, 4, 30))
    )
    assert thirty[0] == twenty_nine[0] and thirty[2] == twenty_nine[2]


def test_two_overlapping_or_filters_cannot_isolate_their_difference():
    # Teams a (2), b (7), c (7): {a, b} and {b} differ by team a alone.
    spec = {(1, 1, 5): 2, (1, 3, 5): 7, (1, 5, 5): 7}
    partition, unit_cells, _people = _data(_answers(spec))
    may = (date(2026, 5, 1), date(2026, 5, 31))

    def shown(flt):
        return "tp" in _released(partition, unit_cells, flt)[0]

    # Team a is pooled with b (the smaller of the two others): {a, b} shows, b alone and
    # {b, c} (which split the pool) do not, so no two shown groups differ by team a.
    assert shown(ReportFilter(*may, {"team": ["a", "b"]}))
    assert not shown(ReportFilter(*may, {"team": ["b"]}))
    assert not shown(ReportFilter(*may, {"team": ["b", "c"]}))
    assert shown(ReportFilter(*may, {"team": ["c"]})) and shown(ReportFilter(*may))

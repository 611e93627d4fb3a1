"""What the relay database stores as JSON (ledger entries, closures, parked filings) comes back
as the same domain values."""

from relay_linker import stored_json
from relay_linker.domain import apply_all, decide, new_state
from relay_linker.domain.model import ParkedFiling
from tests.unit.test_linker_support import HASHER, sample_records


def test_every_ledger_entry_link_and_parked_filing_of_the_sample_comes_back_equal() -> None:
    state = new_state()
    stored = 0
    for record in sample_records():
        apply_all(state, decide(state, record, HASHER))
        held = [*state.ledger.values(), *state.parked.values(),
                *(x.closures for links in state.links.values() for x in links),
                ParkedFiling(record, ("person:x",), (), record.relay_time)]
        for value in held:
            assert stored_json.loads(stored_json.dumps(value)) == value
            stored += 1
    assert stored > 100

"""The notifications processor on the real stack: hand-made cases, the notices expected written
out by hand with the rule and its source (DOMAIN §6, docs/notifications.md)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from schemas.notices import NoticeRule, NoticeStep, RecipientRole
from tests.integration.notifications_env import (
    MUNICIPALITY,
    at,
    hire,
    inbox,
    loss,
    participant_notices,
    registration,
    relay_id_of,
    resident,
    run_relay,
    steps,
)
from tests.integration.relay_env import RelayEnv
from trust.pki import Participant

pytestmark = pytest.mark.integration

HOUSEHOLD = "HH-0001"


async def test_a_retiree_without_cover_is_reminded_with_the_householder_and_the_municipality(
    relay: RelayEnv,
) -> None:
    """Ichiro (householder) and Jiro (member) live in Chiyoda. Jiro is hired 2025-04-01 and
    leaves: loss date 9/1, so the NHI filing is due by 9/14 (day 1 = 9/1, DOMAIN §6) and the
    reminder goes out on 9/15 to Jiro, to Ichiro as householder and to Chiyoda's NHI desk;
    five months as an insured person name 任意継続, to be elected by 9/22 (9/20 is a Saturday,
    9/21 a Sunday: 健保法37条, 民法142条)."""
    ichiro = resident(1, date(1970, 5, 5))
    jiro = resident(2, date(1990, 7, 7))
    await relay.tick(at(date(2025, 1, 5)))
    await relay.publish([registration(ichiro, HOUSEHOLD, True), registration(jiro, HOUSEHOLD,
                                                                             False)])
    await relay.tick(at(date(2025, 4, 5)))
    await relay.publish([hire(2, jiro, date(2025, 4, 1))])
    await relay.tick(at(date(2025, 9, 4)))
    await relay.publish([loss(2, jiro, date(2025, 9, 1))])
    await relay.tick(at(date(2025, 9, 14)))  # the deadline day: nothing yet
    await relay.tick(at(date(2025, 9, 15)))
    await relay.tick(at(date(2025, 9, 15)) + timedelta(hours=1))
    await run_relay(relay)

    rows = await inbox(relay)
    assert sorted(steps(rows)) == [
        ("nhi_enrolment_reminder", "reminder", "householder"),
        ("nhi_enrolment_reminder", "reminder", "person")]
    jiro_id, ichiro_id = await relay_id_of(relay, jiro), await relay_id_of(relay, ichiro)
    by_role = {r["body"]["role"]: r for r in rows}
    assert by_role["person"]["relay_id"] == jiro_id
    assert by_role["householder"]["relay_id"] == ichiro_id
    for r in rows:
        assert r["key_date"] == date(2025, 9, 1) and r["deadline"] == date(2025, 9, 14)
        assert r["body"]["continuation_last_day"] == "2025-09-22"
        assert r["relay_time"] == at(date(2025, 9, 15))
    assert by_role["person"]["copy_id"] != by_role["householder"]["copy_id"]

    notices = await participant_notices(relay, Participant("municipality", MUNICIPALITY))
    assert len(notices) == 1
    notice, number, key = notices[0]
    assert (notice.rule, notice.step, notice.recipient_role) == (
        NoticeRule.NHI_ENROLMENT_REMINDER, NoticeStep.REMINDER, RecipientRole.MUNICIPALITY_NHI)
    assert number == jiro.code, "the municipality's own number for the person: the resident code"
    assert jiro_id.encode() not in key and jiro_id not in notice.model_dump_json()
    assert notice.notice_id not in {r["copy_id"] for r in rows}

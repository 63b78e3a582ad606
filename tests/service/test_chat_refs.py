"""编号 typed in chat are ASCII digits within an id's range: anything else that looks like
a number ("²", full-width digits, 40 digits, 2³¹) is answered "没有编号为 … 的检查任务",
never an internal error, on both databases."""

from __future__ import annotations

import pytest

from .harness import texts

ODD = ["²", "１２", "٣", "9" * 40, str(2**31), str(2**63), "0" * 30 + "1" + "0" * 9]


async def _inspector(bot) -> str:
    people = await bot.people()
    return next(a for a, p in people.items() if p.role != "管理员")


@pytest.mark.parametrize(
    "command",
    [
        "回避 {ref} 与企业负责人系亲属",
        "回避 {ref}",
        "对调 {ref} 张三 理由",
        "结果 {ref} 1 未见异常",
        "任务 {ref}",
    ],
)
async def test_odd_numbers_are_no_such_assignment(bot, command):
    me = await _inspector(bot)
    for ref in ODD:
        replies = await bot.say(me, command.format(ref=ref))
        said = texts(replies)
        shown = ref if len(ref) <= 20 else ref[:20] + "…"
        assert f"没有编号为 {shown} 的检查任务" in said, (command, ref, said)
        assert "出错" not in said


async def test_a_plain_number_that_exists_for_nobody_and_words(bot):
    me = await _inspector(bot)
    assert "没有编号为 2147483647 的检查任务" in texts(await bot.say(me, "回避 2147483647 理由"))
    # not a number at all: the command's usage, as before
    said = texts(await bot.say(me, "回避 某某 理由"))
    assert "没有编号" not in said and "回避" in said


async def test_a_forged_button_beyond_an_id_is_stale(bot):
    me = await _inspector(bot)
    for key in (f"acc:{2**31}", "acc:99999999999", "acc:²", "det:" + "9" * 40):
        said = texts(await bot.click(me, key))
        assert "出错" not in said and said

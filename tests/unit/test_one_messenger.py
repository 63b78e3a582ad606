"""One messenger sends at a time: any two configured are refused at start, before any
is installed, with one Chinese message naming them."""

from __future__ import annotations

import pytest

from bot.app import create_app
from bot.config import Settings
from bot.messengers import ConfigError

AES = "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij"
WECOM = dict(wecom_corp_id="wwcorp", wecom_agent_id=1, wecom_secret="s", wecom_token="t")
WECOM["wecom_aes_key"] = AES
DINGTALK = dict(dingtalk_app_key="dingapp", dingtalk_app_secret="s", dingtalk_robot_code="r")
FEISHU = dict(feishu_app_id="cli_a1b2c3d4e5", feishu_app_secret="s")
NAMES = {"wecom": "企业微信", "dingtalk": "钉钉", "feishu": "飞书"}


@pytest.mark.parametrize(
    "chosen",
    [("wecom", "dingtalk"), ("wecom", "feishu"), ("dingtalk", "feishu"), tuple(NAMES)],
)
def test_two_or_more_messengers_are_refused_naming_them(chosen):
    parts = {"wecom": WECOM, "dingtalk": DINGTALK, "feishu": FEISHU}
    settings = Settings(database_url="sqlite+aiosqlite:///unused.db")
    for name in chosen:
        settings = settings.__class__(**{**settings.__dict__, **parts[name]})
    with pytest.raises(ConfigError) as refused:
        create_app(settings)
    said = str(refused.value)
    assert "同时配置了多个消息渠道" in said
    assert all(NAMES[n] in said for n in chosen)
    assert all(NAMES[n] not in said.split("：")[0] for n in NAMES if n not in chosen)

"""DingTalk settings: read from SSJ_DINGTALK_*; incomplete or malformed ones are refused
at start with a Chinese message, as is a second messenger configured beside WeCom."""

from __future__ import annotations

import pytest

from bot.app import create_app
from bot.config import Settings, dingtalk_enabled
from bot.messengers.wecom.setup import ConfigError

BASE = dict(
    database_url="sqlite+aiosqlite:///unused.db",
    dingtalk_app_key="dingapp",
    dingtalk_app_secret="s",
    dingtalk_robot_code="dingrobot",
)
AES = "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij"


def test_from_env(monkeypatch):
    monkeypatch.setenv("SSJ_DINGTALK_APP_KEY", " dingapp ")
    monkeypatch.setenv("SSJ_DINGTALK_MODE", "http")
    monkeypatch.setenv("SSJ_DINGTALK_API_BASE", "https://zhuanyou.example.gov.cn")
    s = Settings.from_env("sqlite+aiosqlite:///x.db")
    assert (s.dingtalk_app_key, s.dingtalk_mode, s.dingtalk_api_base) == (
        "dingapp",
        "http",
        "https://zhuanyou.example.gov.cn",
    )
    assert dingtalk_enabled(s)
    monkeypatch.delenv("SSJ_DINGTALK_APP_KEY")
    assert not dingtalk_enabled(Settings.from_env("sqlite+aiosqlite:///x.db"))


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(dingtalk_app_secret=""), "SSJ_DINGTALK_APP_SECRET"),
        (dict(dingtalk_robot_code=""), "SSJ_DINGTALK_ROBOT_CODE"),
        (dict(dingtalk_mode="websocket"), "SSJ_DINGTALK_MODE"),
        (dict(dingtalk_api_base="api.dingtalk.com"), "SSJ_DINGTALK_API_BASE"),
        (dict(dingtalk_mode="http"), "SSJ_DINGTALK_TOKEN"),
        (
            dict(dingtalk_mode="http", dingtalk_token="t", dingtalk_aes_key="short"),
            "SSJ_DINGTALK_AES_KEY",
        ),
        (
            dict(
                wecom_corp_id="wwcorp",
                wecom_agent_id=1,
                wecom_secret="s",
                wecom_token="t",
                wecom_aes_key=AES,
            ),
            "只能由一个通讯工具",
        ),
        (dict(wecom_bot_token="t", wecom_bot_aes_key=AES), "只能由一个通讯工具"),
    ],
)
def test_refused_at_start(changes, words):
    with pytest.raises(ConfigError) as exc:
        create_app(Settings(**{**BASE, **changes}))
    assert words in str(exc.value)
    assert any("\u4e00" <= c <= "\u9fff" for c in str(exc.value))


def test_complete_settings_start():
    create_app(Settings(**BASE))
    create_app(Settings(**BASE, dingtalk_mode="http", dingtalk_token="t", dingtalk_aes_key=AES))


def test_dingtalk_and_feishu_together_are_refused_naming_both():
    feishu = dict(
        feishu_app_id="cli_a1b2c3d4e5f6",
        feishu_app_secret="s",
        feishu_mode="http",
        feishu_encrypt_key="k",
        feishu_verification_token="v",
    )
    with pytest.raises(ConfigError) as exc:
        create_app(Settings(**{**BASE, **feishu}))
    assert "钉钉" in str(exc.value) and "飞书" in str(exc.value)
    assert "只能由一个通讯工具" in str(exc.value)

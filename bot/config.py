"""Settings from the environment (``SSJ_*``). Read when asked, never at import."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import time
from fractions import Fraction
from urllib.parse import urlsplit

from bot.domain.model import DEFAULT_LOW_CREDIT, DEFAULT_RISK_FACTORS, RISK_CLASSES, Rules

# storage/db.py has the same default (it resolves a URL when none is passed).
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/ssj.db"


def _env(name: str, default: str) -> str:
    v = os.environ.get(name)
    return v if v not in (None, "") else default


def _positive(name: str, default: int) -> int:
    """A whole number ≥ 1 from the environment; anything else is refused in Chinese."""
    raw = _env(name, str(default)).strip()
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 100_000:
        from bot.text import t

        raise ValueError(t("webchat.bad_setting", name=name, value=raw))
    return int(raw)


DIGEST_AT = "17:00"
_OFF = ("", "off", "0", "no", "false", "关闭")
_CLOCK_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_digest_at(raw: str | None) -> str:
    """``SSJ_DIGEST_AT``: unset → 17:00; empty or ``off`` → "" (no digest); else HH:MM."""
    if raw is None:
        return DIGEST_AT
    text = raw.strip()
    if text.lower() in _OFF:
        return ""
    m = _CLOCK_RE.match(text)
    if m is None:
        from bot.text import t

        raise ValueError(t("admin.bad_digest_at", text=raw))
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def parse_risk_factors(raw: str | None) -> tuple[tuple[str, Fraction], ...]:
    """``SSJ_RISK_FACTORS``: ``A=1/2,B=1,C=3/2,D=2`` (exact fractions or decimals ≥ 0); a
    class left out keeps its default; unset or empty: the defaults."""
    factors = dict(DEFAULT_RISK_FACTORS)
    text = (raw or "").strip()
    if not text:
        return DEFAULT_RISK_FACTORS
    for part in re.split(r"[,，;；\s]+", text):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip().upper()
        try:
            factor = Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            factor = None
        if not sep or name not in RISK_CLASSES or factor is None or factor < 0:
            from bot.text import t

            raise ValueError(t("risk.bad_factors", text=raw, part=part))
        factors[name] = factor
    return tuple((k, factors[k]) for k in RISK_CLASSES)


def parse_low_credit(raw: str | None) -> tuple[str, ...]:
    """``SSJ_LOW_CREDIT``: the 环境信用评级 wordings of class D, split by commas."""
    words = tuple(w.strip() for w in re.split(r"[,，、;；]+", raw or "") if w.strip())
    return words or DEFAULT_LOW_CREDIT


def clock_time(text: str) -> time | None:
    """ "17:00" → time(17, 0); "" → None (switched off)."""
    if not text:
        return None
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class Settings:
    database_url: str
    bureau_name: str = "新乡市生态环境局获嘉分局"
    region: str = "获嘉县"
    region_code: str = "410724"
    own_department: str = "生态环境"
    ratio_key: Fraction = Fraction(25, 100)
    ratio_general: Fraction = Fraction(10, 100)
    ratio_special: Fraction = Fraction(50, 100)
    min_team: int = 2
    # 信用风险分级分类: the strata factors m_k (SSJ_RISK_FACTORS) and the 环境信用评级
    # wordings of class D (SSJ_LOW_CREDIT)
    risk_factors: tuple = DEFAULT_RISK_FACTORS
    low_credit: tuple = DEFAULT_LOW_CREDIT
    bot_name: str = "双随机助手"
    host: str = "127.0.0.1"
    port: int = 8080
    web_chat: bool = False
    # people enter the web chat through a one-time link, then a session (SSJ_WEB_CHAT_LOGIN=1)
    web_chat_login: bool = False
    web_chat_invite_hours: int = 24  # how long an invitation link stays valid
    web_chat_session_days: int = 7  # how long a login lasts
    # where people reach the service (SSJ_PUBLIC_URL), for absolute links in messages;
    # empty: the service's own address (see ``public_base``)
    public_url: str = ""
    dialogue_minutes: int = 30
    wecom_corp_id: str = ""
    wecom_agent_id: int = 0
    wecom_secret: str = ""
    wecom_token: str = ""
    wecom_aes_key: str = ""
    wecom_api_base: str = "https://qyapi.weixin.qq.com"
    wecom_bot_token: str = ""
    wecom_bot_aes_key: str = ""
    wecom_group_webhook: str = ""
    wecom_pace_seconds: float = 2.0  # WeCom drops > 30 messages/min per member silently
    # callbacks dated further from now are refused; their deduplication rows are kept
    # about this long (SSJ_WECOM_MAX_AGE_SECONDS)
    wecom_max_age_seconds: int = 3600
    # Feishu / Lark (SSJ_FEISHU_*, see feishu_env): one messenger is the sender at a time
    feishu_app_id: str = ""
    feishu_app_secret: str = ""
    feishu_encrypt_key: str = ""
    feishu_verification_token: str = ""
    feishu_mode: str = "ws"  # ws: long connection | http: /feishu/events
    feishu_api_base: str = "https://open.feishu.cn"
    feishu_group_chat_id: str = ""  # the supervisors' group (chat_id)
    publish_endpoint: str = ""  # push to the national credit publicity system (JSON POST)
    publish_token: str = ""  # optional bearer token for that endpoint
    auto_draw: bool = False  # quarter_open draws by itself (SSJ_AUTO_DRAW=1)
    scheduler: bool = True  # the service runs the scheduled jobs (SSJ_SCHEDULER=0: off)
    digest_at: str = DIGEST_AT  # the 管理员's daily digest (SSJ_DIGEST_AT; "" = off)
    actor: str = field(default_factory=lambda: os.environ.get("USER") or "cli")
    # DingTalk (钉钉, 专有钉钉): see ``dingtalk_from_env``
    dingtalk_app_key: str = ""
    dingtalk_app_secret: str = ""
    dingtalk_robot_code: str = ""
    dingtalk_mode: str = "stream"  # stream | http (callbacks at /dingtalk/events)
    dingtalk_token: str = ""
    dingtalk_aes_key: str = ""
    dingtalk_api_base: str = "https://api.dingtalk.com"
    dingtalk_group: str = ""  # openConversationId of the supervisors' group

    @classmethod
    def from_env(cls, db: str | None = None) -> Settings:
        return cls(
            database_url=db or os.environ.get("SSJ_DATABASE_URL") or DEFAULT_DATABASE_URL,
            bureau_name=_env("SSJ_BUREAU_NAME", cls.bureau_name),
            region=_env("SSJ_REGION", cls.region),
            region_code=_env("SSJ_REGION_CODE", cls.region_code),
            own_department=_env("SSJ_OWN_DEPARTMENT", cls.own_department),
            ratio_key=Fraction(_env("SSJ_RATIO_KEY", "25/100")),
            ratio_general=Fraction(_env("SSJ_RATIO_GENERAL", "10/100")),
            ratio_special=Fraction(_env("SSJ_RATIO_SPECIAL", "50/100")),
            min_team=int(_env("SSJ_MIN_TEAM", "2")),
            risk_factors=parse_risk_factors(os.environ.get("SSJ_RISK_FACTORS")),
            low_credit=parse_low_credit(os.environ.get("SSJ_LOW_CREDIT")),
            bot_name=_env("SSJ_BOT_NAME", cls.bot_name),
            host=_env("SSJ_HOST", cls.host),
            port=int(_env("SSJ_PORT", str(cls.port))),
            web_chat=_env("SSJ_WEB_CHAT", "0") in ("1", "true", "yes", "on"),
            web_chat_login=_env("SSJ_WEB_CHAT_LOGIN", "0") in ("1", "true", "yes", "on"),
            web_chat_invite_hours=_positive("SSJ_WEB_CHAT_INVITE_HOURS", cls.web_chat_invite_hours),
            web_chat_session_days=_positive("SSJ_WEB_CHAT_SESSION_DAYS", cls.web_chat_session_days),
            public_url=checked_public_url(_env("SSJ_PUBLIC_URL", "")),
            dialogue_minutes=int(_env("SSJ_DIALOGUE_MINUTES", "30")),
            wecom_corp_id=_env("SSJ_WECOM_CORP_ID", ""),
            wecom_agent_id=int(_env("SSJ_WECOM_AGENT_ID", "0") or 0),
            wecom_secret=_env("SSJ_WECOM_SECRET", ""),
            wecom_token=_env("SSJ_WECOM_TOKEN", ""),
            wecom_aes_key=_env("SSJ_WECOM_AES_KEY", ""),
            wecom_api_base=_env("SSJ_WECOM_API_BASE", cls.wecom_api_base),
            wecom_bot_token=_env("SSJ_WECOM_BOT_TOKEN", ""),
            wecom_bot_aes_key=_env("SSJ_WECOM_BOT_AES_KEY", ""),
            wecom_group_webhook=_env("SSJ_WECOM_GROUP_WEBHOOK", ""),
            wecom_pace_seconds=float(_env("SSJ_WECOM_PACE_SECONDS", "2.0")),
            wecom_max_age_seconds=int(_env("SSJ_WECOM_MAX_AGE_SECONDS", "3600")),
            publish_endpoint=_env("SSJ_PUBLISH_ENDPOINT", ""),
            publish_token=_env("SSJ_PUBLISH_TOKEN", ""),
            auto_draw=_env("SSJ_AUTO_DRAW", "0") in ("1", "true", "yes", "on"),
            scheduler=_env("SSJ_SCHEDULER", "1") not in ("0", "false", "no", "off"),
            digest_at=parse_digest_at(os.environ.get("SSJ_DIGEST_AT")),
            actor=_env("SSJ_ACTOR", os.environ.get("USER") or "cli"),
            **feishu_env(),
            **dingtalk_from_env(),
        )

    @property
    def public_base(self) -> str:
        """The absolute address public links start with, without a trailing slash:
        SSJ_PUBLIC_URL, or the service's own ``http://{host}:{port}``."""
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address
        return (self.public_url or f"http://{host}:{self.port}").rstrip("/")

    def digest_time(self) -> time | None:
        """When the daily digest goes out (Beijing time); None when it is switched off."""
        return clock_time(self.digest_at)

    def rules(self) -> Rules:
        return Rules(
            ratio_key=self.ratio_key,
            ratio_general=self.ratio_general,
            ratio_special=self.ratio_special,
            min_team=self.min_team,
            own_department=self.own_department,
            risk_factors=self.risk_factors,
            low_credit=self.low_credit,
        )


def checked_public_url(value: str) -> str:
    """SSJ_PUBLIC_URL checked: an http(s) address, optionally with a path prefix (behind a
    reverse proxy), no query or fragment; returned without a trailing slash."""
    value = value.strip()
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError when the port is not a number in range
        ok = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and not parts.query
            and not parts.fragment
            and not any(c.isspace() for c in value)
        )
    except ValueError:
        ok = False
    if not ok:
        from bot.text import t

        raise ValueError(t("publication.bad_public_url", value=value))
    return value.rstrip("/")


LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: an address only this machine reaches."""
    import ipaddress

    name = (host or "").strip().lower().strip("[]").rstrip(".")
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def web_chat_exposed(settings: Settings) -> bool:
    """The web chat would be served, without login, beyond this machine: refused."""
    return settings.web_chat and not settings.web_chat_login and not is_loopback(settings.host)


def wecom_enabled(settings: Settings) -> bool:
    return bool(settings.wecom_corp_id or settings.wecom_bot_token)


def feishu_env() -> dict:
    """The SSJ_FEISHU_* settings as read (checked when Feishu is installed)."""
    return {
        "feishu_app_id": _env("SSJ_FEISHU_APP_ID", "").strip(),
        "feishu_app_secret": _env("SSJ_FEISHU_APP_SECRET", ""),
        "feishu_encrypt_key": _env("SSJ_FEISHU_ENCRYPT_KEY", ""),
        "feishu_verification_token": _env("SSJ_FEISHU_VERIFICATION_TOKEN", ""),
        "feishu_mode": _env("SSJ_FEISHU_MODE", "ws").strip().lower(),
        "feishu_api_base": _env("SSJ_FEISHU_API_BASE", Settings.feishu_api_base).strip(),
        "feishu_group_chat_id": _env("SSJ_FEISHU_GROUP_CHAT_ID", "").strip(),
    }


def feishu_enabled(settings: Settings) -> bool:
    """Any Feishu credential set: Feishu is wired (and refused if incomplete)."""
    return bool(
        settings.feishu_app_id
        or settings.feishu_app_secret
        or settings.feishu_encrypt_key
        or settings.feishu_verification_token
    )


def dingtalk_from_env() -> dict:
    """The SSJ_DINGTALK_* settings (checked when the service starts: messengers.dingtalk)."""
    return {
        name: _env(f"SSJ_{name.upper()}", default).strip()
        for name, default in (
            ("dingtalk_app_key", ""),
            ("dingtalk_app_secret", ""),
            ("dingtalk_robot_code", ""),
            ("dingtalk_mode", "stream"),
            ("dingtalk_token", ""),
            ("dingtalk_aes_key", ""),
            ("dingtalk_api_base", "https://api.dingtalk.com"),
            ("dingtalk_group", ""),
        )
    }


def dingtalk_enabled(settings: Settings) -> bool:
    return bool(settings.dingtalk_app_key)


def messengers_configured(settings: Settings) -> tuple[str, ...]:
    """The workplace messengers whose settings are present (at most one may be): while one
    is, the web chat is not the sender and takes no input unless people log in."""
    found = (
        ("wecom", wecom_enabled(settings)),
        ("dingtalk", dingtalk_enabled(settings)),
        ("feishu", feishu_enabled(settings)),
    )
    return tuple(name for name, on in found if on)

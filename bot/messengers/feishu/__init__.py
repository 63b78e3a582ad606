"""Feishu / Lark (飞书): long connection (lark-oapi) or HTTP event callbacks in, the open
platform's ``im/v1/messages`` out. Translates between bot.messages and Feishu only."""

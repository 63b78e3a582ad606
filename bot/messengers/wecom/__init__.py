"""WeCom (企业微信, and 政务微信 on its own host): callbacks in, messages and card updates out."""

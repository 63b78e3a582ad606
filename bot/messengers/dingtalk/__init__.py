"""DingTalk (钉钉, 专有钉钉): Stream mode, HTTP callbacks, robot and card sending."""

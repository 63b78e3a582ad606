"""The messengers: each translates between bot.messages and one network, nothing more."""

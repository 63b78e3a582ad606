"""Public pages (社会公众, no login)."""

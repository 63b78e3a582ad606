"""Spreadsheets in and out: library import files, exports."""
